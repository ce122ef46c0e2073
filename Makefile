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

VENV := .venv
PY := $(VENV)/bin/python
# The CPython test_asyncio modules run against rsuv by `make test`: on 3.11 the same 24 modules
# as `make conformance` (which runs whatever the runner finds on the Python at hand).
CONFORMANCE_CORE := test_base_events,test_context,test_futures,test_futures2,test_locks,test_pep492,test_queues,test_runners,test_taskgroups,test_tasks,test_threads,test_timeouts,test_waitfor,test_eager_task_factory,test_sock_lowlevel,test_server,test_buffered_proto,test_protocols,test_transports,test_ssl,test_sslproto,test_events,test_streams,test_sendfile,test_subprocess
CONFORMANCE := ../shared/conformance/run_cpython_asyncio_tests.py

.PHONY: setup demo test lint unit leakcheck sanitize fuzz fuzz-smoke examples embed python \
	pytest conformance-core conformance test-pythons pyuv-suite

setup:
	@.ci/setup

# The loop demo, the TLS echo pair (certificates made at run time in target/demo-certs), then
# an asyncio program on rsuv, then a tour of the Python examples (examples/python/tour.py).
demo: setup python
	cargo run --quiet --example demo
	examples/tls_demo.sh
	$(PY) examples/python/demo.py
	$(PY) examples/python/tour.py

## Every check: format, clippy, unit + integration + doc tests, the suite under valgrind, the
## demos, the Python suite on stdlib asyncio and rsuv (pyuv-compat's tests with it), CPython's
## loop-core tests on rsuv, pyuv 1.4's own suite on pyuv-compat.
test: setup lint unit leakcheck sanitize fuzz-smoke examples embed python pytest conformance-core \
	pyuv-suite

lint:
	cargo fmt --check
	cargo fmt --check --manifest-path tests/fuzz/Cargo.toml
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy --all-targets --features python --quiet -- -D warnings

# Rust embedding Python on one loop (feature python): the test binary and the example link
# libpython, found at run time in the interpreter's LIBDIR.
PYLIBDIR := $(shell python3 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))' 2>/dev/null)
embed:
	mkdir -p target
	LD_LIBRARY_PATH=$(PYLIBDIR) cargo test --quiet --features python --test python_embed
	LD_LIBRARY_PATH=$(PYLIBDIR) cargo run --quiet --features python --example python_embed \
		| tee target/embed.out
	grep -q '^one loop for rust and python: ok$$' target/embed.out

# The extension, built (release) and installed into .venv (editable: python/rsuv is used in
# place), and pyuv-compat (the `pyuv` module, editable too).
python: setup
	@log=$$(mktemp); if ! $(VENV)/bin/maturin develop --release --quiet >$$log 2>&1; then \
		cat $$log; exit 1; fi; rm -f $$log
	$(VENV)/bin/pip install -q -e ./pyuv-compat --no-deps

pytest: python
	$(PY) -m pytest tests/python -q -p no:cacheprovider

# Every test of those modules must pass or be a skip listed (with its reason) in the README.
conformance-core: python
	mkdir -p target/conformance
	$(PY) $(CONFORMANCE) --policy rsuv:EventLoopPolicy --modules $(CONFORMANCE_CORE) \
		--json target/conformance/core.json > target/conformance/core.out 2>&1 || true
	$(PY) tests/python/conformance_check.py target/conformance/core.json \
		tests/python/conformance_expected.txt

conformance: python
	mkdir -p target/conformance
	$(PY) $(CONFORMANCE) --policy rsuv:EventLoopPolicy --json target/conformance/all.json \
		--show-failures 50 | tee target/conformance/all.out

# pyuv 1.4's own test suite (its PyPI sdist, sha256-pinned) against pyuv-compat.
pyuv-suite: python
	$(PY) tests/pyuv_suite/run.py

