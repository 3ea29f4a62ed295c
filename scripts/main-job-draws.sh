#!/usr/bin/env bash
# The main job on several draws: does a verdict hinge on one draw? Runs
# experiments/quick.toml as committed (draw 0) and on DRAWS-1 other draws (draw
# k: every trial's seed offset by 100k with sweep.seeds.first, data.faces.seed=k,
# data.pretrain_faces.seed=10+k), each into its own folder, then prints a
# Markdown table of every draw's verdicts, trials run and wall time, headed by
# the CPU it ran on.
#
#   bash scripts/main-job-draws.sh [DRAWS] [KEY=VALUE...]
#
# DRAWS defaults to 3; further KEY=VALUE overrides go to every run (for a
# smoke test: train.epochs=2 sweep.seeds=2). OUT (default /tmp/ablate-draws) holds the runs;
# ABLATE (default ./target/release/ablate) is the binary. Each draw of the full
# main job took 225-286 s on a 2-core AMD EPYC (2026-12-08).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DRAWS=${1:-3}
shift || true
ABLATE=${ABLATE:-./target/release/ablate}
OUT=${OUT:-/tmp/ablate-draws}
[ -x "$ABLATE" ] || { echo "error: $ABLATE not built: cargo build --release" >&2; exit 2; }
[[ $DRAWS =~ ^[1-9][0-9]?$ ]] || { echo "error: DRAWS must be 1 to 99, got $DRAWS" >&2; exit 2; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
simd=$(grep -m1 -o -w avx512f /proc/cpuinfo || grep -m1 -o -w avx2 /proc/cpuinfo || true)
echo "Main job on $DRAWS draw(s): $cpu (${simd:-no AVX2}), $(nproc) cores, $(date -u +%F)"
echo
rows=()
for ((k = 0; k < DRAWS; k++)); do
    dir="$OUT/draw$k"
    rm -rf "$dir"
    args=("sweep.output=\"$dir/runs\"" "sweep.reports=\"$dir/reports\"")
    label="as committed"
    if ((k > 0)); then
        s0=$((100 * k))
        args+=("sweep.seeds.first=$s0" "data.faces.seed=$k" "data.pretrain_faces.seed=$((10 + k))")
        label="seeds from $s0, faces $k, pretraining faces $((10 + k))"
    fi
    start=$(date +%s)
    if ! "$ABLATE" run experiments/quick.toml "${args[@]}" "$@" >"$OUT.draw$k.log" 2>&1; then
        echo "error: draw $k failed; see $OUT.draw$k.log" >&2
        exit 1
    fi
    seconds=$(($(date +%s) - start))
    report="$dir/reports/quick/report.md"
    # The verdict table's rows: claim and verdict, in the report's order.
    verdicts=$(awk -F'|' '/^\| claim \| verdict/ {on=1; getline; next} on && /^\|/ {gsub(/\*/, "", $3); gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); printf "%s: %s; ", $2, $3; next} on {exit}' "$report")
    settled=$( (grep -o -E ': (supported|contradicted);' <<<"$verdicts" || true) | wc -l)
    # "135 trials of the sweep's 153 at its most seeds" (adaptive seeds only).
    trials=$(grep -o -E '[0-9]+ trials of the sweep.s [0-9]+' "$OUT.draw$k.log" | sed -E 's/ trials of the sweep.s / of /' || true)
    rows+=("| $k | $label | ${trials:--} | $seconds | $settled | ${verdicts%; } |")
done
echo "| draw | data | trials run | seconds | claims settled (the sweep's own included) | verdicts |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
