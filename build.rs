//! Build checks for rsuv.
//!
//! libuv itself is compiled by `libuv-sys2`'s build script, which runs before this one (it
//! declares `links = "uv"`, and its `DEP_UV_*` metadata is passed here). This script checks that
//! the bundled source was used: with `skip-pkg-config` libuv-sys2 never asks pkg-config, and its
//! include path is then the relative `libuv/include` of its bundled tree. A system libuv would
//! show up as an absolute include path, and fail the build with a clear message.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_UV_INCLUDE");
    let include = std::env::var("DEP_UV_INCLUDE").unwrap_or_default();
    if include != "libuv/include" {
        panic!(
            "rsuv must link the libuv source bundled in libuv-sys2, but libuv-sys2 reported the \
             include path {include:?}: enable its `skip-pkg-config` feature in Cargo.toml"
        );
    }
}
