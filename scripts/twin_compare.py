#!/usr/bin/env python3
"""Train the trials of one configuration of a finished ablate sweep again in plain
PyTorch (scripts/torch_twin.py, on the split `ablate data split` exports) and put
both results side by side over the same seeds.

    python3 scripts/twin_compare.py runs/utkface-cpu \\
        --where depth=vgg9 tasks=age encoding=ldae-s2 pretrain=none [--jobs 2] [--out DIR]

Prints a Markdown table (per seed: ablate's and PyTorch's test metrics and
training images/s) with each side's mean and 95% t-interval over seeds, and
whether ablate's mean is inside or better than PyTorch's interval; writes the
twins' JSON lines under --out. `--jobs 2` runs two twins at once, as `ablate run`
ran two 1-thread trials at once on 2 cores, so images/s are comparable.
"""
import argparse
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
# Two-sided 95% Student t quantiles, df = 1..30 (scipy.stats.t.ppf(0.975, df)).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
# (metric, JSON path in ablate's result.json, path in the twin's, lower is better)
METRICS = [
    ("age MAE (expected value)", ("test", "age", "expected", "mae"), ("test", "age", "expected_mae"), True),
    ("age MAE (argmax)", ("test", "age", "argmax", "mae"), ("test", "age", "argmax_mae"), True),
    ("age CS(5)", ("test", "age", "expected", "cs", 5), ("test", "age", "cs5"), False),
    ("gender accuracy", ("test", "gender", "accuracy"), ("test", "gender", "accuracy"), False),
]


def dig(d, path):
    for k in path:
        if d is None:
            return None
        d = d[k] if isinstance(k, int) and isinstance(d, list) and k < len(d) else (
            d.get(k) if isinstance(d, dict) else None)
    return d


def interval(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan"), float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = T975[min(n - 1, len(T975)) - 1] * sd / math.sqrt(n)
    return m, m - h, m + h


def trials(out_dir, where):
    found = []
    root = os.path.join(out_dir, "trials")
    for tid in sorted(os.listdir(root)):
        d = os.path.join(root, tid)
        tj, rj = os.path.join(d, "trial.json"), os.path.join(d, "result.json")
        if not (os.path.exists(tj) and os.path.exists(rj)):
            continue
        trial = json.load(open(tj))
        if all(trial.get("labels", {}).get(k) == v for k, v in where.items()):
            found.append((trial["config"]["seed"], d, trial, json.load(open(rj))))
    return sorted(found, key=lambda t: t[0])


def ablate_rates(d, n_train):
    """Mean images/s of the training loop, and of whole epochs (validation included)."""
    lines = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
    loop = sum(e["images_per_s"] for e in lines) / len(lines)
    walls = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip([{"elapsed_s": 0.0}] + lines, lines)]
    return loop, sum(n_train / w for w in walls) / len(walls)


def twin_rates(log, n_train):
    lines = [json.loads(l) for l in open(log) if l.startswith('{"epoch"')]
    return (sum(e["images_per_s"] for e in lines) / len(lines),
            sum(n_train / e["epoch_s_with_val"] for e in lines) / len(lines))


def twin(ablate, d, out, python):
    split = os.path.join(out, os.path.basename(d) + "-split.csv")
    subprocess.run([ablate, "data", "split", os.path.join(d, "trial.json"), "--out", split], check=True)
    log = os.path.join(out, os.path.basename(d) + "-twin.jsonl")
    with open(log, "w") as f:
        p = subprocess.run([python, os.path.join(HERE, "torch_twin.py"), os.path.join(d, "trial.json"),
                            "--split", split], stdout=subprocess.PIPE, stderr=f, text=True)
    if p.returncode != 0:
        sys.exit(f"torch_twin.py failed on {d} (exit {p.returncode}); its log: {log}")
    last = json.loads(p.stdout.strip().splitlines()[-1])
    last["rates"] = twin_rates(log, last["images"]["train"])
    with open(log, "a") as f:
        f.write(json.dumps(last) + "\n")
    return last


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_output", help="the sweep's output folder ([sweep] output), e.g. runs/utkface-cpu")
    ap.add_argument("--where", nargs="+", required=True, metavar="AXIS=LABEL",
                    help="the configuration, as the labels `ablate plan` shows")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="twin-out")
    ap.add_argument("--ablate", default=os.path.join(HERE, "..", "target", "release", "ablate"))
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    where = dict(w.split("=", 1) for w in args.where)
    found = trials(args.sweep_output, where)
    if not found:
        sys.exit(f"no finished trial in {args.sweep_output} has all of {where}")
    os.makedirs(args.out, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        twins = list(pool.map(lambda t: twin(args.ablate, t[1], args.out, args.python), found))

    cols = [m for m in METRICS if dig(found[0][3], m[1]) is not None]
    rates = [ablate_rates(t[1], t[3]["images"]["train"]) for t in found]
    print("| seed | " + " | ".join(f"{m[0]}: ablate | PyTorch" for m in cols)
          + " | images/s, loop: ablate | PyTorch | images/s, epoch with validation: ablate | PyTorch |")
    print("|---" * (1 + 2 * len(cols) + 4) + "|")
    for (seed, _, _, res), tw, r in zip(found, twins, rates):
        cells = [f"{dig(res, m[1]):.3f} | {dig(tw, m[2]):.3f}" for m in cols]
        print(f"| {seed} | " + " | ".join(cells)
              + f" | {r[0]:.0f} | {tw['rates'][0]:.0f} | {r[1]:.0f} | {tw['rates'][1]:.0f} |")
    summary = {"where": where, "seeds": [t[0] for t in found], "metrics": {}}
    lines = []
    for name, pa, pt, lower in cols:
        a = interval([dig(t[3], pa) for t in found])
        b = interval([dig(tw, pt) for tw in twins])
        ok = a[0] <= b[2] if lower else a[0] >= b[1]
        summary["metrics"][name] = {"ablate": a, "pytorch": b, "ablate_at_least_as_good": ok}
        lines.append(f"- {name}: ablate {a[0]:.3f} [95% CI {a[1]:.3f}, {a[2]:.3f}], PyTorch {b[0]:.3f} "
                     f"[{b[1]:.3f}, {b[2]:.3f}]: ablate's mean is "
                     + ("inside or better than PyTorch's interval" if ok else "WORSE than PyTorch's interval"))
    for k, what in [(0, "training loop"), (1, "whole epochs, validation included")]:
        ra = interval([r[k] for r in rates])
        rb = interval([tw["rates"][k] for tw in twins])
        lines.append(f"- images/s per trial, {what} ({args.jobs} at once): ablate {ra[0]:.0f}, "
                     f"PyTorch {rb[0]:.0f} ({ra[0] / rb[0]:.2f}x)")
        summary["images_per_s_" + ("loop" if k == 0 else "epoch")] = {"ablate": ra, "pytorch": rb}
    print("\n" + "\n".join(lines))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
