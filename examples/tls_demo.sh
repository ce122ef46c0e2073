#!/usr/bin/env bash
# The TLS part of `make demo`: makes a throwaway PKI in target/demo-certs, starts
# tls_echo_server on a free port, sends two lines through tls_echo_client (which prints the
# negotiated version, cipher and ALPN on stderr, the echo on stdout), then stops the server
# with SIGTERM and checks that it exited 0. Prints `tls echo ok` at the end when all went well.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
certs=target/demo-certs
cargo build --quiet --examples
bin=$target/debug/examples

"$bin/make_certs" "$certs"
out=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

"$bin/tls_echo_server" 127.0.0.1:0 "$certs/server.pem" "$certs/server.key" >"$out/server.out" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's/^listening on //p' "$out/server.out")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "tls_echo_server did not start:" >&2; cat "$out/server.out" >&2; exit 1; }
echo "tls_echo_server listening on $addr"

input=$'hello over TLS\nsecond line\n'
echo "tls_echo_client $addr $certs/ca.pem <<< two lines:"
printf '%s' "$input" | timeout 30 "$bin/tls_echo_client" "$addr" "$certs/ca.pem" >"$out/echo" 2>"$out/client.err" ||
  { cat "$out/client.err" >&2; exit 1; }
sed 's/^/  client: /' "$out/client.err"
sed 's/^/  echoed: /' "$out/echo"
[ "$(cat "$out/echo")" == "${input%$'\n'}" ] || { echo "the echo differs from the input" >&2; exit 1; }

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || { echo "tls_echo_server exited $status" >&2; cat "$out/server.out" >&2; exit 1; }
echo "tls_echo_server stopped (exit 0)"
echo "tls echo ok"
