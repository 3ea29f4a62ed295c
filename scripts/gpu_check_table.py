#!/usr/bin/env python3
"""The GPU check's table (gpu-table.md, results.json, gpu-throughput.json) and the merge of a
GPU's throughput rows into docs/gpu-throughput.json; run through scripts/gpu_check.py."""

import datetime
import json
import os

from gpu_check import (STEP1_TOL, STEP_TOL, gpu_name, jsonl, load, nvsmi_samples, peak_in, worst)


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
            w = worst(t["rows"])
            p(f"| {t['trial'][:12]} | {len(t['rows'])} | {w['rel']:.1e} ({w['what']}) | {w['tol']:.0e} | {'ok' if all(r['ok'] for r in t['rows']) else 'OVER'} |")
        if d.get("memory"):
            p(f"\nRecorded peak GPU memory (each attempt's tensors, the CUDA pool's high-water mark): {d['memory']['summary']}.")
        for why in d.get("problems", []):
            p(f"- {why}")
    else:
        p("not available (see steps d1-d3)")

    e = load(f"{run}/out/e3-check.json")
    p("\n## (e) Resume inside a trial on the GPU: killed after some epochs, resumed, against the trial never interrupted\n")
    if e:
        w = worst(e["rows"])
        p(f"{e['attempts']} attempts; the last: {e['resumed'] or 'no resume'}. "
          + (f"{len(e['rows'])} values compared, worst relative difference {w['rel']:.1e} ({w['what']}, tolerance {w['tol']:.0e}): {'ok' if e['ok'] else 'OVER'}." if w else "Nothing compared."))
        for why in e["problems"]:
            p(f"- {why}")
    else:
        p("not available (see steps e1-e3)")

    ours, theirs = jsonl(f"{run}/out/c1-bench-gpu.jsonl"), jsonl(f"{run}/out/c2-bench-pytorch.jsonl")
    p("\n## (c) Training throughput, ablate (candle) and PyTorch on the same device\n")
    p("Random data, 10 classes, SGD; images/s over the timed steps after one warm-up step. PyTorch `default`: its defaults (cuDNN, TF32 convolutions allowed); `fp32`: TF32 off, the arithmetic candle does. Peak MiB: nvidia-smi's during the entry (the whole device, CUDA context included); allocated MiB: the peak of the net's tensors, ablate's from the CUDA memory pool's high-water mark, PyTorch's `max_memory_allocated`.\n")
    p("| preset | size | batch | ablate img/s | fwd ms | bwd+upd ms | peak MiB | allocated MiB | PyTorch img/s | fp32 img/s | allocated MiB | PyTorch / ablate |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
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
        p(f"| {r.get('depth')}{bn} | {r.get('size')} | {r.get('batch')} | {ips(r)} | {f1('forward_ms')} | {f1('backward_update_ms')} | {mib(peak)} | {mib(r.get('peak_gpu_allocated_mb'))} | {ips(td)} | {ips(tf)} | {mib(td.get('peak_allocated_mb'))} | {ratio} |")
    errors = [r for r in ours + theirs if "error" in r]
    for r in errors[:8]:
        p(f"\n- {r.get('framework', 'ablate')} {r.get('depth')} {r.get('size')}px: {r['error'][:300]}")

    text = "\n".join(L) + "\n"
    tmp = f"{out}/.gpu-table.md.tmp"
    open(tmp, "w").write(text)
    os.replace(tmp, f"{out}/gpu-table.md")
    results = {"env": env, "steps": steps, "start": start, "steps_compare": b, "sweep": d, "resume": e, "bench": bench_rows,
               "errors": errors, "nvsmi_samples": len(samples)}
    json.dump(results, open(f"{out}/.results.json.tmp", "w"), indent=1)
    os.replace(f"{out}/.results.json.tmp", f"{out}/results.json")
    json.dump(throughput(run, bench_rows), open(f"{out}/.gpu-throughput.json.tmp", "w"), indent=1)
    os.replace(f"{out}/.gpu-throughput.json.tmp", f"{out}/gpu-throughput.json")
    return 0
