#!/usr/bin/env python3
"""`make bench`: libuv's own C benchmarks against the same workloads on rsuv, in one run.

Builds libuv's benchmark runner (uv_run_benchmarks_a) from the libuv source bundled in
libuv-sys2 with CMake (out of tree, into target/libuv-bench) and the rsuv benchmarks
(benches/rsuv-bench, into target/rsuv-bench), then runs every workload for C and rsuv in
turn, pinned with taskset, several times, and prints the medians and their ratio. The table
also goes to target/bench/results.md, and every single result to target/bench/raw.json.

Then the echo comparison (issue 4): libuv's C echo server, an rsuv callback-API server, an
rsuv::rt (async) server and a tokio current-thread server, each pinned to one CPU, under one
load client pinned to the other (rsuv-bench echo_client); throughput and server CPU per request.

Standard library only. See benches/README.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import tls_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target")
OUT = os.path.join(TARGET, "bench")
C_BUILD = os.path.join(TARGET, "libuv-bench")
C_RUNNER = os.path.join(C_BUILD, "uv_run_benchmarks_a")
RS_MANIFEST = os.path.join(ROOT, "benches", "rsuv-bench", "Cargo.toml")
RS_TARGET = os.path.join(TARGET, "rsuv-bench")
RS_BENCH = os.path.join(RS_TARGET, "release", "rsuv-bench")
TIMEOUT = 180  # seconds, for any single process


class Workload:
    def __init__(self, key, label, helper, pattern, unit, higher, note, max_repeats=None):
        self.key = key  # the benchmark's name, in libuv's runner and in rsuv-bench alike
        self.label = label
        self.helper = helper  # server process the benchmark talks to, if any
        self.pattern = re.compile(pattern)
        self.unit = unit
        self.higher = higher  # higher is better
        self.note = note
        self.max_repeats = max_repeats  # cap for long workloads


WORKLOADS = [
    Workload("ping_pongs", "TCP ping-pong", "tcp4_echo_server",
             r"ping_pongs: (\d+) roundtrips/s", "round trips/s", True,
             "benchmark-ping-pongs.c: 1 connection, 5-byte PING echoed, 5 s; server: echo-server.c"),
    Workload("tcp_pump1_client", "TCP pump (throughput)", "tcp_pump_server",
             r"tcp_pump1_client: ([\d.]+) gbit/s", "Gbit/s", True,
             "benchmark-pump.c: 1 connection, 8 KiB writes back to back, 5 s"),
    Workload("tcp_pump100_client", "TCP pump, 100 connections", "tcp_pump_server",
             r"tcp_pump100_client: ([\d.]+) gbit/s", "Gbit/s", True,
             "benchmark-pump.c: 100 connections, 8 KiB writes, 5 s"),
    Workload("tcp_write_batch", "TCP write batch", "tcp4_blackhole_server",
             r"write requests in ([\d.]+)s", "s", False,
             "benchmark-tcp-write-batch.c: 1M uv_write of 13 B queued at once, then shutdown"),
    Workload("ping_udp1", "UDP ping-pong", None,
             r"~ (\d+) roundtrips/s", "round trips/s", True,
             "benchmark-ping-udp.c: 1 socket sending 5 B to itself with try_send, 5 s"),
    Workload("million_timers", "10M timers", None,
             r"([\d.]+) seconds total", "s", False,
             "benchmark-million-timers.c: 10M one-shot timers (1..10000 ms): init, run, close",
             max_repeats=3),
    Workload("million_async", "1M async handles", None,
             r"\(([\d,]+)/s, ", "callbacks/s", True,
             "benchmark-million-async.c: 1M handles, 1 thread sends to random ones, 5 s"),
    Workload("async1", "async ping-pong", None,
             r"async1: [\d.]+ sec \(([\d,]+)/sec\)", "round trips/s", True,
             "benchmark-async.c (async1): 2 loops wake each other 1M times"),
    Workload("queue_work", "queue_work", None,
             r"async jobs in [\d.]+ seconds \(([\d,]+)/s\)", "jobs/s", True,
             "benchmark-queue-work.c: one job at a time on the threadpool, 5 s"),
    Workload("loop_count", "loop iterations", None,
             r"loop_count: \d+ ticks in [\d.]+s \((\d+)/s\)", "iterations/s", True,
             "benchmark-loop-count.c: 2M iterations driven by an idle handle"),
]
DEFAULT_WORKLOADS = [w.key for w in WORKLOADS if w.key != "tcp_pump100_client"]

SYNC_TESTS = [
    # test, label, needs both cores
    ("mutex_uncontended", "Mutex lock+unlock, uncontended", False),
    ("mutex_contended", "Mutex, 2 threads incrementing", True),
    ("rwlock_read_uncontended", "RwLock read+unlock, uncontended", False),
    ("condvar_pingpong", "Condvar ping-pong, 2 threads (round trip)", True),
    ("sem_uncontended", "Semaphore post+wait, uncontended", False),
    ("sem_pingpong", "Semaphore ping-pong, 2 threads (round trip)", True),
]
SYNC_RE = re.compile(r"sync \S+ \S+: ([\d.]+) ns/op")

# The echo comparison (issue 4): five echo servers under one load client (`rsuv-bench
# echo_client`), server and client pinned to different CPUs. See benches/README.md.
ECHO_SERVERS = [
    # key, column header
    ("C", "C echo (libuv)"),
    ("callback", "rsuv callback"),
    ("async", "rsuv async (read)"),
    ("async-buf", "rsuv async (AsyncBufRead)"),
    ("tokio", "tokio (current-thread)"),
]
ECHO_WORKLOADS = [
    # rsuv-bench echo_client workload, label, seconds timed, bulk (MB/s instead of round trips/s)
    ("pingpong_1k", "1 KiB ping-pong, 1 connection", 5.0, False),
    ("pingpong_1k_c50", "1 KiB ping-pong, 50 connections", 3.0, False),
    ("pingpong_100k", "100 KiB ping-pong, 1 connection", 3.0, False),
    ("bulk_64k", "bulk echo, 1 connection (64 KiB writes)", 3.0, True),
]
ECHO_RESULT_RE = re.compile(r"^echo_result (.*)$", re.M)
NODELAY_SRC = os.path.join(ROOT, "benches", "nodelay.c")
NODELAY_SO = os.path.join(OUT, "nodelay.so")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def quiet(cmd, logfile, **kw):
    """Runs `cmd` with its output in `logfile`; shows the log if it fails."""
    with open(logfile, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        sys.stderr.write(open(logfile).read())
        sys.exit(f"bench: `{' '.join(cmd)}` failed (log: {logfile})")


# ---- setup and builds ----

def ensure_tools():
    missing = [pkg for tool, pkg in (("cmake", "cmake"), ("taskset", "util-linux"),
                                     ("make", "make"), ("cc", "gcc"))
               if shutil.which(tool) is None]
    if missing:
        log(f"bench: installing {' '.join(missing)} (apt)")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        logfile = os.path.join(OUT, "apt.log")
        quiet(sudo + ["apt-get", "update", "-qq"], logfile, env=env)
        quiet(sudo + ["apt-get", "install", "-y", "-qq"] + missing, logfile, env=env)


def libuv_source():
    """The libuv source bundled in the libuv-sys2 that rsuv builds with."""
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--manifest-path",
         os.path.join(ROOT, "Cargo.toml")],
        check=True, capture_output=True, text=True).stdout)
    for pkg in meta["packages"]:
        if pkg["name"] == "libuv-sys2":
            return os.path.join(os.path.dirname(pkg["manifest_path"]), "libuv")
    sys.exit("bench: libuv-sys2 not found in `cargo metadata`")


def build_c(src):
    """libuv's benchmark runner, CMake Release, out of tree. In libuv 1.53 the runner is
    part of the test build (LIBUV_BUILD_BENCH depends on LIBUV_BUILD_TESTS), so tests are
    configured on, but only the benchmark target is built."""
    log(f"bench: building libuv's C benchmarks from {src} into {C_BUILD}")
    cache = os.path.join(C_BUILD, "CMakeCache.txt")
    if os.path.exists(cache) and f"CMAKE_HOME_DIRECTORY:INTERNAL={src}\n" not in open(cache).read():
        shutil.rmtree(C_BUILD)
    logfile = os.path.join(OUT, "cmake.log")
    quiet(["cmake", "-S", src, "-B", C_BUILD, "-DCMAKE_BUILD_TYPE=Release",
           "-DBUILD_TESTING=ON", "-DLIBUV_BUILD_TESTS=ON", "-DLIBUV_BUILD_BENCH=ON"], logfile)
    quiet(["cmake", "--build", C_BUILD, "--target", "uv_run_benchmarks_a",
           "-j", str(os.cpu_count() or 1)], logfile)


def build_rsuv():
    log(f"bench: building benches/rsuv-bench (release) into {RS_TARGET}")
    quiet(["cargo", "build", "--release", "--manifest-path", RS_MANIFEST,
           "--target-dir", RS_TARGET], os.path.join(OUT, "cargo.log"))


def build_nodelay():
    """The LD_PRELOAD shim that gives libuv's C echo server TCP_NODELAY (benches/nodelay.c)."""
    quiet(["cc", "-O2", "-Wall", "-shared", "-fPIC", "-o", NODELAY_SO, NODELAY_SRC],
          os.path.join(OUT, "nodelay.log"))


