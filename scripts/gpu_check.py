#!/usr/bin/env python3
"""The checks of scripts/gpu-check.sh (docs/gpu.md; the table: gpu_check_table.py), standard library only:

    gpu_check.py steps RUN      per-step losses, CPU against CUDA, BatchNorm off and on
    gpu_check.py sweep RUN      the 4-trial sweep: scheduling, each trial's losses on both devices,
                                each attempt's recorded peak GPU memory
    gpu_check.py resume RUN     a trial killed mid-run and resumed on the GPU, against the same
                                trial never interrupted
    gpu_check.py render RUN OUT gpu-table.md, results.json and gpu-throughput.json from RUN
    gpu_check.py merge TABLE FILE   put TABLE's GPU (a gpu-throughput.json) into FILE
                                    (docs/gpu-throughput.json), replacing that GPU's rows

RUN is the check's work folder (outside OUT): steps.tsv, env.txt, nvsmi.csv, out/, d-*/.
"""

import datetime
import glob
import json
import os
import sqlite3
import sys

# Why these tolerances. Both sides start from the same weights (drawn on the host from the
# seed) and see the same batches, augmentations and dropout masks (host-side, seeded), so they
# differ only in float32 rounding: summation orders differ (ablate's Winograd and im2col+gemm on
# the CPU, candle's kernels and cuBLAS on CUDA; some CUDA backward kernels accumulate with
# atomics), a few ulps (~1e-7 relative) per op. Step 1's loss comes before any update: only the
# forward pass, 1e-4. Every update carries the rounding forward and a non-convex net amplifies
# it, so later steps get 1e-2; the CPU's two kernel paths (fast against candle's), shown beside
# as a baseline, stay near 1e-6 on these nets. A wrong kernel, layout or reduction shows up as
# 10% and more from the first step.
STEP1_TOL, STEP_TOL = 1e-4, 1e-2
# The real trainer over whole epochs (the sweep): epoch 1's mean training loss 1e-3, its
# validation loss (after all of epoch 1's steps) 1e-2, later epochs and the test loss 5e-2.
EPOCH1_TRAIN_TOL, EPOCH1_VAL_TOL, LATER_TOL = 1e-3, 1e-2, 5e-2


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def worst(rows):
    """The row closest to (or furthest over) its tolerance."""
    return max(rows, key=lambda r: r["rel"] / r["tol"], default=None)


