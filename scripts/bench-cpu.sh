#!/usr/bin/env bash
# ablate's CPU training throughput against PyTorch's, same net, batch and threads,
# for each depth preset: the benchmark behind the numbers in README.md.
#
#   bash scripts/bench-cpu.sh [PYTHON] [PRESETS...]
#
# PYTHON is a python3 with torch installed (default: python3), e.g. a venv made by
#   python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
# Each row interleaves REPEAT (3) runs of ablate's fast ops and of PyTorch, so that
# load from elsewhere on the machine hits both alike, and reports the medians;
# candle's own ops (the reference path, 5-10x slower) run once. Prints a Markdown table.
set -euo pipefail
PY=${1:-python3}
shift || true
PRESETS=("$@")
[ ${#PRESETS[@]} -gt 0 ] || PRESETS=(bench vgg7 vgg9 vgg11 vgg13 vgg16 vgg19)
ABLATE=${ABLATE:-./target/release/ablate}
THREADS=${THREADS:-2}
BATCH=${BATCH:-64}
SIZE=${SIZE:-64}
WIDTH=${WIDTH:-0.25}
STEPS=${STEPS:-4}
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The median images/s of the given report files.
median() { "$PY" -c "import json,sys,statistics; print('%.1f' % statistics.median(json.load(open(f))['images_per_s'] for f in sys.argv[1:]))" "$@"; }
echo "| preset | width | fast ops img/s | candle ops img/s | PyTorch img/s | fast / PyTorch |"
echo "|---|---|---|---|---|---|"
for p in "${PRESETS[@]}"; do
  w=$WIDTH
  [ "$p" = bench ] && w=1
  common=(--depth "$p" --width "$w" --batch "$BATCH" --size "$SIZE" --threads "$THREADS" --json)
  for i in $(seq "$REPEAT"); do
    "$ABLATE" bench train "${common[@]}" --steps "$STEPS" --ops fast > "$tmp/fast$i.json"
    "$PY" scripts/bench_pytorch.py --like "$tmp/fast$i.json" --threads "$THREADS" --steps "$STEPS" > "$tmp/torch$i.json"
  done
  "$ABLATE" bench train "${common[@]}" --steps 2 --ops candle > "$tmp/candle.json"
  f=$(median "$tmp"/fast[0-9]*.json)
  c=$(median "$tmp/candle.json")
  t=$(median "$tmp"/torch[0-9]*.json)
  r=$("$PY" -c "print('%.2fx' % ($f / $t))")
  echo "| $p | $w | $f | $c | $t | $r |"
done
