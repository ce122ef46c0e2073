//! The async examples (on `rsuv::rt`), run as programs and driven with plain `std::net`
//! sockets: `async_echo`, `async_chat` and `async_port_forwarder` must behave as their callback
//! versions do, so they run the same scenarios (`support/examples.rs`, which also says how the
//! examples are run: `cargo build --examples` first; `RSUV_EXAMPLE_RUNNER` for valgrind).

#[path = "support/examples.rs"]
mod harness;

use harness::*;

#[test]
fn a_bad_command_line_prints_usage_and_exits_2() {
    assert_usage("async_echo", &[]);
    assert_usage("async_echo", &["127.0.0.1"]);
    assert_usage("async_chat", &["127.0.0.1:0", "extra"]);
    assert_usage("async_port_forwarder", &["127.0.0.1:0"]);
    assert_usage("async_port_forwarder", &["127.0.0.1:0", "nowhere:80"]);
}

#[test]
fn sigint_or_sigterm_right_after_the_listening_line_exits_0() {
    stops_at_once_on_sigint_and_sigterm("async_echo", &["127.0.0.1:0"]);
    stops_at_once_on_sigint_and_sigterm("async_chat", &["127.0.0.1:0"]);
    stops_at_once_on_sigint_and_sigterm("async_port_forwarder", &["127.0.0.1:0", "127.0.0.1:9"]);
}

// ---- async_echo ----

#[test]
fn async_echo_echoes_20_concurrent_clients() {
    echo_serves_20_concurrent_clients("async_echo");
}

#[test]
fn async_echo_half_close_lets_the_rest_flow_back() {
    let server = Example::start("async_echo", &["127.0.0.1:0"]);
    half_close_lets_the_rest_flow_back(server.addr);
    server.stop();
}

#[test]
fn async_echo_survives_resets_and_throttles_a_client_that_does_not_read() {
    echo_survives_resets_and_throttles_a_client_that_does_not_read("async_echo");
}

#[test]
fn async_echo_stops_with_connections_open() {
    stops_with_connections_open(Example::start("async_echo", &["127.0.0.1:0"]));
}

// ---- async_chat ----

#[test]
fn async_chat_relays_whole_lines_to_the_others() {
    chat_relays_whole_lines_to_the_others("async_chat");
}

#[test]
fn async_chat_drops_participants_that_reset_or_send_overlong_lines() {
    chat_drops_participants_that_reset_or_send_overlong_lines("async_chat");
}

#[test]
fn async_chat_drops_a_participant_that_does_not_read() {
    chat_drops_a_participant_that_does_not_read("async_chat");
}

// ---- async_port_forwarder ----

#[test]
fn async_port_forwarder_copies_4_mib_each_way_for_5_concurrent_clients() {
    forwarder_copies_4_mib_each_way_for_5_concurrent_clients("async_port_forwarder", "async_echo");
}

#[test]
fn async_port_forwarder_half_close_lets_the_rest_flow_back() {
    forwarder_half_close_lets_the_rest_flow_back("async_port_forwarder", "async_echo");
}

#[test]
fn async_port_forwarder_applies_backpressure_both_ways() {
    forwarder_applies_backpressure_both_ways("async_port_forwarder");
}

#[test]
fn async_port_forwarder_closes_the_client_when_upstream_refuses_and_keeps_serving() {
    forwarder_closes_the_client_when_upstream_refuses_and_keeps_serving("async_port_forwarder");
}

#[test]
fn async_port_forwarder_stops_with_connections_open() {
    let upstream = Example::start("async_echo", &["127.0.0.1:0"]);
    let up = upstream.addr.to_string();
    stops_with_connections_open(Example::start(
        "async_port_forwarder",
        &["127.0.0.1:0", &up],
    ));
    upstream.stop();
}