def jsonl(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except (OSError, ValueError):
        return []


def load(path, default=None):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return default


def steps_check(run):
    """b: `bench train --jsonl` on the CPU (both kernel paths) and on CUDA."""
    cpu, gpu = jsonl(f"{run}/out/b1-steps-cpu.jsonl"), jsonl(f"{run}/out/b2-steps-gpu.jsonl")
    pick = lambda rows, bn, ops: next((r for r in rows if r.get("batch_norm") == bn and r.get("ops") == ops and "losses" in r), None)
    result, ok = {"settings": []}, True
    for bn in (False, True):
        fast, cand = pick(cpu, bn, "fast"), pick(cpu, bn, "candle")
        other = pick(gpu, bn, "candle")
        if not (fast and cand and other):
            raise SystemExit(f"batch_norm {bn}: missing report (cpu fast {bool(fast)}, cpu candle {bool(cand)}, other {bool(other)})")
        rows = []
        for i, (f, c, g) in enumerate(zip(fast["losses"], cand["losses"], other["losses"])):
            tol = STEP1_TOL if i == 0 else STEP_TOL
            r = rel(f, g)
            ok &= r <= tol
            rows.append({"step": i + 1, "cpu": f, "other": g, "rel": r, "baseline_rel": rel(f, c), "tol": tol, "ok": r <= tol})
        if len(fast["losses"]) != len(other["losses"]):
            raise SystemExit(f"batch_norm {bn}: {len(fast['losses'])} steps on the CPU, {len(other['losses'])} on the other")
        result["settings"].append({"batch_norm": bn, "depth": fast["depth"], "width": fast["width"], "size": fast["size"], "batch": fast["batch"], "rows": rows})
    result["ok"] = ok
    json.dump(result, open(f"{run}/out/b3-compare-steps.json", "w"), indent=1)
    parts = []
    for s in result["settings"]:
        w = worst(s["rows"])
        parts.append("batch_norm %s: step 1 %.1e, worst %.1e at step %d (CPU paths %.1e)" % (
            "on" if s["batch_norm"] else "off", s["rows"][0]["rel"], w["rel"], w["step"],
            max(r["baseline_rel"] for r in s["rows"])))
    print("; ".join(parts))
    return 0 if ok else 1


def metrics(d):
    """Per trial folder name: (epochs of metrics.jsonl, test loss or None)."""
    out = {}
    for m in glob.glob(os.path.join(d, "trials", "*", "metrics.jsonl")):
        trial = os.path.basename(os.path.dirname(m))
        res = load(os.path.join(os.path.dirname(m), "result.json"), {}) or {}
        out[trial] = (jsonl(m), (res.get("test") or {}).get("loss"))
    return out


def sweep_check(run):
    """d: 4 trials through the orchestrator on one GPU with 2 slots, then each trial's losses
    against the same trial (same id: the device is not part of it) run on the CPU."""
    status = load(f"{run}/out/d-status.json", {}) or {}
    ok_n = (status.get("counts") or {}).get("succeeded", 0)
    con = sqlite3.connect(f"file:{run}/d-gpu/d-mini/ablate.db?mode=ro", uri=True)
    rows = con.execute("SELECT slot, device, started_at, ended_at, state FROM attempts ORDER BY id").fetchall()
    # Most attempts at once: an end sorts before a start at the same time (a slot's next
    # trial starts after its previous one ended).
    events = sorted([(r[2], 1) for r in rows] + [(r[3] or "9999", -1) for r in rows], key=lambda e: (e[0], e[1]))
    at_once = peak = 0
    for _, d in events:
        at_once += d
        peak = max(peak, at_once)
    slots = sorted({r[0] for r in rows})
    gpu, cpu = metrics(f"{run}/d-gpu/d-mini"), metrics(f"{run}/d-cpu/d-mini")
    trials, ok = [], ok_n == 4 and len(rows) == 4 and peak <= 2
    problems = [] if ok else [f"{ok_n}/4 succeeded, {len(rows)} attempts, {peak} at once"]
    for t in sorted(gpu):
        if t not in cpu:
            ok = False
            problems.append(f"trial {t} has no CPU run")
            continue
        (ge, gt), (ce, ct) = gpu[t], cpu[t]
        checks = []
        for c, g in zip(ce, ge):
            e = c["epoch"]
            checks.append((f"epoch {e} train_loss", c["train_loss"], g["train_loss"], EPOCH1_TRAIN_TOL if e == 1 else LATER_TOL))
            checks.append((f"epoch {e} val loss", c["val"]["loss"], g["val"]["loss"], EPOCH1_VAL_TOL if e == 1 else LATER_TOL))
        if ct is not None and gt is not None:
            checks.append(("test loss", ct, gt, LATER_TOL))
        if len(ce) != len(ge) or not checks:
            ok = False
            problems.append(f"trial {t}: {len(ce)} epochs on the CPU, {len(ge)} on the other")
            continue
        rows_t = [{"what": w, "cpu": a, "other": b, "rel": rel(a, b), "tol": tol, "ok": rel(a, b) <= tol} for w, a, b, tol in checks]
        ok &= all(r["ok"] for r in rows_t)
        trials.append({"trial": t, "rows": rows_t})
    memory, why = memory_check(run, con)
    ok &= not why
    problems += why
    json.dump({"ok": ok, "succeeded": ok_n, "attempts": len(rows), "at_once": peak, "slots": slots, "trials": trials,
               "memory": memory, "problems": problems},
              open(f"{run}/out/d3-check.json", "w"), indent=1)
    w = worst([r for t in trials for r in t["rows"]])
    print(f"{ok_n}/4 succeeded, {len(rows)} attempts, at most {peak} at once, slots {' '.join(slots)}; "
          + (f"losses of {len(trials)} trials against the CPU: worst {w['rel']:.1e} ({w['what']})" if w else "no losses compared")
          + f"; {memory['summary']}"
          + ("; " + "; ".join(problems) if problems else ""))
    return 0 if ok else 1


def step_span(run, step):
    """(start, end) in unix ms of a step that ran, from steps.tsv; None before it is recorded."""
    try:
        for line in open(f"{run}/steps.tsv"):
            f = line.rstrip("\n").split("\t")
            if f[0] == step and len(f) > 5 and f[4] and f[5]:
                return int(f[4]), int(f[5])
    except OSError:
        pass
    return None


def memory_check(run, con):
    """Each attempt's peak GPU memory as ablate recorded it (the pool's high-water mark of
    tensor bytes): on a GPU at least the trial's weights (4 bytes a parameter) and at most what
    nvidia-smi saw in use on the whole device during the sweep; on the CPU, none at all."""
    rows = con.execute("SELECT trial_id, device, peak_gpu_bytes FROM attempts WHERE state = 'succeeded'").fetchall()
    span = step_span(run, "d1-sweep-gpu")
    smi = peak_in(nvsmi_samples(run), *span) if span else None
    params = {}
    for trial_dir in glob.glob(f"{run}/d-gpu/d-mini/trials/*"):
        r = load(f"{trial_dir}/result.json", {}) or {}
        params[r.get("trial", "")] = r.get("parameters")
    problems, mibs = [], []
    for trial, device, peak in rows:
        short = trial[:12]
        if not device.startswith("cuda"):
            if peak is not None:
                problems.append(f"trial {short} on {device} recorded {peak} bytes of GPU memory")
            continue
        if not peak:
            problems.append(f"trial {short} on {device} recorded no peak GPU memory")
            continue
        mibs.append(peak / 2**20)
        floor = 4 * (params.get(trial) or 0)
        if peak < floor:
            problems.append(f"trial {short}: peak GPU memory {peak} bytes is below its weights' {floor}")
        if smi is not None and peak / 2**20 > smi:
            problems.append(f"trial {short}: peak GPU memory {peak / 2**20:.1f} MiB is above nvidia-smi's {smi:.0f} MiB for the whole device")
    if mibs:
        summary = f"peak GPU memory per attempt {min(mibs):.1f}-{max(mibs):.1f} MiB (nvidia-smi, whole device: {'-' if smi is None else f'{smi:.0f}'} MiB)"
    else:
        summary = "no attempt ran on a GPU, and none recorded a GPU peak (right for the CPU)"
    return {"attempts_mib": mibs, "nvidia_smi_mib": smi, "summary": summary}, problems


def attempts_of(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        return con.execute("SELECT state, message FROM attempts ORDER BY id").fetchall()
    except sqlite3.Error:
        return []


def resume_check(run):
    """e: one trial run through on the GPU, and the same trial killed (SIGKILL to its worker)
    after some epochs, resumed by the orchestrator's next attempt from its state. On CUDA the
    two differ by the rounding the sweep check allows (CUDA's atomics make even two
    uninterrupted runs differ); on the CPU stand-in they are equal."""
    plain, killed = metrics(f"{run}/e-plain/e"), metrics(f"{run}/e-killed/e")
    attempts = attempts_of(f"{run}/e-killed/e/ablate.db")
    problems = []
    if len(plain) != 1 or len(killed) != 1 or set(plain) != set(killed):
        problems.append(f"{len(plain)} uninterrupted and {len(killed)} interrupted trials, not the same one")
    if len(attempts) < 2 or attempts[-1][0] != "succeeded" or "resumed from" not in (attempts[-1][1] or ""):
        problems.append(f"attempts {attempts}: not a killed attempt then one resumed from its state")
    rows = []
    for t in set(plain) & set(killed):
        (pe, pt), (ke, kt) = plain[t], killed[t]
        if len(pe) != len(ke):
            problems.append(f"{len(pe)} epochs uninterrupted, {len(ke)} resumed")
        for a, b in zip(pe, ke):
            e = a["epoch"]
            for what, x, y in ((f"epoch {e} train_loss", a["train_loss"], b["train_loss"]), (f"epoch {e} val loss", a["val"]["loss"], b["val"]["loss"])):
                tol = (EPOCH1_TRAIN_TOL if "train" in what else EPOCH1_VAL_TOL) if e == 1 else LATER_TOL
                rows.append({"what": what, "plain": x, "resumed": y, "rel": rel(x, y), "tol": tol, "ok": rel(x, y) <= tol})
        if pt is None or kt is None:
            problems.append("no test loss")
        else:
            rows.append({"what": "test loss", "plain": pt, "resumed": kt, "rel": rel(pt, kt), "tol": LATER_TOL, "ok": rel(pt, kt) <= LATER_TOL})
    problems += [f"{r['what']}: {r['rel']:.1e} over {r['tol']:.0e}" for r in rows if not r["ok"]]
    resumed = attempts[-1][1] if attempts else None
    json.dump({"ok": not problems, "attempts": len(attempts), "resumed": resumed, "rows": rows, "problems": problems},
              open(f"{run}/out/e3-check.json", "w"), indent=1)
    w = worst(rows)
    print(f"{len(attempts)} attempts ({resumed or 'no resume'}); "
          + (f"{len(rows)} values against the uninterrupted run: worst {w['rel']:.1e} ({w['what']})" if w else "nothing compared")
          + ("; " + "; ".join(problems) if problems else ""))
    return 0 if not problems else 1


def nvsmi_samples(run):
    """(unix ms, MiB used, utilization %) from `nvidia-smi --query-gpu=timestamp,memory.used,...`."""
    out = []
    try:
        for line in open(f"{run}/nvsmi.csv"):
            parts = [p.strip() for p in line.split(",")]
            try:
                t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
                out.append((int(t * 1000), float(parts[1]), float(parts[2])))
            except (ValueError, IndexError):
                continue
    except OSError:
        pass
    return out


def peak_in(samples, start, end):
    inside = [m for t, m, _ in samples if start <= t <= end]
    return max(inside) if inside else None


def gpu_name(run):
    """The GPU's model as nvidia-smi names it (step a1), or what stood in for it."""
    try:
        first = open(f"{run}/logs/a1-nvidia-smi.log").readline().split(",")[0].strip()
    except OSError:
        first = ""
    return first or "CPU stand-in (GPU_CHECK_CPU_ONLY=1)"


if __name__ == "__main__":
    import gpu_check_table as table
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "steps":
        sys.exit(steps_check(sys.argv[2]))
    if cmd == "sweep":
        sys.exit(sweep_check(sys.argv[2]))
    if cmd == "resume":
        sys.exit(resume_check(sys.argv[2]))
    if cmd == "render":
        sys.exit(table.render(sys.argv[2], sys.argv[3]))
    if cmd == "merge":
        sys.exit(table.merge(sys.argv[2], sys.argv[3]))
    sys.exit(__doc__)
