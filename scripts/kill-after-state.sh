#!/usr/bin/env bash
# Interrupts a sweep's only trial once, at a known point, for the GPU check's resume step
# (scripts/gpu-check.sh, group e):
#
#   bash scripts/kill-after-state.sh TRIALS_DIR EPOCHS -- ablate run SWEEP.toml ...
#
# runs the command in the background, waits until TRIALS_DIR/*/ holds a resumable state and
# EPOCHS lines of metrics.jsonl, sends SIGKILL to that trial's worker (as a preempted or
# crashed process ends: no chance to save anything more), and waits for the command, whose
# orchestrator retries the trial from its state. Exits with the command's status; 3 when
# the trial ended before it could be interrupted (make it longer), 4 when no worker was found.
set -u
dir=$1 epochs=$2
shift 3
workers_of() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- " worker $1" && echo "${p#/proc/}"
    done
}
"$@" &
run=$!
killed=
while kill -0 "$run" 2>/dev/null; do
    for t in "$dir"/*/; do
        [ -f "$t/state.safetensors" ] || continue
        [ "$(wc -l <"$t/metrics.jsonl" 2>/dev/null || echo 0)" -ge "$epochs" ] || continue
        # The worker's command line names its trial file by its absolute path (fixed-string
        # match: another check's worker of the same trial id lives under another folder).
        pids=$(workers_of "$(realpath "$t")/trial.json")
        if [ -z "$pids" ]; then
            kill "$run" 2>/dev/null
            wait "$run"
            echo "kill-after-state: no worker process of $t found" >&2
            exit 4
        fi
        echo "kill-after-state: SIGKILL to worker $pids of $(basename "$t") after $(wc -l <"$t/metrics.jsonl") epochs" >&2
        kill -9 $pids
        killed=1
        break 2
    done
    sleep 0.02
done
wait "$run"
rc=$?
if [ -z "$killed" ]; then
    echo "kill-after-state: the trial ended (exit $rc) before it had $epochs epochs and a state" >&2
    exit 3
fi
exit $rc
