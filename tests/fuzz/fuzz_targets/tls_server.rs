//! A server `TlsSession` fed what a client might send: raw bytes, or a real client's flights
//! mutated, in pieces of any size.
#![no_main]

#[path = "tls_common.rs"]
mod tls_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| tls_common::run(data, true));
