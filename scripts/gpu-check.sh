#!/usr/bin/env bash
# The GPU check of ablate's CUDA build (docs/gpu.md): about 5 minutes on an NVIDIA GPU machine
# that has the driver, python3 with PyTorch (and its CUDA libraries) and no cargo; it builds
# nothing. Run from the repository root:
#
#   bash scripts/gpu-check.sh          # prints the table; OUT (default ./gpu-out) gets 4 files
#
# What comes back in $OUT, and nothing else (the device tool returns at most 8 files of
# 16 MiB, at most 2 folders deep):
#   gpu-table.md   the table (also printed on stdout at the end), rewritten after every step
#                  so that a run cut short still leaves what it measured
#   results.json   the same as data: every step, every loss compared, every benchmark row
#   logs.tar.gz    logs/STEP.log, the per-step outputs, nvidia-smi samples, the sweeps' records
#   gpu-throughput.json  step c as a table for `ablate plan --estimate --gpu-model` (merge it
#                  into docs/gpu-throughput.json: `python3 scripts/gpu_check.py merge ...`)
# Binaries, trial folders, caches and databases live in $GPU_CHECK_WORK (default
# /tmp/ablate-gpu-check; its nv-cache/ keeps the driver's compiled PTX across reruns).
#
# It expects, carried there (scripts/pack-gpu.sh writes them):
#   gpu/ablate(.gz)      built with `cargo build --release --features cuda` (scripts/build-cuda.sh)
#   gpu/ablate-cpu(.gz)  built without it (the CPU reference)
#   gpu/run-on-gpu.sh    ../shared/tools/cuda-build/run-on-gpu.sh (LD_LIBRARY_PATH to the CUDA
#                        libraries of python's nvidia package; without it the system's are used)
#
# Steps, most informative first, each under its own timeout, recorded ok / FAILED / skipped:
#   a  environment; the first and the second CUDA process (what the PTX JIT costs)
#   b  per-step training losses, CPU against CUDA, BatchNorm off and on (one process each)
#   d  a 4-trial sweep on GPU 0 with --slots-per-gpu 2, and the same sweep on the CPU:
#      scheduling, and each trial's per-epoch losses on both devices
#   e  resume inside a trial: one trial killed with SIGKILL after 3 epochs and resumed from
#      its state, against the same trial never interrupted
#   c  throughput of every depth preset at 64px and 224px, ablate then PyTorch (one process
#      each), with what is left of the budget
#
# Environment:
#   OUT                   where the 4 files go (default ./gpu-out)
#   GPU_CHECK_WORK        everything else (default /tmp/ablate-gpu-check)
#   GPU_CHECK_CPU_ONLY=1  CPU stand-ins for every CUDA step (tiny nets): the same steps and
#                         files on a machine without a GPU, to check this script
#   GPU_CHECK_BUDGET      seconds for all steps (default 300); a step starts only with 15 s left
#   ABLATE_CUDA, ABLATE_CPU, RUN_ON_GPU, PYTHON   override the paths above (PYTHON: python3)
#   GPU_CHECK_PRESETS, GPU_CHECK_SIZES, GPU_CHECK_BATCHES   step c's lists
#   GPU_CHECK_GROUPS      which groups to run (default abdec), e.g. "c" to rerun only step c
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(realpath -m "${GPU_CHECK_WORK:-/tmp/ablate-gpu-check}")
case "$WORK/" in "$OUT"/*)
    echo "error: GPU_CHECK_WORK ($WORK) is inside OUT ($OUT): only the 4 result files may go there; set GPU_CHECK_WORK to a folder outside it" >&2
    exit 2 ;;
esac
mkdir -p "$WORK"
RUN=$WORK/run
LOGS=$RUN/logs
rm -rf "$RUN" "$OUT/gpu-table.md" "$OUT/results.json" "$OUT/logs.tar.gz" "$OUT/gpu-throughput.json"
mkdir -p "$LOGS" "$RUN/out"
PY=${PYTHON:-python3}
CHECK=$ROOT/scripts/gpu_check.py

CPU_ONLY=${GPU_CHECK_CPU_ONLY:-0}
BUDGET=${GPU_CHECK_BUDGET:-300}
# The driver JIT-compiles candle's PTX on a process's first use of each kernel module and
# caches the result here, so only the first CUDA process of a machine pays it (the default
# cache, ~/.nv/ComputeCache, holds 256 MiB; 4 GiB is the most the driver takes).
export CUDA_CACHE_PATH=$WORK/nv-cache CUDA_CACHE_MAXSIZE=4294967296
mkdir -p "$CUDA_CACHE_PATH"

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
# scripts/pack-gpu.sh carries the binaries gzipped (the device tool carries 64 MiB in all).
unpack() {
    if [ ! -x "$1" ] && [ -f "$1.gz" ]; then
        mkdir -p "$WORK/bin"
        gunzip -c "$1.gz" >"$WORK/bin/$(basename "$1")" && chmod +x "$WORK/bin/$(basename "$1")"
        echo "$WORK/bin/$(basename "$1")"
    else
        echo "$1"
    fi
}
ABLATE_CUDA=$(unpack "$(abs "${ABLATE_CUDA:-gpu/ablate}")")
ABLATE_CPU=$(unpack "$(abs "${ABLATE_CPU:-gpu/ablate-cpu}")")
RUN_ON_GPU=$(abs "${RUN_ON_GPU:-gpu/run-on-gpu.sh}")
if [ "$CPU_ONLY" = 1 ] && [ ! -x "$ABLATE_CPU" ]; then
    ABLATE_CPU=$ROOT/target/release/ablate
fi
if [ -f "$RUN_ON_GPU" ]; then CUDA=(bash "$RUN_ON_GPU" "$ABLATE_CUDA"); else CUDA=("$ABLATE_CUDA"); fi
CPU=("$ABLATE_CPU")
if [ "$CPU_ONLY" = 1 ]; then
    # Stand-ins: every "CUDA" command runs the CPU binary on the CPU, with candle's kernels
    # where a step compares against the CPU's fast ones (so the comparison sees real rounding).
    GPU_BIN=("${CPU[@]}")
    DEV=cpu
    GPU_SLOTS=(--cpu-slots 2)
    PRESETS=${GPU_CHECK_PRESETS:-"bench vgg7"}
    SIZES=${GPU_CHECK_SIZES:-"32"}
    BATCHES=${GPU_CHECK_BATCHES:-"4"}
    C_EXTRA=(--width 0.125 --threads 1 --ops fast)
    PT_THREADS=1
    START_EXTRA=(--ops candle --threads 1)
else
    GPU_BIN=("${CUDA[@]}")
    DEV=cuda
    GPU_SLOTS=(--gpus 0 --slots-per-gpu 2)
    PRESETS=${GPU_CHECK_PRESETS:-"bench vgg7 vgg9 vgg11 vgg13 vgg16 vgg19"}
    SIZES=${GPU_CHECK_SIZES:-"64 224"}
    BATCHES=${GPU_CHECK_BATCHES:-"64 32"}
    # With BatchNorm, as the paper's nets train (experiments/paper.toml): these rows are
    # what `ablate plan --estimate --gpu-model` prices its trials with.
    C_EXTRA=(--batch-norm=on)
    PT_THREADS=2
    START_EXTRA=()
fi
list() { echo "$*" | tr ' ' ','; }

STEPS=$RUN/steps.tsv
: >"$STEPS"
now_ms() { date +%s%3N; }
# record ID STATUS SECONDS DETAIL [START_MS END_MS]: one row of the table.
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\t'/ }" "${5:-}" "${6:-}" >>"$STEPS"; }
render() { "$PY" "$CHECK" render "$RUN" "$OUT" 2>>"$LOGS/render.log"; }

# run_step ID TIMEOUT STDOUT CMD...: CMD under `timeout`, capped by what is left of the budget;
# stdout to $RUN/out/STDOUT ("-": into the log), stderr to logs/ID.log. Sets RC, SECS, T0, T1.
# A step with under 15 s of budget left does not start (RC=125).
run_step() {
    local id=$1 t=$2 out=$3
    shift 3
    local left=$((BUDGET - SECONDS))
    SECS=0 T0= T1=
    if ((left < 15)); then RC=125; return 0; fi
    ((t > left)) && t=$left
    echo "[$(date +%T)] $id (timeout ${t}s): $*" >&2
    T0=$(now_ms)
    if [ "$out" = - ]; then
        timeout -k 10 "$t" "$@" >"$LOGS/$id.log" 2>&1 </dev/null
    else
        timeout -k 10 "$t" "$@" >"$RUN/out/$out" 2>"$LOGS/$id.log" </dev/null
    fi
    RC=$?
    T1=$(now_ms)
    SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
}

# finish ID DETAIL: records the step just run as ok, or FAILED with why; rewrites the table.
finish() {
    local id=$1 detail=$2
    case $RC in
        0) record "$id" ok "$SECS" "$detail" "$T0" "$T1" ;;
        125) record "$id" skipped 0 "time budget spent" ;;
        124 | 137) record "$id" FAILED "$SECS" "timed out; see logs/$id.log. $detail" "$T0" "$T1" ;;
        *) record "$id" FAILED "$SECS" "exit $RC; see logs/$id.log: $(tail -n 3 "$LOGS/$id.log" 2>/dev/null | tr '\n' ' ' | cut -c1-300) $detail" "$T0" "$T1" ;;
    esac
    render
}
skip() { record "$1" skipped 0 "$2"; render; }
# check ID SUBCOMMAND RC...: `gpu_check.py SUBCOMMAND` on what the steps before it left (their
# exit codes RC...), skipped when one of them did not start for want of budget.
check() {
    local id=$1 sub=$2 rc
    shift 2
    for rc in "$@"; do
        if [ "$rc" = 125 ]; then skip "$id" "time budget spent"; return 0; fi
    done
    run_step "$id" 30 - "$PY" "$CHECK" "$sub" "$RUN"
    finish "$id" "$(tail -n 1 "$LOGS/$id.log")"
}
# first JSON line's field(s), formatted: jfield FILE FORMAT KEY...
jfield() { "$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(sys.argv[2] % tuple(r[k] for k in sys.argv[3:]))' "$@" 2>/dev/null; }

# Logs and per-step outputs in one archive under 16 MiB: files over 2 MiB keep their last
# 2 MiB; checkpoints, data caches and the sweeps' charts stay out (report.md goes in).
archive() {
    local stage=$WORK/archive
    rm -rf "$stage" && mkdir -p "$stage"
    (cd "$RUN" && find . -type f ! -name '*.safetensors' ! -path '*/cache/*' ! -name '*.cache' \
        ! -name '*.png' ! -name '*.svg' ! -name '*.html' -print0 |
        while IFS= read -r -d '' f; do
            mkdir -p "$stage/$(dirname "$f")"
            if [ "$(stat -c %s "$f")" -gt 2097152 ]; then tail -c 2097152 "$f" >"$stage/$f"; else cp "$f" "$stage/$f"; fi
        done)
    tar -czf "$OUT/.logs.tar.gz.tmp" -C "$stage" . && mv "$OUT/.logs.tar.gz.tmp" "$OUT/logs.tar.gz"
    if [ "$(stat -c %s "$OUT/logs.tar.gz" 2>/dev/null || echo 0)" -gt 15728640 ]; then
        tar -czf "$OUT/logs.tar.gz" -C "$stage" logs out
    fi
    rm -rf "$stage"
}

# ---------------------------------------------------------------- (a) environment, start-up
{
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(hostname)"
    echo "mode: $([ "$CPU_ONLY" = 1 ] && echo "CPU only (GPU_CHECK_CPU_ONLY=1; CUDA steps replaced by CPU stand-ins)" || echo CUDA)"
    echo "ablate (cuda): $ABLATE_CUDA"
    echo "ablate (cpu): $ABLATE_CPU"
    echo "CUDA_CACHE_PATH: $CUDA_CACHE_PATH ($(du -sm "$CUDA_CACHE_PATH" | cut -f1) MiB at the start)"
} >"$RUN/env.txt"
# GPU memory and utilization through the whole run, matched to steps by time in the table.
MONITOR=
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader,nounits -lms 100 \
        >"$RUN/nvsmi.csv" 2>"$LOGS/nvsmi.log" </dev/null &
    MONITOR=$!
fi
trap '[ -n "$MONITOR" ] && kill "$MONITOR" 2>/dev/null' EXIT

group_a() {
    run_step a0-cpu-binary 20 - "${CPU[@]}" --version
    finish a0-cpu-binary "$(head -n 1 "$LOGS/a0-cpu-binary.log" 2>/dev/null)"
    if [ "$CPU_ONLY" = 1 ]; then
        for s in a1-nvidia-smi a2-torch-cuda a0-cuda-binary; do skip $s "GPU_CHECK_CPU_ONLY=1"; done
    else
        run_step a1-nvidia-smi 20 - sh -c 'nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader && nvidia-smi | head -n 4'
        finish a1-nvidia-smi "$(head -n 1 "$LOGS/a1-nvidia-smi.log" 2>/dev/null)"
        sed 's/^/nvidia-smi: /' "$LOGS/a1-nvidia-smi.log" >>"$RUN/env.txt" 2>/dev/null
        # run-on-gpu.sh lists the CUDA libraries it cannot find and exits 127.
        run_step a0-cuda-binary 30 - "${CUDA[@]}" --version
        finish a0-cuda-binary "$(head -n 1 "$LOGS/a0-cuda-binary.log" 2>/dev/null)"
        run_step a2-torch-cuda 45 - "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "available", torch.cuda.is_available(), torch.cuda.get_device_name(0))'
        finish a2-torch-cuda "$(tail -n 1 "$LOGS/a2-torch-cuda.log" 2>/dev/null)"
        tail -n 1 "$LOGS/a2-torch-cuda.log" | sed 's/^/pytorch: /' >>"$RUN/env.txt" 2>/dev/null
    fi
    # The same tiny net twice: the first process JIT-compiles candle's PTX (into an empty cache on
    # a fresh machine), the second finds it cached. Generous timeout for the first.
    START=(bench train --device "$DEV" --depth bench --width 0.25 --size 32 --batch 8 --steps 2 --warmup 1 --jsonl "${START_EXTRA[@]}")
    for k in 1 2; do
        id=a$((k + 2))-start-$k
        run_step $id $((k == 1 ? 150 : 60)) $id.jsonl "${GPU_BIN[@]}" "${START[@]}"
        echo "$(du -sm "$CUDA_CACHE_PATH" | cut -f1) MiB after" >"$RUN/out/a$((k + 2))-cache.txt"
        finish $id "$(jfield "$RUN/out/$id.jsonl" 'on %s: device init %.0f ms, first step %.0f ms, %.0f images/s' device device_init_ms warmup_ms images_per_s)"
    done
}

# ---------------------------------------------------------------- (b) losses per step
group_b() {
    # Width 0.5: on the CPU its two kernel paths stay within ~1e-6 over 10 steps, BatchNorm off
    # and on (width 0.25 without BatchNorm drifts to 1e-2 by step 8: too chaotic to compare).
    STEPNET=(bench train --depth bench --width 0.5 --size 32 --batch 16 --steps 9 --warmup 1 --batch-norm=off,on --jsonl)
    run_step b1-steps-cpu 60 b1-steps-cpu.jsonl "${CPU[@]}" "${STEPNET[@]}" --device cpu --ops both
    finish b1-steps-cpu "$(wc -l <"$RUN/out/b1-steps-cpu.jsonl" 2>/dev/null) reports"
    run_step b2-steps-gpu 60 b2-steps-gpu.jsonl "${GPU_BIN[@]}" "${STEPNET[@]}" --device "$DEV" --ops candle
    finish b2-steps-gpu "$(wc -l <"$RUN/out/b2-steps-gpu.jsonl" 2>/dev/null) reports"
    check b3-compare-steps steps "$RC"
    archive
}

# ---------------------------------------------------------------- (d) sweep, 2 slots on one GPU
sweep_d() { # DEVICE
    cat <<EOF
[sweep]
name = "d-mini"
seeds = 2
output = "d-mini"

[data.faces]
kind = "synthetic-faces"
identities = 40
images_per_identity = 8

[train]
input_size = 32
epochs = 2
batch_size = 16
lr = 0.01
threads = 1
device = "$1"

[defaults]
depth = "vgg7"
width = 0.25
tasks = ["gender", "age"]
encoding = "ldae"

[[study]]
name = "batch-norm"
grid.batch_norm = [false, true]
EOF
}

group_d() {
    # 4 trials (BatchNorm off and on, 2 seeds) of the real trainer, gender + age, on 320 synthetic
    # faces at 32px; the same file with device = "cpu" gives the reference (same trial ids).
    mkdir -p "$RUN/d-gpu" "$RUN/d-cpu"
    sweep_d "$DEV" >"$RUN/d-gpu/d.toml"
    sweep_d cpu >"$RUN/d-cpu/d.toml"
    cd "$RUN/d-gpu" || exit 1
    run_step d1-sweep-gpu 120 - "${GPU_BIN[@]}" run d.toml "${GPU_SLOTS[@]}" --heartbeat-timeout 60
    d_rc=$RC
    finish d1-sweep-gpu "$(grep -m1 '^sweep ' "$LOGS/d1-sweep-gpu.log" 2>/dev/null)"
    [ "$d_rc" != 125 ] && timeout -k 5 30 "${CPU[@]}" status d.toml --json >"$RUN/out/d-status.json" 2>>"$LOGS/d1-sweep-gpu.log" </dev/null
    cd "$RUN/d-cpu" || exit 1
    run_step d2-sweep-cpu 120 - "${CPU[@]}" run d.toml --cpu-slots 2 --heartbeat-timeout 60
    finish d2-sweep-cpu "$(grep -m1 '^sweep ' "$LOGS/d2-sweep-cpu.log" 2>/dev/null)"
    cd "$ROOT" || exit 1
    check d3-check sweep "$d_rc" "$RC"
    archive
}

# ---------------------------------------------------------------- (e) resume inside a trial
sweep_e() { # DEVICE
    cat <<EOF
[sweep]
name = "e-resume"
output = "e"

[data.faces]
kind = "synthetic-faces"
identities = 40
images_per_identity = 8

[train]
input_size = 32
epochs = 10
batch_size = 16
lr = 0.01
threads = 1
device = "$1"
checkpoint_minutes = 0.0005

[[study]]
name = "resume"
fixed = { depth = "vgg7", width = 0.25, batch_norm = true, encoding = "ldae" }
grid.tasks = [["gender", "age"]]
EOF
}

group_e() {
    # One trial on the GPU run through (e1), and the same trial killed with SIGKILL after 3 of
    # its 10 epochs, then resumed from its state by the orchestrator's next attempt (e2): the
    # resumed run's losses against the uninterrupted one's (e3).
    mkdir -p "$RUN/e-plain" "$RUN/e-killed"
    sweep_e "$DEV" >"$RUN/e-plain/e.toml"
    sweep_e "$DEV" >"$RUN/e-killed/e.toml"
    cd "$RUN/e-plain" || exit 1
    run_step e1-trial-gpu 90 - "${GPU_BIN[@]}" run e.toml "${GPU_SLOTS[@]}" --heartbeat-timeout 60
    e_rc=$RC
    finish e1-trial-gpu "$(grep -m1 '^sweep ' "$LOGS/e1-trial-gpu.log" 2>/dev/null)"
    cd "$RUN/e-killed" || exit 1
    run_step e2-killed-gpu 120 - bash "$ROOT/scripts/kill-after-state.sh" "$RUN/e-killed/e/trials" 3 -- \
        "${GPU_BIN[@]}" run e.toml "${GPU_SLOTS[@]}" --heartbeat-timeout 60 --retry-backoff 0.5
    finish e2-killed-gpu "$(grep -m1 'kill-after-state: SIGKILL' "$LOGS/e2-killed-gpu.log" 2>/dev/null | cut -c19-)"
    cd "$ROOT" || exit 1
    check e3-check resume "$e_rc" "$RC"
    archive
}

# ---------------------------------------------------------------- (c) every preset, ablate and PyTorch
group_c() {
    # One process each. ablate gets 60% of what is left (its CUDA convolutions are the slow part),
    # PyTorch mirrors the nets ablate finished; each stops starting steps at its --max-seconds and
    # prints every finished net as it goes, so a cut-short run keeps its rows.
    left=$((BUDGET - SECONDS))
    c1=$(((left - 20) * 6 / 10))
    ((c1 < 20)) && c1=20
    run_step c1-bench-gpu $((c1 + 30)) c1-bench-gpu.jsonl "${GPU_BIN[@]}" bench train --device "$DEV" \
        --depth "$(list $PRESETS)" --size "$(list $SIZES)" --batch "$(list $BATCHES)" --steps 3 --warmup 1 \
        --jsonl --max-seconds "$c1" "${C_EXTRA[@]}"
    finish c1-bench-gpu "$(grep -c images_per_s "$RUN/out/c1-bench-gpu.jsonl" 2>/dev/null) of $(($(echo $PRESETS | wc -w) * $(echo $SIZES | wc -w))) nets measured"
    if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
        skip c2-bench-pytorch "$PY has no torch"
    elif ! grep -q images_per_s "$RUN/out/c1-bench-gpu.jsonl" 2>/dev/null; then
        skip c2-bench-pytorch "no ablate report to mirror"
    else
        left=$((BUDGET - SECONDS - 15))
        run_step c2-bench-pytorch $((left + 10)) c2-bench-pytorch.jsonl "$PY" "$ROOT/scripts/bench_pytorch.py" \
            --like "$RUN/out/c1-bench-gpu.jsonl" --device "$DEV" --steps 3 --warmup 1 --threads "$PT_THREADS" \
            --precision "$([ "$DEV" = cuda ] && echo default,fp32 || echo default)" --max-seconds "$left"
        finish c2-bench-pytorch "$(grep -c images_per_s "$RUN/out/c2-bench-pytorch.jsonl" 2>/dev/null) measurements"
    fi
}

# The groups in the order above; GPU_CHECK_GROUPS (e.g. "c") reruns some of them.
for g in a b d e c; do
    case ${GPU_CHECK_GROUPS:-abdec} in *$g*) "group_$g" ;; esac
done

# ---------------------------------------------------------------- the table
[ -n "$MONITOR" ] && kill "$MONITOR" 2>/dev/null
render
archive
if [ ! -s "$OUT/gpu-table.md" ]; then
    # No python3 (or it failed): the plain step list still makes a table.
    {
        echo "# ablate GPU check"
        echo
        echo "| step | result | seconds | detail |"
        echo "| --- | --- | ---: | --- |"
        awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$STEPS"
    } >"$OUT/gpu-table.md"
fi
cat "$OUT/gpu-table.md"
echo "wrote $OUT/gpu-table.md, results.json, logs.tar.gz ($SECONDS s)" >&2
grep -q $'\tFAILED\t' "$STEPS" && exit 1
exit 0
