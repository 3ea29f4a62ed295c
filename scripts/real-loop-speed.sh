#!/usr/bin/env bash
# Images/s of the real training loop beside the benchmarks, on one trial of a
# finished sweep: ablate's worker and scripts/torch_twin.py each train that trial
# for EPOCHS epochs (its net, batch, augmentation, validation and thread count,
# one process at a time), and `ablate bench train` and scripts/bench_pytorch.py
# run the same net on random data. The numbers behind README.md's speed table.
#
#   bash scripts/real-loop-speed.sh PYTHON RUN_DIR/trials/<id>
#
# PYTHON has torch (see scripts/bench-cpu.sh). REPEAT (2) interleaved rounds; each
# cell is the median over rounds of the mean over epochs. "loop": training images
# over the loop's time (batch assembly, augmentation, forward, backward, update);
# "epoch": training images over the whole epoch, validation included.
set -euo pipefail
PY=$1
DIR=$2
ABLATE=${ABLATE:-./target/release/ablate}
EPOCHS=${EPOCHS:-2}
REPEAT=${REPEAT:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ABLATE" data split "$DIR/trial.json" --out "$tmp/split.csv"
# The trial, shortened to EPOCHS epochs and writing into $tmp (the worker does not
# check the id against the config; the schedule spans the shorter run).
"$PY" - "$DIR/trial.json" "$tmp" "$EPOCHS" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["config"]["train"]["epochs"] = int(sys.argv[3])
t["run_dir"] = sys.argv[2] + "/run"
json.dump(t, open(sys.argv[2] + "/trial.json", "w"))
EOF
read -r depth width threads size batch < <("$PY" - "$DIR/trial.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
print(t["labels"].get("depth", "vgg9"), t["labels"].get("width", "1"), t["exec"]["threads"],
      t["config"]["train"]["input_size"], t["config"]["train"]["batch_size"])
EOF
)
n_train=$(grep -c ',train,' "$tmp/split.csv")
for i in $(seq "$REPEAT"); do
  rm -rf "$tmp/run" && mkdir -p "$tmp/run"
  "$ABLATE" worker "$tmp/trial.json" > /dev/null
  cp "$tmp/run/metrics.jsonl" "$tmp/ablate$i.jsonl"
  "$PY" scripts/torch_twin.py "$tmp/trial.json" --split "$tmp/split.csv" 2> "$tmp/twin$i.jsonl" > /dev/null
  "$ABLATE" bench train --depth "$depth" --width "$width" --size "$size" --batch "$batch" \
    --threads "$threads" --batch-norm --ops fast --steps 8 --json > "$tmp/bench$i.json"
  "$PY" scripts/bench_pytorch.py --like "$tmp/bench$i.json" --threads "$threads" --steps 8 > "$tmp/torch$i.json"
done
"$PY" - "$tmp" "$REPEAT" "$n_train" "$depth" "$width" "$size" "$batch" "$threads" <<'EOF'
import json, statistics, sys
tmp, rep, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
depth, width, size, batch, threads = sys.argv[4:9]
def epochs(path):
    return [json.loads(l) for l in open(path) if l.startswith('{"epoch"')]
def ablate(i):
    e = epochs(f"{tmp}/ablate{i}.jsonl")
    walls = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip([{"elapsed_s": 0.0}] + e, e)]
    return statistics.mean(x["images_per_s"] for x in e), statistics.mean(n / w for w in walls)
def twin(i):
    e = epochs(f"{tmp}/twin{i}.jsonl")
    return statistics.mean(x["images_per_s"] for x in e), statistics.mean(n / x["epoch_s_with_val"] for x in e)
def bench(name, i):
    b = json.load(open(f"{tmp}/{name}{i}.json"))
    return (b[0] if isinstance(b, list) else b)["images_per_s"]
med = lambda xs: statistics.median(xs)
a = [ablate(i) for i in range(1, rep + 1)]
t = [twin(i) for i in range(1, rep + 1)]
ab, tb = med([bench("bench", i) for i in range(1, rep + 1)]), med([bench("torch", i) for i in range(1, rep + 1)])
al, ae, tl, te = med([x[0] for x in a]), med([x[1] for x in a]), med([x[0] for x in t]), med([x[1] for x in t])
print(f"{depth} width {width}, {size} px, batch {batch}, BatchNorm, {threads} thread(s), {n} training images, images/s:\n")
print("| | ablate | PyTorch | ablate / PyTorch |\n|---|---|---|---|")
print(f"| real trial, training loop | {al:.0f} | {tl:.0f} | {al / tl:.2f}x |")
print(f"| real trial, whole epoch (validation included) | {ae:.0f} | {te:.0f} | {ae / te:.2f}x |")
print(f"| benchmark (`ablate bench train` / `bench_pytorch.py`), random data | {ab:.0f} | {tb:.0f} | {ab / tb:.2f}x |")
EOF
