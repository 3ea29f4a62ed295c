#!/usr/bin/env bash
# `ablate serve` under load (issue 33's load test; a benchmark, not a test):
# a 10,000-trial sweep run with the stand-in worker into a fresh database,
# served, then CLIENTS clients for SECONDS seconds asking for the sweep page,
# the status, a study's report and parallel coordinates and a trial page.
# Prints the latency percentiles per path, headed by the CPU it ran on.
#
#   bash scripts/serve-load.sh [CLIENTS] [SECONDS]
#
# Needs `cargo build --release` (ablate and ablate-fake-worker). OUT (default
# /tmp/ablate-serve-load) holds the sweep; a database already there is reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CLIENTS=${1:-50}
SECONDS_=${2:-10}
ABLATE=${ABLATE:-$PWD/target/release/ablate}
FAKE=${FAKE:-$PWD/target/release/ablate-fake-worker}
OUT=${OUT:-/tmp/ablate-serve-load}
for b in "$ABLATE" "$FAKE"; do
    [ -x "$b" ] || { echo "error: $b not built: cargo build --release" >&2; exit 2; }
done
mkdir -p "$OUT"
# 10 learning rates x 2 tasks x 500 seeds = 10,000 trials in one study (a
# study of 5,000 configurations would make the final report, not the server,
# the thing measured).
cat >"$OUT/load.toml" <<TOML
[sweep]
name = "load"
output = "runs"
seeds = 500
[worker]
command = ["$FAKE"]
[data.faces]
kind = "synthetic-faces"
[[study]]
name = "grid"
fixed.depth = "vgg7"
fixed.encoding = "ldae"
grid.lr = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.2]
grid.tasks = [["gender"], ["age"]]
TOML
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "ablate serve under load: $cpu, $(nproc) cores, $(date -u +%F)"
if [ ! -f "$OUT/runs/ablate.db" ]; then
    start=$(date +%s)
    (cd "$OUT" && FAKE_EPOCHS=1 FAKE_EPOCH_MS=0 "$ABLATE" run load.toml >"$OUT/run.log" 2>&1) ||
        { echo "error: the sweep failed; see $OUT/run.log" >&2; exit 1; }
    echo "10,000 stand-in trials run in $(($(date +%s) - start)) s"
fi
(cd "$OUT" && exec "$ABLATE" serve load.toml --port 0 >"$OUT/serve.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*' "$OUT/serve.log" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "error: ablate serve did not start; see $OUT/serve.log" >&2; exit 1; }
# The first look reads and judges the whole sweep: time it on its own.
first=$(date +%s.%N)
curl -s -o /dev/null -b "ablate_token=${url##*token=}" "${url%%\?*}api/status"
echo "first look (read and judge 10,000 trials): $(python3 -c "print(round($(date +%s.%N) - $first, 2))") s"
"$ABLATE" bench serve "$url" --clients "$CLIENTS" --seconds "$SECONDS_" --study grid