# The Python suite on every CPython 3.9-3.13 found (pyenv), each in its own venv.
test-pythons: setup
	tests/python/each_python.sh

unit:
	cargo build --quiet --examples
	cargo test --quiet

# The test binaries, and the example programs the example tests start, under valgrind.
leakcheck:
	CARGO_TARGET_$(HOST)_RUNNER="$(VALGRIND)" RSUV_EXAMPLE_RUNNER="$(VALGRIND)" \
		cargo test --quiet --tests

# AddressSanitizer and LeakSanitizer (-Zsanitizer=address, leak detection on) over the Rust
# suite and the example programs it starts, in target/asan. The machine has only the stable
# toolchain: RUSTC_BOOTSTRAP=1 lets its rustc take the -Z flag, and its rust-std ships the
# sanitizer runtime (compiler-rt of rustc's own LLVM). libuv's C code is not instrumented; its
# allocations are still checked (double and invalid frees, leaks) through the interceptors.
# First a canary that must fail (a leaked handle), so that a silent sanitizer fails the target.
ASAN_TARGET := x86_64-unknown-linux-gnu
ASAN_ENV := RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=report_objects=0
ASAN_CARGO := cargo --quiet
ASAN_ARGS := --target $(ASAN_TARGET) --target-dir target/asan
sanitize:
	$(ASAN_ENV) $(ASAN_CARGO) build $(ASAN_ARGS) --examples
	$(ASAN_ENV) $(ASAN_CARGO) test $(ASAN_ARGS) --tests --no-run
	@if $(ASAN_ENV) RSUV_SANITIZE_CANARY=leak $(ASAN_CARGO) test $(ASAN_ARGS) \
		--test sanitize_canary >target/asan/canary.out 2>&1; then \
		echo "sanitize: the leak canary passed: LeakSanitizer is not working"; exit 1; fi
	@grep -q 'ERROR: LeakSanitizer: detected memory leaks' target/asan/canary.out || \
		{ cat target/asan/canary.out; echo "sanitize: the canary failed, but not by LSan"; exit 1; }
	$(ASAN_ENV) $(ASAN_CARGO) test $(ASAN_ARGS) --tests

# Coverage-guided fuzzing (cargo fuzz, libFuzzer, with ASan) of tests/fuzz/fuzz_targets: each
# target FUZZ_SECONDS (default 60) over its committed seeds (tests/fuzz/corpus/T, read only)
# and what earlier runs found (target/fuzz/corpus/T). A crash stops the run and leaves its
# input in target/fuzz/artifacts/T; once fixed, commit that input to tests/fuzz/corpus/T, where
# `make test` (fuzz-smoke: each target a few seconds, every seed replayed first) keeps it found.
FUZZ_TARGETS := tls_server tls_client stream_read
FUZZ_SECONDS ?= 60
FUZZ := RUSTC_BOOTSTRAP=1 cargo fuzz
FUZZ_ARGS := --fuzz-dir tests/fuzz --target-dir target/fuzz -O
fuzz: setup
	$(FUZZ) build $(FUZZ_ARGS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz/corpus/$$t target/fuzz/artifacts/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ) run $(FUZZ_ARGS) $$t target/fuzz/corpus/$$t tests/fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=target/fuzz/artifacts/$$t/ \
			-print_final_stats=1 2>target/fuzz/$$t.log || { tail -40 target/fuzz/$$t.log; exit 1; }; \
		grep -E '^Done|stat::number_of_executed_units|cov:' target/fuzz/$$t.log | tail -2; \
	done

fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=4

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
bench: setup python
	python3 benches/run.py
	$(PY) benches/loop_bench.py
	$(PY) benches/py_echo_bench.py
	$(PY) benches/py_tls_bench.py
	$(PY) benches/py_proc_bench.py
	$(PY) benches/py_http_bench.py
	$(PY) benches/pyuv_queue_bench.py
	$(PY) benches/pyuv_echo_bench.py