# ---- running ----

class Helper:
    """A benchmark's server process, started and awaited the way libuv's runner does it."""

    def __init__(self, cmd, c_protocol, logf, env=None):
        if c_protocol:
            # runner-unix.c: the helper closes the fd in UV_TEST_RUNNER_FD once it listens.
            r, w = os.pipe()
            env = dict(env or os.environ, UV_TEST_RUNNER_FD=str(w))
            self.proc = subprocess.Popen(cmd, env=env, pass_fds=(w,), stdout=logf,
                                         stderr=subprocess.STDOUT)
            os.close(w)
            while os.read(r, 1):
                pass
            os.close(r)
        else:
            # rsuv-bench: the helper prints `ready` once it listens.
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, env=env)
            line = self.proc.stdout.readline()
            if line != b"ready\n":
                sys.exit(f"bench: helper {cmd} did not start ({line!r})")
        if self.proc.poll() is not None:
            sys.exit(f"bench: helper {cmd} exited early")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_one(side, w, cpu, logf):
    """Runs workload `w` on `side` ("C" or "rsuv"), pinned to `cpu`; returns its number."""
    pin = ["taskset", "-c", cpu]
    if side == "C":
        main = pin + [C_RUNNER, w.key, w.key]
        helper = pin + [C_RUNNER, w.key, w.helper] if w.helper else None
    else:
        main = pin + [RS_BENCH, w.key]
        helper = pin + [RS_BENCH, "helper", w.helper] if w.helper else None
    h = Helper(helper, side == "C", logf) if helper else None
    try:
        r = subprocess.run(main, capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        if h:
            h.stop()
    out = r.stdout + r.stderr
    logf.write(f"--- {side} {w.key} (exit {r.returncode})\n{out}")
    logf.flush()
    m = w.pattern.search(out)
    if r.returncode != 0 or not m:
        sys.exit(f"bench: {side} {w.key} failed (exit {r.returncode}):\n{out}")
    return float(m.group(1).replace(",", ""))


def run_sync(test, imp, cpus, logf):
    r = subprocess.run(["taskset", "-c", cpus, RS_BENCH, "sync", test, imp],
                       capture_output=True, text=True, timeout=TIMEOUT)
    logf.write(f"--- sync {test} {imp} (exit {r.returncode})\n{r.stdout}{r.stderr}")
    m = SYNC_RE.search(r.stdout)
    if r.returncode != 0 or not m:
        sys.exit(f"bench: sync {test} {imp} failed:\n{r.stdout}{r.stderr}")
    return float(m.group(1))


# ---- the echo comparison ----

def run_echo(server, workload, secs, cpus, logf):
    """One echo run: `server` ("C", "callback", "async", "tokio") pinned to cpus[0], the load
    client pinned to cpus[1]; returns the client's `echo_result` fields (ints and floats)."""
    srv_pin, cli_pin = ["taskset", "-c", cpus[0]], ["taskset", "-c", cpus[1]]
    if server == "C":
        # echo-server.c's tcp4_echo_server, started as libuv's runner starts helpers; Nagle
        # off through the shim, as the other servers set it themselves.
        env = dict(os.environ, LD_PRELOAD=NODELAY_SO)
        h = Helper(srv_pin + [C_RUNNER, "ping_pongs", "tcp4_echo_server"], True, logf, env)
    else:
        h = Helper(srv_pin + [RS_BENCH, "echo_server", server], False, logf)
    try:
        # taskset execs the server, so this is the server's own pid.
        cmd = cli_pin + [RS_BENCH, "echo_client", workload, "--secs", str(secs),
                         "--server-pid", str(h.proc.pid)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        h.stop()
    out = r.stdout + r.stderr
    logf.write(f"--- echo {server} {workload} (exit {r.returncode})\n{out}")
    logf.flush()
    m = ECHO_RESULT_RE.search(r.stdout)
    if r.returncode != 0 or not m:
        sys.exit(f"bench: echo {server} {workload} failed (exit {r.returncode}):\n{out}")
    res = {}
    for kv in m.group(1).split():
        k, v = kv.split("=", 1)
        if k == "name":
            res[k] = v
        elif k.startswith("cpu"):  # per-CPU ticks: tasks, irq+softirq, idle, steal
            res[k] = [int(x) for x in v.split(":")]
        elif v == "none":  # latency percentiles of a bulk run
            res[k] = None
        else:
            res[k] = float(v) if "." in v else int(v)
    if res["total_sent"] != res["total_recv"] or res["server_threads"] != 1:
        sys.exit(f"bench: echo {server} {workload}: unequal bytes or a threaded server: {res}")
    return res


def echo_metrics(res, bulk, cpus):
    """Throughput, server CPU µs per round trip (per MB for bulk), the CPU shares of server and
    client, and what else ran on their CPUs meanwhile (other tasks; idle)."""
    tck, el = os.sysconf("SC_CLK_TCK"), res["elapsed"]
    server_s, client_s = res["server_ticks"] / tck, res["client_ticks"] / tck
    work = res["recv"] / 1e6 if bulk else res["rts"]  # MB echoed, or round trips
    met = {"rate": work / el, "cpu_us": server_s * 1e6 / work,
           "server_util": server_s / el, "client_util": client_s / el}
    for side, cpu, own in (("server", cpus[0], res["server_ticks"]),
                           ("client", cpus[1], res["client_ticks"])):
        t = res.get(f"cpu{cpu}")
        if t:  # a single CPU number: its busy ticks (tasks + interrupts) not ours, and idle
            met[f"{side}_cpu_other"] = max(0, t[0] + t[1] - own) / tck / el
            met[f"{side}_cpu_idle"] = t[2] / tck / el
    return met


def echo_section(args, logf):
    """Runs every echo workload on every server, `args.echo_repeats` times, rotating which
    server goes first; returns {workload: {server: [metrics...]}}."""
    cpus = (args.echo_server_cpu, args.echo_client_cpu)
    servers = [k for k, _ in ECHO_SERVERS]
    log(f"bench: echo servers x {len(ECHO_WORKLOADS)} workloads x {args.echo_repeats} repeats; "
        f"server on CPU {cpus[0]}, client on CPU {cpus[1]}")
    results = {w: {k: [] for k in servers} for w, _, _, _ in ECHO_WORKLOADS}
    for rep in range(args.echo_repeats):
        for key, _, secs, bulk in ECHO_WORKLOADS:
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for server in order:
                res = run_echo(server, key, args.echo_secs or secs, cpus, logf)
                met = dict(echo_metrics(res, bulk, cpus), raw=res)
                results[key][server].append(met)
                unit = "MB/s" if bulk else "rt/s"
                log(f"  [{rep + 1}/{args.echo_repeats}] {key:<16} {server:<8} "
                    f"{met['rate']:>10,.0f} {unit}  server {met['cpu_us']:7.2f} us/"
                    f"{'MB' if bulk else 'rt'} ({met['server_util']:.0%} CPU), "
                    f"client {met['client_util']:.0%} CPU; other work on the server's CPU "
                    f"{met.get('server_cpu_other', 0):.0%}, idle {met.get('server_cpu_idle', 0):.0%}"
                    f"; on the client's {met.get('client_cpu_other', 0):.0%}, "
                    f"idle {met.get('client_cpu_idle', 0):.0%}")
    return results


def echo_rows(results):
    """Table rows: per workload, a throughput row and a server-CPU row, medians, with the
    ratios of rsuv async to tokio and to the callback server (> 1: rsuv async better)."""
    med = lambda w, k, m: statistics.median(x[m] for x in results[w][k])
    rows = []
    for key, label, _, bulk in ECHO_WORKLOADS:
        if key not in results:
            continue
        rate = {k: med(key, k, "rate") for k, _ in ECHO_SERVERS}
        cpu = {k: med(key, k, "cpu_us") for k, _ in ECHO_SERVERS}
        at, ac = rate["async"] / rate["tokio"], rate["async"] / rate["callback"]
        bt = rate["async-buf"] / rate["tokio"]
        # Within 3% of tokio is within run-to-run noise here: marked, not failed.
        goal = " ".join((["< tokio"] if at < 0.97 else ["~ tokio"] if at < 1.0 else [])
                        + (["< 0.9 callback"] if ac < 0.9 else [])) or "ok"
        rows.append([label, "MB/s" if bulk else "round trips/s"]
                    + [num(rate[k]) for k, _ in ECHO_SERVERS]
                    + [f"{at:.3f}", f"{bt:.3f}", f"{ac:.3f}", goal])
        ct, cc = cpu["tokio"] / cpu["async"], cpu["callback"] / cpu["async"]
        cb = cpu["tokio"] / cpu["async-buf"]
        rows.append(["", "server CPU µs/" + ("MB" if bulk else "round trip")]
                    + [f"{cpu[k]:.2f}" for k, _ in ECHO_SERVERS]
                    + [f"{ct:.3f}", f"{cb:.3f}", f"{cc:.3f}", ""])
    return rows


ECHO_HEADERS = (["echo workload", "metric"] + [h for _, h in ECHO_SERVERS]
                + ["async/tokio", "async-buf/tokio", "async/callback", "goal"])


def echo_report(args, results):
    """Prints the echo table; returns it as Markdown lines for results.md."""
    rows = echo_rows(results)
    runs = [m for per in results.values() for ms in per.values() for m in ms]
    other = sorted(m.get("server_cpu_other", 0) + m.get("client_cpu_other", 0) for m in runs)
    noise = (f"Other work on the two CPUs during the timed windows (busy ticks in /proc/stat not "
             f"from server or client): median {statistics.median(other):.2f} CPU, max "
             f"{other[-1]:.2f}; with much of it, ping-pong throughput is not comparable "
             f"across runs (server CPU per request still is, roughly). ")
    about = (f"Medians of {args.echo_repeats} runs per server (server order rotated each "
             f"repeat). Each server pinned with `taskset -c {args.echo_server_cpu}`, the one "
             f"load client (`rsuv-bench echo_client`, rsuv callback API) with `taskset -c "
             f"{args.echo_client_cpu}`; all on 127.0.0.1:9123 with TCP_NODELAY (the C server "
             f"through benches/nodelay.c). Server CPU: utime+stime from /proc/PID/stat over the "
             f"timed window. Ratios > 1: rsuv async better (more throughput, less CPU); goal: "
             f"async/tokio >= 1.0 and async/callback >= 0.9 on throughput (`~ tokio`: "
             f"0.97-1.0, within noise). " + noise +
             f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}.")
    print()
    print(table(ECHO_HEADERS, rows))
    print()
    print(about)
    return ["## Echo: rsuv async against the rsuv callback API, tokio and libuv's C server", "",
            "One load client for all four servers (`rsuv-bench echo_client`); see "
            "benches/README.md, section Echo.", "",
            markdown(ECHO_HEADERS, rows), "", about, ""]


# ---- reporting ----

def num(x):
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}"


def table(headers, rows):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    line = lambda r: "  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                               for i, c in enumerate(r))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def markdown(headers, rows):
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def parse_args():
    ncpu = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", 5)),
                    help="runs per side and workload (median taken); default 5, "
                         "at most 3 for million_timers (10-20 s a run)")
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                    help="comma-separated workloads (libuv names, and 'echo' for the echo "
                         "comparison); 'all' adds tcp_pump100_client; 'echo' alone: only the "
                         "echo comparison (no sync primitives)")
    ap.add_argument("--cpu", default=os.environ.get("BENCH_CPU", str((os.cpu_count() or 1) - 1)),
                    help="CPU list for taskset (default: the last CPU)")
    ap.add_argument("--cpus2", default=os.environ.get("BENCH_CPUS2", f"0-{(os.cpu_count() or 1) - 1}"),
                    help="CPU list for the two-thread sync tests (default: all)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--no-sync", action="store_true", help="skip the sync primitives")
    ap.add_argument("--sync-only", action="store_true", help="only the sync primitives")
    ap.add_argument("--echo-only", action="store_true",
                    help="only the echo comparison (the same as --only echo)")
    ap.add_argument("--no-echo", action="store_true", help="skip the echo comparison")
    ap.add_argument("--no-tls", action="store_true", help="skip the TLS echo")
    ap.add_argument("--tls-only", action="store_true", help="only the TLS echo")
    ap.add_argument("--echo-repeats", type=int,
                    default=int(os.environ.get("BENCH_ECHO_REPEATS", 3)),
                    help="runs per server and echo workload (median taken); default 3")
    ap.add_argument("--echo-server-cpu", default=os.environ.get("BENCH_ECHO_SERVER_CPU",
                                                                str(ncpu - 1)),
                    help="CPU of the echo servers (default: the last CPU)")
    ap.add_argument("--echo-client-cpu", default=os.environ.get("BENCH_ECHO_CLIENT_CPU", "0"),
                    help="CPU of the echo load client (default: 0)")
    ap.add_argument("--echo-secs", type=float, default=None,
                    help="seconds timed per echo run instead of 5 (1-conn ping-pong) / 3")
    args = ap.parse_args()
    if args.repeats < 1 or args.echo_repeats < 1:
        sys.exit("bench: --repeats and --echo-repeats must be at least 1")
    if args.echo_only:
        args.only = "echo"
    if args.tls_only:
        args.only = "tls"
    return args


