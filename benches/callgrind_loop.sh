#!/usr/bin/env bash
# Instructions per op of one loop_bench.py workload on one Python event loop, under callgrind.
#
#   benches/callgrind_loop.sh LOOP WORKLOAD [OPS]     e.g. benches/callgrind_loop.sh uvloop call_soon
#
# Runs the workload twice in one process each (loop_bench.py --child), under
# `valgrind --tool=callgrind`: once with OPS ops (default 20000) and once with 0 ops (the
# baseline: interpreter start-up, imports, creating and closing the loop, one empty run).
# Both runs first do the same small warm-up (WARMUP ops, default 1000) on the loop, so it cancels
# out too. Prints  (Ir(OPS) - Ir(0)) / OPS, where Ir is callgrind's total instruction count.
# Environment: PYTHON (default /work/main/.venv/bin/python, else python3), WARMUP, OUT_DIR
# (default target/callgrind; the callgrind.out files are kept there for callgrind_annotate).
set -euo pipefail

if [[ $# -lt 2 || $1 == -h || $1 == --help ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
loop=$1 workload=$2 ops=${3:-20000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x /work/main/.venv/bin/python ]]; then PYTHON=/work/main/.venv/bin/python; else PYTHON=python3; fi
fi
warmup=${WARMUP:-1000}
out_dir=${OUT_DIR:-$root/target/callgrind}
mkdir -p "$out_dir"
command -v valgrind >/dev/null || { echo "callgrind_loop: valgrind not found" >&2; exit 1; }

# A missing loop module would make both runs fail the same way: say so plainly.
probe=$("$PYTHON" "$here/loop_bench.py" --child --probe --loop "$loop")
if [[ $probe != *'"ok": true'* ]]; then
    echo "callgrind_loop: $loop: not installed or not usable: $probe" >&2
    exit 1
fi

# Total Ir of one run: the "summary:" line callgrind writes into its output file (it equals
# the "totals:" line and callgrind_annotate's PROGRAM TOTALS).
run_ir() {
    local n=$1 file="$out_dir/callgrind.out.$loop.$workload.$1"
    # call_later: the timers' spread stays 50 ms per 50,000 timers (as in loop_bench.py); with
    # 0 timers there is nothing to spread.
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$PYTHON" "$here/loop_bench.py" --child --loop "$loop" --workload "$workload" \
        --n "$n" --warmup-n "$warmup" >"$file.json" 2>"$file.log" || {
        echo "callgrind_loop: the run with $n ops failed; see $file.log" >&2
        tail -5 "$file.log" >&2
        exit 1
    }
    awk '/^summary:/ { print $2 }' "$file"
}

ir_n=$(run_ir "$ops")
ir_0=$(run_ir 0)
actual=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' \
    "$out_dir/callgrind.out.$loop.$workload.$ops.json")
awk -v l="$loop" -v w="$workload" -v n="$actual" -v a="$ir_n" -v b="$ir_0" 'BEGIN {
    printf "%s %s: %d ops  Ir %d - baseline %d = %d  ->  %.0f instructions/op\n",
        l, w, n, a, b, a - b, (a - b) / n }'
