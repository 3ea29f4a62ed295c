#!/usr/bin/env bash
# Peak memory at scale, the numbers behind README's "Memory" section:
#  1. `ablate data prepare` on a synthetic set of IDS x 5 faces at PREP_SIZE px
#     (default 16,000 x 5 at 128 px: a 3.9 GB cache, several times the ~1 GB
#     that preparing may hold), its peak resident memory (VmHWM, /usr/bin/time).
#  2. Two workers training at once on one cache of 18,000 faces at 128 px (844
#     MiB; the set issue 21 measured), one epoch each: every worker's peak
#     private memory (RssAnon, sampled by the worker, read from the database)
#     and, sampled here every 0.2 s, RssAnon and RssFile of each.
#
#   bash scripts/memory-scale.sh [ABLATE]     (default ./target/release/ablate)
#
# Needs about 5 GB of disk under $TMPDIR and 10 minutes on 2 cores.
set -euo pipefail
ABLATE=$(realpath "${1:-./target/release/ablate}")
IDS=${IDS:-16000}
PREP_SIZE=${PREP_SIZE:-128}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

cat > prep.toml <<EOF
[sweep]
name = "prep"
output = "out-prep"
[data.faces]
kind = "synthetic-faces"
identities = $IDS
images_per_identity = 5
[train]
input_size = $PREP_SIZE
[[study]]
name = "s"
fixed = { depth = "vgg7", width = 0.125 }
grid.tasks = [["gender"]]
EOF
/usr/bin/time -v "$ABLATE" data prepare prep.toml > prep.out 2> prep.err
cache=$(ls out-prep/cache/*.cache)
echo "prepare: $(grep -h 'prepared\|built' prep.out prep.err | tail -1)"
echo "prepare: cache $(du -m "$cache" | cut -f1) MiB, peak resident $(awk '/Maximum resident/ {printf "%.0f", $6/1024}' prep.err) MiB (VmHWM), wall $(awk -F': ' '/Elapsed/ {print $2}' prep.err)"
rm -rf out-prep

cat > train.toml <<EOF
[sweep]
name = "train"
seeds = 2
output = "out"
[data.faces]
kind = "synthetic-faces"
identities = 3600
images_per_identity = 5
[train]
input_size = 128
epochs = 1
threads = 1
[[study]]
name = "s"
fixed = { depth = "vgg7", width = 0.125 }
grid.tasks = [["gender"]]
EOF
"$ABLATE" data prepare train.toml > /dev/null 2>&1
echo "train: cache $(du -m out/cache/*.cache | cut -f1) MiB"
"$ABLATE" run train.toml --cpu-slots 2 > run.out 2> run.err &
run=$!
: > samples
while kill -0 "$run" 2> /dev/null; do
  for p in $(pgrep -f "worker $dir" || true); do
    awk -v p="$p" '/RssAnon|RssFile/ {printf "%s %s %s\n", p, $1, $2}' "/proc/$p/status" 2> /dev/null >> samples || true
  done
  sleep 0.2
done
wait "$run" || { cat run.err; exit 1; }
python3 - "$dir/out/ablate.db" "$dir/samples" <<'PY'
import collections, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
try:
    for trial, peak in db.execute("SELECT substr(trial_id, 1, 12), peak_host_bytes FROM attempts ORDER BY id"):
        print(f"train: worker {trial} peak private memory (its own samples) {(peak or 0) / 2**20:.0f} MiB")
except sqlite3.OperationalError:
    print("train: this ablate records no peak memory per attempt")
peaks = collections.defaultdict(dict)
for line in open(sys.argv[2]):
    pid, key, kb = line.split()
    peaks[pid][key] = max(peaks[pid].get(key, 0), int(kb))
for pid, m in sorted(peaks.items()):
    print(f"train: process {pid}: RssAnon peak {m.get('RssAnon:', 0) / 1024:.0f} MiB, RssFile peak {m.get('RssFile:', 0) / 1024:.0f} MiB (sampled every 0.2 s)")
PY
