#!/usr/bin/env python3
"""The checks and the table of scripts/gpu-check.sh (docs/gpu.md), standard library only:

    gpu_check.py steps RUN      per-step losses, CPU against CUDA, BatchNorm off and on
    gpu_check.py sweep RUN      the 4-trial sweep: scheduling, and each trial's losses on both devices
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
        worst = max(s["rows"], key=lambda r: r["rel"] / r["tol"])
        parts.append("batch_norm %s: step 1 %.1e, worst %.1e at step %d (CPU paths %.1e)" % (
            "on" if s["batch_norm"] else "off", s["rows"][0]["rel"], worst["rel"], worst["step"],
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
    json.dump({"ok": ok, "succeeded": ok_n, "attempts": len(rows), "at_once": peak, "slots": slots, "trials": trials, "problems": problems},
              open(f"{run}/out/d3-check.json", "w"), indent=1)
    worst = max((r for t in trials for r in t["rows"]), key=lambda r: r["rel"] / r["tol"], default=None)
    print(f"{ok_n}/4 succeeded, {len(rows)} attempts, at most {peak} at once, slots {' '.join(slots)}; "
          + (f"losses of {len(trials)} trials against the CPU: worst {worst['rel']:.1e} ({worst['what']})" if worst else "no losses compared")
          + ("; " + "; ".join(problems) if problems else ""))
    return 0 if ok else 1


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


def throughput(run, bench_rows):
    """Step c's measurements as a table `ablate plan --estimate --gpu-table` reads: one row
    per net, input size and batch (the fast kernel path where a CPU stand-in ran both)."""
    rows = {}
    for b in bench_rows:
        r = b["ablate"]
        if "images_per_s" not in r or not r.get("forward_ms"):
            continue
        key = (r["depth"], r["width"], r["size"], r["batch"], r["batch_norm"])
        if key in rows and r.get("ops") != "fast":
            continue
        rows[key] = {"depth": r["depth"], "width": r["width"], "size": r["size"], "batch": r["batch"],
                     "batch_norm": r["batch_norm"], "train_images_per_s": r["images_per_s"],
                     "forward_images_per_s": 1e3 * r["batch"] / r["forward_ms"],
                     "peak_gpu_mib": b.get("peak_gpu_mib")}
    day = datetime.date.today().isoformat()
    return {"gpu": gpu_name(run), "measured": f"{day}, scripts/gpu-check.sh step c ({len(rows)} nets)",
            "rows": list(rows.values())}


def key(name):
    """As ablate compares GPU models: case, punctuation and a leading "nvidia" do not matter."""
    words = [w.lower() for w in "".join(c if c.isalnum() else " " for c in name).split()]
    return "-".join(words[1:] if len(words) > 1 and words[0] == "nvidia" else words)


def merge(table_path, file_path):
    table = json.load(open(table_path))
    doc = json.load(open(file_path))
    doc["tables"] = [t for t in doc["tables"] if key(t["gpu"]) != key(table["gpu"])] + [table]
    tmp = f"{file_path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, file_path)
    print(f"{file_path}: {table['gpu']}, {len(table['rows'])} rows")
    return 0


def render(run, out):
    steps = []
    for line in open(f"{run}/steps.tsv"):
        if line.strip():
            f = line.rstrip("\n").split("\t")
            steps.append({"id": f[0], "status": f[1], "seconds": float(f[2]), "detail": f[3],
                          "start_ms": int(f[4]) if len(f) > 4 and f[4] else None, "end_ms": int(f[5]) if len(f) > 5 and f[5] else None})
    samples = nvsmi_samples(run)
    for s in steps:
        s["peak_gpu_mib"] = peak_in(samples, s["start_ms"], s["end_ms"]) if s["start_ms"] else None
    env = open(f"{run}/env.txt").read().strip() if os.path.exists(f"{run}/env.txt") else ""
    L = []
    p = L.append
    p("# ablate GPU check\n")
    p("```")
    p(env)
    p("```\n")
    n = {k: sum(1 for s in steps if s["status"] == k) for k in ("ok", "FAILED", "skipped")}
    p(f"{n['ok']} ok, {n['FAILED']} FAILED, {n['skipped']} skipped (steps in the order they ran). Logs: logs.tar.gz, logs/STEP.log.\n")
    p("| step | result | seconds | peak GPU MiB | detail |")
    p("| --- | --- | ---: | ---: | --- |")
    mib = lambda v: "-" if v is None else f"{v:.0f}"
    for s in steps:
        p(f"| {s['id']} | {s['status']} | {s['seconds']:.1f} | {mib(s['peak_gpu_mib'])} | {s['detail'].replace('|', '/')} |")
    p("\nPeak GPU MiB: the most `nvidia-smi` showed in use on the GPU during the step (sampled every 100 ms, CUDA contexts included).")

    start = [jsonl(f"{run}/out/a{i}-start-{k}.jsonl") for i, k in ((3, 1), (4, 2))]
    secs = {s["id"]: s["seconds"] for s in steps}
    if any(start):
        p("\n## Start-up: the first and second CUDA process\n")
        p("| process | wall s | device init ms | first step ms (PTX JIT on a cold cache) | CUDA cache |")
        p("| --- | ---: | ---: | ---: | --- |")
        for (i, k), rows in zip(((3, 1), (4, 2)), start):
            r = rows[0] if rows and "warmup_ms" in rows[0] else {}
            cache = open(f"{run}/out/a{i}-cache.txt").read().strip() if os.path.exists(f"{run}/out/a{i}-cache.txt") else "-"
            dev_ms = f"{r['device_init_ms']:.0f}" if r.get("device_init_ms") is not None else "-"
            first = f"{r['warmup_ms']:.0f}" if "warmup_ms" in r else "-"
            p(f"| {'first' if k == 1 else 'second'} | {secs.get(f'a{i}-start-{k}', 0):.1f} | {dev_ms} | {first} | {cache} |")

    b = load(f"{run}/out/b3-compare-steps.json")
    p("\n## (b) Training losses per step, CPU and CUDA, same net, data and seed\n")
    if b:
        s0 = b["settings"][0]
        p(f"`bench train --depth {s0['depth']} --width {s0['width']} --size {s0['size']} --batch {s0['batch']}`; "
          f"relative difference of each step's loss from the CPU's (fast kernels); beside it the CPU's two kernel paths against each other. Tolerance: step 1 {STEP1_TOL:.0e}, later {STEP_TOL:.0e}.\n")
        p("| step | loss, no BatchNorm | CUDA rel diff | CPU paths | loss, BatchNorm | CUDA rel diff | CPU paths | |")
        p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        off, on = b["settings"]
        for r0, r1 in zip(off["rows"], on["rows"]):
            verdict = "ok" if r0["ok"] and r1["ok"] else "OVER"
            p(f"| {r0['step']} | {r0['cpu']:.5f} | {r0['rel']:.1e} | {r0['baseline_rel']:.1e} | {r1['cpu']:.5f} | {r1['rel']:.1e} | {r1['baseline_rel']:.1e} | {verdict} |")
    else:
        p("not available (see steps b1-b3)")

    d = load(f"{run}/out/d3-check.json")
    p("\n## (d) The 4-trial sweep on one GPU, 2 slots: each trial against the same trial on the CPU\n")
    if d:
        p(f"{d['succeeded']}/4 succeeded, {d['attempts']} attempts, at most {d['at_once']} at once, slots {' '.join(d['slots'])}.\n")
        p("| trial | values compared | worst relative difference | tolerance | |")
        p("| --- | ---: | ---: | ---: | --- |")
        for t in d["trials"]:
            w = max(t["rows"], key=lambda r: r["rel"] / r["tol"])
            p(f"| {t['trial'][:12]} | {len(t['rows'])} | {w['rel']:.1e} ({w['what']}) | {w['tol']:.0e} | {'ok' if all(r['ok'] for r in t['rows']) else 'OVER'} |")
    else:
        p("not available (see steps d1-d3)")

    ours, theirs = jsonl(f"{run}/out/c1-bench-gpu.jsonl"), jsonl(f"{run}/out/c2-bench-pytorch.jsonl")
    p("\n## (c) Training throughput, ablate (candle) and PyTorch on the same device\n")
    p("Random data, 10 classes, SGD; images/s over the timed steps after one warm-up step. PyTorch `default`: its defaults (cuDNN, TF32 convolutions allowed); `fp32`: TF32 off, the arithmetic candle does. Peak MiB: nvidia-smi's during the entry (ablate), `max_memory_allocated` (PyTorch).\n")
    p("| preset | size | batch | ablate img/s | fwd ms | bwd+upd ms | peak MiB | PyTorch img/s | fp32 img/s | peak MiB | PyTorch / ablate |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    bench_rows = []
    for r in ours:
        key = (r.get("depth"), r.get("size"), r.get("batch"), r.get("batch_norm"))
        t = {x.get("precision"): x for x in theirs if (x.get("depth"), x.get("size"), x.get("batch"), x.get("batch_norm")) == key}
        td, tf = t.get("default", {}), t.get("fp32", {})
        peak = peak_in(samples, r["started_unix_ms"], r["ended_unix_ms"]) if "started_unix_ms" in r else None
        bench_rows.append({"ablate": r, "pytorch": td or None, "pytorch_fp32": tf or None, "peak_gpu_mib": peak})
        ips = lambda x: f"{x['images_per_s']:.1f}" if "images_per_s" in x else ("error" if "error" in x else "-")
        ratio = f"{td['images_per_s'] / r['images_per_s']:.2f}x" if "images_per_s" in td and r.get("images_per_s") else "-"
        f1 = lambda k: f"{r[k]:.1f}" if k in r else "-"
        bn = "+bn" if r.get("batch_norm") else ""
        p(f"| {r.get('depth')}{bn} | {r.get('size')} | {r.get('batch')} | {ips(r)} | {f1('forward_ms')} | {f1('backward_update_ms')} | {mib(peak)} | {ips(td)} | {ips(tf)} | {mib(td.get('peak_allocated_mb'))} | {ratio} |")
    errors = [r for r in ours + theirs if "error" in r]
    for r in errors[:8]:
        p(f"\n- {r.get('framework', 'ablate')} {r.get('depth')} {r.get('size')}px: {r['error'][:300]}")

    text = "\n".join(L) + "\n"
    tmp = f"{out}/.gpu-table.md.tmp"
    open(tmp, "w").write(text)
    os.replace(tmp, f"{out}/gpu-table.md")
    results = {"env": env, "steps": steps, "start": start, "steps_compare": b, "sweep": d, "bench": bench_rows,
               "errors": errors, "nvsmi_samples": len(samples)}
    json.dump(results, open(f"{out}/.results.json.tmp", "w"), indent=1)
    os.replace(f"{out}/.results.json.tmp", f"{out}/results.json")
    json.dump(throughput(run, bench_rows), open(f"{out}/.gpu-throughput.json.tmp", "w"), indent=1)
    os.replace(f"{out}/.gpu-throughput.json.tmp", f"{out}/gpu-throughput.json")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "steps":
        sys.exit(steps_check(sys.argv[2]))
    if cmd == "sweep":
        sys.exit(sweep_check(sys.argv[2]))
    if cmd == "render":
        sys.exit(render(sys.argv[2], sys.argv[3]))
    if cmd == "merge":
        sys.exit(merge(sys.argv[2], sys.argv[3]))
    sys.exit(__doc__)
