#!/usr/bin/env bash
# Run every benchmark script one after another (quiet machine, nothing else running) and keep
# each one's output in OUT (default ./bench-out). The engine benchmarks need ../shared and a
# ~3 minute index build; they run last and only with --engine.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
run() { local name=$1; shift; echo "== $name: $*"; { echo "\$ $*"; uptime; lscpu | grep 'Model name'; "$@"; } > "$OUT/$name.txt" 2>&1; tail -3 "$OUT/$name.txt"; }
run embedder   python3 tools/bench_embedder.py --runs 50
run telemetry  python3 tools/bench_telemetry.py --runs 11 --cpu 1
run cache      python3 tools/bench_cache.py --runs 5
run serve      python3 tools/bench_serve_start.py --runs 5
run load       python3 tools/load_http.py --spawn --tier ultra_lite --clients 50 --duration 30
run tierflip   python3 tools/bench_tier_flip.py --flips 20
run aggregator python3 tools/bench_aggregator.py --runs 3
run outbox     python3 tools/bench_outbox.py --runs 3
run outage     python3 tools/bench_outage.py
if [ "${1:-}" = "--engine" ]; then
  D=$(mktemp -d)
  run engine_index   python3 tools/bench_engine.py index --data-dir "$D" --tier ultra_lite --threads 1
  run engine_latency python3 tools/bench_engine.py latency --data-dir "$D" --tier ultra_lite
  run engine_cold    python3 tools/bench_engine.py cold --data-dir "$D" --tier ultra_lite
  run engine_memory  python3 tools/bench_engine.py memory --data-dir "$D" --tier ultra_lite
  run engine_clip    python3 tools/bench_engine.py clip --data-dir "$D" --tier ultra_lite --runs 3
  rm -rf "$D"
fi
