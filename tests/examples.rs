//! The network examples written with callbacks, run as programs and driven with plain
//! `std::net` sockets: the TCP echo server, the UDP echo server, the chat server and the port
//! forwarder. The harness and the scenarios shared with their async versions
//! (`tests/examples_async.rs`) are in `support/examples.rs`, which says how the examples are
//! run (`cargo build --examples` first; `RSUV_EXAMPLE_RUNNER` for valgrind).

#[path = "support/examples.rs"]
mod harness;

use harness::*;
use std::net::UdpSocket;

#[test]
fn a_bad_command_line_prints_usage_and_exits_2() {
    assert_usage("tcp_echo_server", &[]);
    assert_usage("udp_echo", &["not-an-address"]);
    assert_usage("chat_server", &["127.0.0.1:0", "extra"]);
    assert_usage("port_forwarder", &["127.0.0.1:0"]);
    assert_usage("port_forwarder", &["127.0.0.1:0", "nowhere:80"]);
}

#[test]
fn sigint_or_sigterm_right_after_the_listening_line_exits_0() {
    stops_at_once_on_sigint_and_sigterm("tcp_echo_server", &["127.0.0.1:0"]);
    stops_at_once_on_sigint_and_sigterm("udp_echo", &["127.0.0.1:0"]);
    stops_at_once_on_sigint_and_sigterm("chat_server", &["127.0.0.1:0"]);
    stops_at_once_on_sigint_and_sigterm("port_forwarder", &["127.0.0.1:0", "127.0.0.1:9"]);
}

// ---- tcp_echo_server ----

#[test]
fn tcp_echo_server_echoes_20_concurrent_clients() {
    echo_serves_20_concurrent_clients("tcp_echo_server");
}

#[test]
fn tcp_echo_server_survives_resets_and_throttles_a_client_that_does_not_read() {
    echo_survives_resets_and_throttles_a_client_that_does_not_read("tcp_echo_server");
}

#[test]
fn tcp_echo_server_half_close_lets_the_rest_flow_back() {
    let server = Example::start("tcp_echo_server", &["127.0.0.1:0"]);
    half_close_lets_the_rest_flow_back(server.addr);
    server.stop();
}

#[test]
fn tcp_echo_server_stops_with_connections_open() {
    stops_with_connections_open(Example::start("tcp_echo_server", &["127.0.0.1:0"]));
}

// ---- udp_echo ----

#[test]
fn udp_echo_returns_50_datagrams_to_their_senders() {
    let server = Example::start("udp_echo", &["127.0.0.1:0"]);
    let clients: Vec<UdpSocket> = (0..2)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            s
        })
        .collect();
    let mut buf = vec![0u8; 65_536];
    for i in 0..50 {
        // Sizes from 0 (an empty datagram) to 63,700 bytes, alternating between two senders.
        let client = &clients[i % 2];
        let data = pattern(i as u64, i * 1300);
        client.send_to(&data, server.addr).unwrap();
        let (n, from) = retry(|| client.recv_from(&mut buf)).unwrap();
        assert_eq!(from, server.addr, "datagram {i}");
        assert_same(&buf[..n], &data, &format!("datagram {i}"));
    }
    server.stop();
}

// ---- chat_server ----

#[test]
fn chat_server_relays_whole_lines_to_the_others() {
    chat_relays_whole_lines_to_the_others("chat_server");
}

#[test]
fn chat_server_drops_participants_that_reset_or_send_overlong_lines() {
    chat_drops_participants_that_reset_or_send_overlong_lines("chat_server");
}

#[test]
fn chat_server_drops_a_participant_that_does_not_read() {
    chat_drops_a_participant_that_does_not_read("chat_server");
}

// ---- port_forwarder ----

#[test]
fn port_forwarder_copies_4_mib_each_way_for_5_concurrent_clients() {
    forwarder_copies_4_mib_each_way_for_5_concurrent_clients("port_forwarder", "tcp_echo_server");
}

#[test]
fn port_forwarder_half_close_lets_the_rest_flow_back() {
    forwarder_half_close_lets_the_rest_flow_back("port_forwarder", "tcp_echo_server");
}

#[test]
fn port_forwarder_applies_backpressure_both_ways() {
    forwarder_applies_backpressure_both_ways("port_forwarder");
}

#[test]
fn port_forwarder_closes_the_client_when_upstream_refuses_and_keeps_serving() {
    forwarder_closes_the_client_when_upstream_refuses_and_keeps_serving("port_forwarder");
}

#[test]
fn port_forwarder_stops_with_connections_open() {
    let upstream = Example::start("tcp_echo_server", &["127.0.0.1:0"]);
    let up = upstream.addr.to_string();
    stops_with_connections_open(Example::start("port_forwarder", &["127.0.0.1:0", &up]));
    upstream.stop();
}
