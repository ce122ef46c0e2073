# rsuv: the two commands are `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)
export CARGO_TERM_COLOR ?= never

HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')
# --child-silent-after-fork: a child forked by uv_spawn whose exec fails exits under valgrind,
# which would report the parent's other threads' memory as lost in that child.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --child-silent-after-fork=yes \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite

.PHONY: setup demo test lint unit leakcheck examples

setup:
	@.ci/setup

# The loop demo, then the TLS echo pair (certificates made at run time in target/demo-certs).
demo: setup
	cargo run --quiet --example demo
	examples/tls_demo.sh

## Every check: format, clippy, unit + integration + doc tests, the suite under valgrind, the demo.
test: setup lint unit leakcheck examples

lint:
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings

unit:
	cargo build --quiet --examples
	cargo test --quiet

# The test binaries, and the example programs the example tests start, under valgrind.
leakcheck:
	CARGO_TARGET_$(HOST)_RUNNER="$(VALGRIND)" RSUV_EXAMPLE_RUNNER="$(VALGRIND)" \
		cargo test --quiet --tests

examples:
	mkdir -p target
	cargo run --quiet --example demo | tee target/demo.out
	grep -q '^loop closed cleanly$$' target/demo.out
	examples/tls_demo.sh | tee target/tls-demo.out
	grep -q '^  echoed: hello over TLS$$' target/tls-demo.out
	grep -q '^tls echo ok$$' target/tls-demo.out

## libuv's own C benchmarks against the same workloads on rsuv, medians and ratios; see
## benches/README.md (BENCH_REPEATS, BENCH_ONLY, BENCH_CPU adjust it).
.PHONY: bench
bench: setup
	python3 benches/run.py
