"""The TLS section of `make bench` (issue 5), used by run.py: TLS echo over rsuv's TlsStream
(TLS 1.2 and 1.3, AES-256-GCM) beside the same echo over the plain Tcp handle, one server
process pinned to one CPU and one load client on the other (`rsuv-bench tls_server` and
`tls_client`), plus `openssl speed -evp aes-256-gcm` as the crypto ceiling."""
import os
import re
import statistics
import subprocess
import time

PROTOS = [("plain", "plain TCP"), ("tls12", "TLS 1.2"), ("tls13", "TLS 1.3")]
WORKLOADS = [("pingpong_1k", "1 KiB ping-pong, 1 conn", False),
             ("bulk", "bulk echo, 1 conn (64 KiB writes)", True)]
RESULT_RE = re.compile(r"^tls_result (.*)$", re.M)


def run_one(rs_bench, helper_cls, proto, workload, secs, cpus, logf):
    h = helper_cls(["taskset", "-c", cpus[0], rs_bench, "tls_server", proto], False, logf)
    try:
        cmd = ["taskset", "-c", cpus[1], rs_bench, "tls_client", workload, proto,
               "--secs", str(secs), "--server-pid", str(h.proc.pid)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        h.stop()
    logf.write(f"--- tls {proto} {workload} (exit {r.returncode})\n{r.stdout}{r.stderr}")
    m = RESULT_RE.search(r.stdout)
    if r.returncode != 0 or not m:
        raise SystemExit(f"bench: tls {proto} {workload} failed:\n{r.stdout}{r.stderr}")
    res = dict(kv.split("=", 1) for kv in m.group(1).split())
    tck, el = os.sysconf("SC_CLK_TCK"), float(res["elapsed"])
    bulk = workload == "bulk"
    work = int(res["bytes"]) / 1e6 if bulk else int(res["rts"])
    return {"rate": work / el, "cpu_us": int(res["server_ticks"]) / tck * 1e6 / work,
            "client_util": int(res["client_ticks"]) / tck / el}


def crypto_ceiling(logf):
    """`openssl speed -evp aes-256-gcm` on 16 KiB blocks, one core: MB/s."""
    r = subprocess.run(["openssl", "speed", "-evp", "aes-256-gcm", "-seconds", "2",
                        "-bytes", "16384"], capture_output=True, text=True, timeout=60)
    logf.write(f"--- openssl speed\n{r.stdout}{r.stderr}")
    m = re.search(r"^AES-256-GCM\s+([\d.]+)k", r.stdout, re.M)
    return float(m.group(1)) * 1000 / 1e6 if m else None


def section(args, logf, log, rs_bench, helper_cls):
    cpus = (args.echo_server_cpu, args.echo_client_cpu)
    reps = args.echo_repeats
    log(f"bench: TLS echo, {len(PROTOS)} protocols x {len(WORKLOADS)} workloads x {reps} "
        f"repeats; server on CPU {cpus[0]}, client on CPU {cpus[1]}")
    results = {w: {p: [] for p, _ in PROTOS} for w, _, _ in WORKLOADS}
    for rep in range(reps):
        for w, _, bulk in WORKLOADS:
            order = PROTOS[rep % len(PROTOS):] + PROTOS[:rep % len(PROTOS)]
            for p, _ in order:
                met = run_one(rs_bench, helper_cls, p, w, args.echo_secs or 3, cpus, logf)
                results[w][p].append(met)
                log(f"  [{rep + 1}/{reps}] tls {w:<12} {p:<6} {met['rate']:>10,.0f} "
                    f"{'MB/s' if bulk else 'rt/s'}  server {met['cpu_us']:.2f} us/"
                    f"{'MB' if bulk else 'rt'}, client {met['client_util']:.0%} CPU")
    return {"results": results, "ceiling": crypto_ceiling(logf)}


def report(tls, num, table, markdown):
    med = lambda w, p, m: statistics.median(x[m] for x in tls["results"][w][p])
    headers = (["TLS workload", "metric"] + [h for _, h in PROTOS]
               + ["TLS 1.2 / plain", "TLS 1.3 / plain"])
    rows = []
    for w, label, bulk in WORKLOADS:
        rate = {p: med(w, p, "rate") for p, _ in PROTOS}
        cpu = {p: med(w, p, "cpu_us") for p, _ in PROTOS}
        rows.append([label, "MB/s each way" if bulk else "round trips/s"]
                    + [num(rate[p]) for p, _ in PROTOS]
                    + [f"{rate['tls12'] / rate['plain']:.3f}",
                       f"{rate['tls13'] / rate['plain']:.3f}"])
        rows.append(["", "server CPU µs/" + ("MB" if bulk else "round trip")]
                    + [f"{cpu[p]:.2f}" for p, _ in PROTOS]
                    + [f"{cpu['tls12'] / cpu['plain']:.3f}", f"{cpu['tls13'] / cpu['plain']:.3f}"])
    ceiling = tls["ceiling"]
    about = ("Echo server and load client both on rsuv's callback API (`rsuv-bench tls_server` / "
             "`tls_client`), each pinned to its own CPU; the same echo over `TlsStream` and over "
             "the plain `Tcp` handle. Bulk: the server decrypts and re-encrypts every byte, and "
             "the client (the same code) does too, on the other CPU. Medians. Crypto ceiling, "
             "`openssl speed -evp aes-256-gcm` on 16 KiB blocks, one core: "
             + (f"{ceiling:,.0f} MB/s." if ceiling else "not measured.")
             + f" {time.strftime('%Y-%m-%d %H:%M')}.")
    print()
    print(table(headers, rows))
    print()
    print(about)
    return ["## TLS: TlsStream against the plain Tcp handle", "", markdown(headers, rows), "",
            about, ""]