def main():
    args = parse_args()

    os.makedirs(OUT, exist_ok=True)
    keys = DEFAULT_WORKLOADS + ["echo", "tls"]
    if args.only == "all":
        keys = [w.key for w in WORKLOADS] + ["echo", "tls"]
    elif args.only:
        keys = args.only.split(",")
        unknown = set(keys) - {w.key for w in WORKLOADS} - {"echo", "tls"}
        if unknown:
            sys.exit(f"bench: unknown workloads {sorted(unknown)}")
        if set(keys) <= {"echo", "tls"}:
            args.no_sync = True
    workloads = [] if args.sync_only else [w for w in WORKLOADS if w.key in keys]
    echo = "echo" in keys and not (args.sync_only or args.no_echo)
    tls = "tls" in keys and not (args.sync_only or args.no_tls)

    t0 = time.time()
    if not args.no_build:
        ensure_tools()
        if workloads or echo:
            build_c(libuv_source())
        if echo:
            build_nodelay()
        build_rsuv()
    logf = open(os.path.join(OUT, "run.log"), "w")
    raw = {"repeats": args.repeats, "cpu": args.cpu, "cpus2": args.cpus2,
           "workloads": {}, "sync": {}, "echo": {}}

    log(f"bench: {len(workloads)} workloads x {args.repeats} repeats x 2 sides, "
        f"pinned to CPU {args.cpu}")
    results = {w.key: {"C": [], "rsuv": []} for w in workloads}
    for rep in range(args.repeats):
        for w in workloads:
            if w.max_repeats and rep >= min(w.max_repeats, args.repeats):
                continue
            # Alternate which side goes first, so that neither always runs on a warmer
            # (or more throttled) machine.
            for side in (("C", "rsuv") if rep % 2 == 0 else ("rsuv", "C")):
                v = run_one(side, w, args.cpu, logf)
                results[w.key][side].append(v)
                log(f"  [{rep + 1}/{args.repeats}] {w.key:<20} {side:<4} {v:,.2f} {w.unit}")
    raw["workloads"] = results

    sync = {}
    if not args.no_sync:
        log(f"bench: sync primitives x {args.repeats} repeats (1-thread tests on CPU "
            f"{args.cpu}, 2-thread tests on CPUs {args.cpus2})")
        sync = {t: {"rsuv": [], "std": []} for t, _, _ in SYNC_TESTS}
        for rep in range(args.repeats):
            for test, _, both in SYNC_TESTS:
                for imp in (("rsuv", "std") if rep % 2 == 0 else ("std", "rsuv")):
                    sync[test][imp].append(
                        run_sync(test, imp, args.cpus2 if both else args.cpu, logf))
        raw["sync"] = sync

    echo_results = echo_section(args, logf) if echo else {}
    raw["echo"] = echo_results
    tls_results = tls_bench.section(args, logf, log, RS_BENCH, Helper) if tls else None
    raw["tls"] = tls_results

    headers = ["workload", "C (libuv)", "rsuv", "unit", "rsuv vs C", ""]
    rows = []
    for w in workloads:
        c = statistics.median(results[w.key]["C"])
        r = statistics.median(results[w.key]["rsuv"])
        ratio = (r / c) if w.higher else (c / r)
        unit = w.unit + ("" if w.higher else " (lower is better)")
        rows.append([f"{w.label} ({w.key})", num(c), num(r), unit, f"{ratio:.3f}",
                     "ok" if ratio >= 0.97 else "BELOW 0.97"])
    sync_headers = ["sync primitive", "std::sync ns/op", "rsuv ns/op", "rsuv vs std"]
    sync_rows = []
    for test, label, _ in (SYNC_TESTS if sync else []):
        s = statistics.median(sync[test]["std"])
        r = statistics.median(sync[test]["rsuv"])
        sync_rows.append([label, num(s), num(r), f"{s / r:.3f}"])

    minutes = (time.time() - t0) / 60
    about = (f"Medians of {args.repeats} runs per side (million_timers: "
             f"{min(3, args.repeats)}), C and rsuv alternating, pinned with "
             f"`taskset -c {args.cpu}` (client and server processes share that CPU, as under "
             f"libuv's runner); ratio > 1: rsuv faster. {os.cpu_count()} CPUs, "
             f"{time.strftime('%Y-%m-%d %H:%M')}, {minutes:.1f} min.")
    md = []
    if rows or sync_rows:
        print()
        if rows:
            print(table(headers, rows))
            print()
        if sync_rows:
            print(table(sync_headers, sync_rows))
            print()
        print(about)
        md = ["## Benchmarks: rsuv against libuv's C benchmarks", "",
              "libuv 1.53's own benchmarks (`uv_run_benchmarks_a`, CMake Release) and the same "
              "workloads on rsuv's safe API (`benches/rsuv-bench`); `make bench` to reproduce.",
              ""]
        if rows:
            md += [markdown(headers[:-1], [r[:-1] for r in rows]), ""]
        if sync_rows:
            md += ["Sync primitives (libuv's, wrapped by rsuv) against `std::sync`:", "",
                   markdown(sync_headers, sync_rows), ""]
        md += [about, ""]
    if echo_results:
        md += echo_report(args, echo_results)
    if tls_results:
        md += tls_bench.report(tls_results, num, table, markdown)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(OUT, "raw.json"), "w") as f:
        json.dump(raw, f, indent=1)
    log(f"bench: wrote {os.path.relpath(os.path.join(OUT, 'results.md'), ROOT)} "
        f"and raw.json; process output in run.log")


if __name__ == "__main__":
    main()
