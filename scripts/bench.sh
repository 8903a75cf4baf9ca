#!/usr/bin/env bash
# The whole benchmark suite in one run, so every figure is compared with figures taken minutes
# apart on the same (possibly noisy) machine:
#
#   1. CPython's contextvars and asyncio tasks (scripts/bench_cpython.py)
#                                                              -> bench-results/cpython-1.json
#   2. criterion (ours + Rust peers), one after the other:     -> bench-results/criterion/
#      benches/core.rs (get, set, reset, copy, run, ctx.get, reset_module!),
#      benches/poll.rs (one poll of a wrapped future),
#      benches/spawn.rs (spawn + run + join of 100,000 tokio tasks, 10 samples)
#   3. CPython again, to show the run's noise                  -> bench-results/cpython-2.json
#   4. memory, benches/memory.rs                               -> bench-results/memory.md
#   5. the report (scripts/bench_report.py)                    -> bench-results/report.md
#
# Takes ~7-10 minutes on a 2-core machine (most of it criterion: ~80 benchmarks at 1 s warm-up
# + 2 s measurement each), plus the build. Every bench is built with the same features (`tokio`,
# which benches/spawn.rs needs for `contextvars::spawn`; it only adds that module).
# Environment:
#   CARGO_TARGET_DIR  cargo's target dir (default ./target)
#   CRITERION_ARGS    default "--warm-up-time 1 --measurement-time 2 --noplot"
#   PYTHON            default python3
#   BENCH_COMMIT      what the report names as the measured commit (default: git's HEAD)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
CRITERION_ARGS="${CRITERION_ARGS:---warm-up-time 1 --measurement-time 2 --noplot}"
PYTHON="${PYTHON:-python3}"
FEATURES=(-p contextvars-benches)
BENCHES=(core poll spawn)
OUT=bench-results
# criterion's results go under bench-results/, fresh each run, so the report never mixes in a
# figure from an earlier run.
export CRITERION_HOME="$PWD/$OUT/criterion"

stamp() { date -u +%H:%M:%S; }
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }

started=$(date -u +"%Y-%m-%d %H:%M UTC")
load_start=$(load)

echo "[$(stamp)] building the benches (not timed)" >&2
cargo bench "${FEATURES[@]}" --bench core --bench poll --bench spawn --bench memory --no-run
# Only once the build succeeded: a failed build keeps the previous run's results.
rm -rf "$OUT"
mkdir -p "$OUT"

echo "[$(stamp)] 1/5 CPython, pass 1" >&2
"$PYTHON" scripts/bench_cpython.py "$OUT/cpython-1.json"

for bench in "${BENCHES[@]}"; do
    echo "[$(stamp)] 2/5 criterion: benches/$bench.rs ($CRITERION_ARGS)" >&2
    # shellcheck disable=SC2086 # CRITERION_ARGS is a list of arguments
    cargo bench "${FEATURES[@]}" --bench "$bench" -- $CRITERION_ARGS 2>&1 | tee -a "$OUT/criterion.log" |
        grep --line-buffered -E '^[a-z0-9_]+/|time:' >&2
done

echo "[$(stamp)] 3/5 CPython, pass 2" >&2
"$PYTHON" scripts/bench_cpython.py "$OUT/cpython-2.json"

echo "[$(stamp)] 4/5 memory" >&2
cargo bench "${FEATURES[@]}" --bench memory > "$OUT/memory.md"

load_end=$(load)
echo "[$(stamp)] 5/5 report" >&2
"$PYTHON" scripts/bench_report.py \
    --criterion "$CRITERION_HOME" \
    --cpython "$OUT/cpython-1.json" "$OUT/cpython-2.json" \
    --memory "$OUT/memory.md" \
    --out "$OUT/report.md" \
    --meta "command=bash scripts/bench.sh" \
           "started=$started, finished $(date -u +"%H:%M UTC")" \
           "commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')}" \
           "rustc=$(rustc -V)" \
           "machine=$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //' || echo '?')" \
           "load average (1/5/15 min)=$load_start at the start, $load_end at the end" \
           "criterion=$CRITERION_ARGS; median of per-iteration sample times"
echo "[$(stamp)] done: $OUT/report.md" >&2
