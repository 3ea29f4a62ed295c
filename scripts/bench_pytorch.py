#!/usr/bin/env python3
"""The training benchmark of `ablate bench train`, written in PyTorch, to compare
the two frameworks on the same machine, net, batch and thread count.

Build the same net as an `ablate bench train --json` report (recommended: the
architecture then cannot drift from ablate's presets):

    ablate bench train --depth bench --json > /tmp/b.json
    python3 scripts/bench_pytorch.py --like /tmp/b.json [--device cuda]

or give it directly:

    python3 scripts/bench_pytorch.py --convs 2,2,2,2 --channels 32,64,128,256 --fc 256

Same work per step as ablate's: random normal input, 10 classes, VGG stages of
3x3 pad-1 convs (+BatchNorm) + ReLU and a 2x2 max-pool, hidden FC layers with
ReLU and dropout 0.5, cross-entropy, plain SGD (lr 0.01). Prints one JSON line
per net (and precision) with the same field names as ablate's report; `--like`
takes ablate's `--json` or `--jsonl` output and mirrors every net in it, in one
process, so a GPU's start-up is paid once.
"""

import argparse
import json
import time

import torch
from torch import nn


def ints(s):
    return [int(v) for v in s.split(",") if v]


def build(convs, channels, fc, size, batch_norm, classes=10):
    layers, c_in = [], 3
    for n, c_out in zip(convs, channels):
        for _ in range(n):
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
        size //= 2
    layers.append(nn.Flatten())
    f_in = c_in * size * size
    for width in fc:
        layers.append(nn.Linear(f_in, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers += [nn.ReLU(inplace=True), nn.Dropout(0.5)]
        f_in = width
    layers.append(nn.Linear(f_in, classes))
    return nn.Sequential(*layers)


def best_ms(runs, f):
    f()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        out.append(1e3 * (time.perf_counter() - t))
    return min(out)


def layer_shapes(convs, channels, size):
    """The conv layers `ablate bench train --per-op` times for a net (see
    crates/train/src/bench_ops.rs): (cin, cout, side, pool, layers), same shapes merged."""
    out, cin, side = [], 3, size
    for n, c in zip(convs, channels):
        for i in range(n):
            pool = i + 1 == n
            for row in out:
                if row[:3] == [cin, c, side]:
                    row[3] |= pool
                    row[4] += 1
                    break
            else:
                out.append([cin, c, side, pool, 1])
            cin = c
        side //= 2
    return out


def per_op(batch, runs, convs, channels, size):
    """The kernels `ablate bench train --per-op` times, on the same shapes, in PyTorch."""
    import torch.nn.functional as F
    from torch.nn.grad import conv2d_input, conv2d_weight
    rows = []
    with torch.no_grad():
        for i, (c, o, side, pool, layers) in enumerate(layer_shapes(convs, channels, size)):
            x = torch.randn(batch, c, side, side)
            w = torch.randn(o, c, 3, 3) * 0.05
            b = torch.randn(o)
            dy = torch.randn(batch, o, side, side)
            shape = f"{batch}x{c}->{o}x{side}x{side}"
            ops = [
                ("conv2d forward", False, lambda: F.conv2d(x, w, padding=1)),
                ("conv2d+bias+relu forward", True, lambda: F.relu(F.conv2d(x, w, b, padding=1))),
                ("conv2d input grad", i > 0, lambda: conv2d_input(x.shape, w, dy, padding=1)),
                ("conv2d weight grad", True, lambda: conv2d_weight(x, w.shape, dy, padding=1)),
            ]
            if pool:
                y = torch.randn(batch, o, side, side)
                r = torch.randn(batch, o, side // 2, side // 2)
                _, idx = F.max_pool2d(y, 2, return_indices=True)
                ops += [
                    ("max-pool forward", False, lambda: F.max_pool2d(y, 2, return_indices=True)),
                    ("max-pool backward", False, lambda: torch.ops.aten.max_pool2d_with_indices_backward(r, y, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)),
                ]
            for name, in_step, f in ops:
                n = 1 if name.startswith("max-pool") else layers
                rows.append({"op": name, "shape": shape, "layers": n, "in_step": in_step,
                             "pytorch_ms": best_ms(runs, f)})
    return rows


def matmul(runs):
    """PyTorch's matmul on the shapes of crates/train/tests/bench_matmul.rs."""
    for m, k, n in [(64, 2048, 4096), (64, 4096, 4096), (4096, 64, 2048), (2048, 64, 4096)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        ms = best_ms(runs, lambda: a @ b)
        print(f"pytorch {m}x{k}x{n}: {ms:.2f} ms, {2 * m * k * n / ms / 1e6:.0f} GFLOP/s")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--like", help="an `ablate bench train --json` report to mirror")
    p.add_argument("--convs", type=ints, default=[2, 2, 2, 2])
    p.add_argument("--channels", type=ints, default=[32, 64, 128, 256])
    p.add_argument("--fc", type=ints, default=[256])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-norm", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="default",
                   help="default (PyTorch's: cuDNN convolutions may use TF32, matmuls not), fp32 (TF32 off: ablate's precision = \"fp32\"), tf32 (TF32 on for both: ablate's precision = \"tf32\"), or several as default,fp32")
    p.add_argument("--max-seconds", type=float,
                   help="start no step after this many seconds; what is left is reported with an error")
    p.add_argument("--per-op", action="store_true",
                   help="time each conv layer's kernels and the pools of the net (--like, or --convs/--channels/--size), as `ablate bench train --per-op` does")
    p.add_argument("--matmul", action="store_true",
                   help="time matmul on the FC-layer shapes (see crates/train/tests/bench_matmul.rs)")
    a = p.parse_args()
    if a.matmul:
        torch.set_num_threads(a.threads)
        matmul(max(a.steps, 5))
        return
    likes = read_likes(a.like) if a.like else []
    if likes and a.per_op:
        r = likes[0]
        a.convs, a.channels, a.fc = r["convs"], r["channels"], r["fc"]
        a.batch, a.size, a.batch_norm = r["batch"], r["size"], r["batch_norm"]
    if a.per_op:
        torch.set_num_threads(a.threads)
        rows = per_op(a.batch, max(a.steps, 1), a.convs, a.channels, a.size)
        for row in rows:
            print(json.dumps(row))
        step = sum(r["pytorch_ms"] * r["layers"] for r in rows if r["in_step"])
        print(json.dumps({"conv_step_ms": step}))
        return
    torch.set_num_threads(a.threads)
    deadline = time.monotonic() + a.max_seconds if a.max_seconds is not None else None
    entries = likes if a.like else [{"depth": "custom", "convs": a.convs, "channels": a.channels,
                                      "fc": a.fc, "batch": a.batch, "size": a.size,
                                      "batch_norm": a.batch_norm}]
    failed = 0
    for e in entries:
        for precision in a.precision.split(","):
            base = {"framework": f"pytorch {torch.__version__}", "depth": e["depth"],
                    "batch": e["batch"], "size": e["size"], "batch_norm": e["batch_norm"],
                    "precision": precision}
            try:
                if deadline and time.monotonic() >= deadline:
                    raise RuntimeError(f"not run: --max-seconds {a.max_seconds} reached")
                r = train_steps(a, e, precision, deadline)
            except Exception as err:  # one entry's failure (out of memory, time) ends only it
                failed += 1
                r = {"error": f"{type(err).__name__}: {err}"}
                if a.device != "cpu":
                    torch.cuda.empty_cache()
            print(json.dumps({**base, **r}), flush=True)
    if failed and len(entries) > 1:
        raise SystemExit(f"{failed} benchmark configurations failed")
    if failed:
        raise SystemExit(1)


def train_steps(a, e, precision, deadline):
    """One configuration's timed steps; `precision` is PyTorch's default (cuDNN may
    run convolutions in TF32 on Ampere and newer, matmuls stay fp32), `fp32` (TF32
    off everywhere, the arithmetic of ablate's precision = "fp32") or `tf32` (on
    for convolutions and matmuls, as ablate's precision = "tf32")."""
    if precision not in ("default", "fp32", "tf32"):
        raise ValueError(f"--precision {precision!r}: expected default, fp32 or tf32")
    torch.backends.cudnn.allow_tf32 = precision in ("default", "tf32")
    # PyTorch's matmul default since 1.12 is fp32.
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    net = build(e["convs"], e["channels"], e["fc"], e["size"], e["batch_norm"]).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(e["batch"], 3, e["size"], e["size"], device=dev)
    y = (torch.arange(e["batch"]) % 10).to(dev)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    started = int(time.time() * 1000)
    fwd = bwd = warm = 0.0
    for step in range(a.warmup + a.steps):
        if deadline and time.monotonic() >= deadline:
            raise RuntimeError(f"time limit reached after {step} of {a.warmup + a.steps} steps")
        sync()
        t0 = time.perf_counter()
        loss = loss_fn(net(x), y)
        loss.item()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        t2 = time.perf_counter()
        if step >= a.warmup:
            fwd += t1 - t0
            bwd += t2 - t1
        else:
            warm += t2 - t0
    n = max(a.steps, 1)
    out = {
        "device": str(dev) if not cuda else torch.cuda.get_device_name(dev),
        "threads": torch.get_num_threads(),
        "steps": a.steps,
        "images_per_s": e["batch"] * n / max(fwd + bwd, 1e-9),
        "forward_ms": 1e3 * fwd / n,
        "backward_update_ms": 1e3 * bwd / n,
        "warmup_ms": 1e3 * warm,
        "started_unix_ms": started,
        "ended_unix_ms": int(time.time() * 1000),
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    if cuda:
        out["peak_allocated_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
        out["peak_reserved_mb"] = torch.cuda.max_memory_reserved(dev) / 2**20
    del net, opt, x, y
    return out


def read_likes(path):
    """The reports of `ablate bench train --json` (one object or an array) or
    `--jsonl` (a line each; lines with an `error` are skipped: nothing to mirror)."""
    text = open(path).read().strip()
    try:
        doc = json.loads(text)
        rows = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = [r for r in rows if "error" not in r]
    if not rows:
        raise SystemExit(f"{path}: no ablate benchmark report to mirror")
    # --ops both reports each net twice (fast and candle): mirror each net once.
    seen, out = set(), []
    for r in rows:
        key = (r["depth"], r["size"], r["batch"], r["batch_norm"], tuple(r["channels"]))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out

if __name__ == "__main__":
    main()
