#!/usr/bin/env bash
# The whole benchmark suite in one run, so every figure is compared with figures taken minutes
# apart on the same (possibly noisy) machine:
#
#   1. CPython's contextvars and asyncio tasks (scripts/bench_cpython.py)
#                                                              -> bench-results/cpython-1.json
#   2. criterion (ours + Rust peers), one after the other:     -> bench-results/criterion/
#      benches/core.rs (get, set, reset, copy, run, ctx.get, reset_module!),
#      benches/poll.rs (one poll of a wrapped future),
#      benches/spawn.rs (spawn + run + join of 100,000 tokio tasks, 10 samples),
#      benches/tower.rs (one request through ContextLayer, tokio task_local!, tower-http),
#      benches/rayon.rs (par_iter of 10,000 items, plain and with_current_context),
#      benches/hooks.rs (tokio's task hooks: built with --cfg tokio_unstable in a target
#      directory of its own, target/tokio_unstable, so the main one stays warm)
#   3. CPython again, to show the run's noise                  -> bench-results/cpython-2.json
#   4. memory, benches/memory.rs                               -> bench-results/memory.md
#   5. request_server under wrk: the context layer alone (--no-echo) and no layer (--no-layer),
#      twice each in both orders, then the example's default (the context layer and the echo
#      of the request id on every response) twice               -> bench-results/wrk.json
#   6. the report (scripts/bench_report.py)                    -> bench-results/report.md
#      and its goals table printed on stdout.
#
# Takes ~15-20 minutes on a 2-core machine (most of it criterion: ~110 benchmarks at 1 s warm-up
# + 2 s measurement each, more for the integration groups), plus the builds. Every bench is built
# with the same features (`tokio`, which benches/spawn.rs needs for `contextvars::spawn`).
# Environment:
#   CARGO_TARGET_DIR  cargo's target dir (default ./target)
#   CRITERION_ARGS    default "--warm-up-time 1 --measurement-time 2 --noplot"
#   PYTHON            default python3
#   BENCH_COMMIT      what the report names as the measured commit (default: git's HEAD)
#   WRK_SECONDS       seconds per wrk run (default 10); WRK_CONNECTIONS (default 32);
#                     WRK=0 skips the wrk step (also skipped, and said so, when wrk is missing:
#                     `apt-get install wrk`)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
CRITERION_ARGS="${CRITERION_ARGS:---warm-up-time 1 --measurement-time 2 --noplot}"
PYTHON="${PYTHON:-python3}"
FEATURES=(-p contextvars-benches)
BENCHES=(core poll spawn tower rayon)
OUT=bench-results
# criterion's results go under bench-results/, fresh each run, so the report never mixes in a
# figure from an earlier run.
export CRITERION_HOME="$PWD/$OUT/criterion"

stamp() { date -u +%H:%M:%S; }
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }

started=$(date -u +"%Y-%m-%d %H:%M UTC")
load_start=$(load)

echo "[$(stamp)] building the benches (not timed)" >&2
cargo bench "${FEATURES[@]}" --bench core --bench poll --bench spawn --bench memory --bench tower \
    --bench rayon --no-run
HOOKS_TARGET="$CARGO_TARGET_DIR/tokio_unstable"
RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR="$HOOKS_TARGET" \
    cargo bench "${FEATURES[@]}" --bench hooks --no-run
cargo build --release -p contextvars-examples --example request_server
# Only once the build succeeded: a failed build keeps the previous run's results.
rm -rf "$OUT"
mkdir -p "$OUT"

echo "[$(stamp)] 1/6 CPython, pass 1" >&2
"$PYTHON" scripts/bench_cpython.py "$OUT/cpython-1.json"

for bench in "${BENCHES[@]}"; do
    echo "[$(stamp)] 2/6 criterion: benches/$bench.rs ($CRITERION_ARGS)" >&2
    # shellcheck disable=SC2086 # CRITERION_ARGS is a list of arguments
    cargo bench "${FEATURES[@]}" --bench "$bench" -- $CRITERION_ARGS 2>&1 | tee -a "$OUT/criterion.log" |
        grep --line-buffered -E '^[a-z0-9_]+/|time:' >&2
done
echo "[$(stamp)] 2/6 criterion: benches/hooks.rs, --cfg tokio_unstable ($CRITERION_ARGS)" >&2
# shellcheck disable=SC2086 # CRITERION_ARGS is a list of arguments
RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR="$HOOKS_TARGET" \
    cargo bench "${FEATURES[@]}" --bench hooks -- $CRITERION_ARGS 2>&1 | tee -a "$OUT/criterion.log" |
    grep --line-buffered -E '^[a-z0-9_]+/|time:' >&2

echo "[$(stamp)] 3/6 CPython, pass 2" >&2
"$PYTHON" scripts/bench_cpython.py "$OUT/cpython-2.json"

echo "[$(stamp)] 4/6 memory" >&2
cargo bench "${FEATURES[@]}" --bench memory > "$OUT/memory.md"

# request_server serves /remember (a variable read and set by the handler). The layers each side
# has, stated as the report states them:
#   with the layer  (--no-echo):  ContextLayer (a fresh context per request, the two request
#                                 variables reset and set from the x-request-id and x-user-id
#                                 headers, the response body polled in the request's context);
#                                 the same response headers as the side without it;
#   without it      (--no-layer): no layer; the handler's write lands in the worker thread's
#                                 context instead of the request's own (so its body is the
#                                 previous request's id, `bench-1`, where the layer's is `nobody`);
#   with the echo   (default):    ContextLayer and EchoHeaderLayer (the request id sent back as
#                                 a response header, 23 bytes more per response), reported apart.
# wrk loads each; the best of each counts.
WRK_SECONDS="${WRK_SECONDS:-10}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-32}"
wrk_json() { printf '%s\n' "$1" > "$OUT/wrk.json"; }
if [ "${WRK:-1}" = 0 ]; then
    wrk_json '{"note": "skipped (WRK=0)"}'
elif ! command -v wrk >/dev/null; then
    echo "[$(stamp)] 5/6 wrk: not installed, skipped (apt-get install wrk)" >&2
    wrk_json '{"note": "wrk not installed"}'
else
    server="$CARGO_TARGET_DIR/release/examples/request_server"
    # Prints the req/s of one wrk run against a fresh server started with "$@".
    wrk_once() {
        local port=$((38000 + RANDOM % 2000)) server_pid rps
        # Its per-request log lines go nowhere, with or without the layer alike.
        "$server" --port "$port" "$@" > /dev/null 2>&1 &
        server_pid=$!
        for _ in $(seq 100); do
            (exec 3<> "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
        wrk -t2 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" -H 'x-request-id: bench-1' -H 'x-user-id: dina' \
            "http://127.0.0.1:$port/remember" > "$OUT/wrk-run.txt" 2>&1 || true
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        cat "$OUT/wrk-run.txt" >> "$OUT/wrk.log"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk-run.txt")
        echo "${rps:-0}"
    }
    best() { awk -v a="$1" -v b="$2" 'BEGIN {print (b > a) ? b : a}'; }
    best_with=0 best_without=0 best_echo=0
    for round in 1 2; do
        echo "[$(stamp)] 5/6 wrk round $round: request_server with the context layer alone and without it, then with the layer and the echo (${WRK_SECONDS}s each, $WRK_CONNECTIONS connections)" >&2
        # Both orders: whichever runs second meets a machine warmed by the first.
        if [ "$round" = 1 ]; then
            with=$(wrk_once --no-echo)
            without=$(wrk_once --no-layer)
        else
            without=$(wrk_once --no-layer)
            with=$(wrk_once --no-echo)
        fi
        echo_=$(wrk_once)
        echo "    with the layer: $with req/s; without: $without req/s; with the layer and the echo: $echo_ req/s" >&2
        best_with=$(best "$best_with" "$with")
        best_without=$(best "$best_without" "$without")
        best_echo=$(best "$best_echo" "$echo_")
    done
    wrk_json "{\"with_layer\": $best_with, \"without_layer\": $best_without, \"with_layer_and_echo\": $best_echo, \"connections\": $WRK_CONNECTIONS, \"seconds\": $WRK_SECONDS}"
fi

load_end=$(load)
echo "[$(stamp)] 6/6 report" >&2
"$PYTHON" scripts/bench_report.py \
    --criterion "$CRITERION_HOME" \
    --cpython "$OUT/cpython-1.json" "$OUT/cpython-2.json" \
    --memory "$OUT/memory.md" \
    --wrk "$OUT/wrk.json" \
    --out "$OUT/report.md" \
    --meta "command=bash scripts/bench.sh" \
           "started=$started, finished $(date -u +"%H:%M UTC")" \
           "commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')}" \
           "rustc=$(rustc -V)" \
           "machine=$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //' || echo '?')" \
           "load average (1/5/15 min)=$load_start at the start, $load_end at the end" \
           "criterion=$CRITERION_ARGS; median of per-iteration sample times"
echo "[$(stamp)] done: $OUT/report.md" >&2
# The goals table, on stdout.
sed -n '/^## Goals: ratios in this run/,/^## Summary/p' "$OUT/report.md" | sed '$d'
