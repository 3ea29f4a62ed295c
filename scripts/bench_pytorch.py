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
with the same field names as ablate's report.
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


def per_op(batch, runs):
    """The kernels `ablate bench train --per-op` times, on the same shapes, in PyTorch."""
    import torch.nn.functional as F
    from torch.nn.grad import conv2d_input, conv2d_weight
    rows = []
    with torch.no_grad():
        for c, side in [(32, 64), (64, 32), (128, 16), (256, 8)]:
            x = torch.randn(batch, c, side, side)
            w = torch.randn(c, c, 3, 3) * 0.05
            b = torch.randn(c)
            dy = torch.randn(batch, c, side, side)
            r = torch.randn(batch, c, side // 2, side // 2)
            y, idx = F.max_pool2d(x, 2, return_indices=True)
            shape = f"{batch}x{c}->{c}x{side}x{side}"
            ops = [
                ("conv2d forward", lambda: F.conv2d(x, w, padding=1)),
                ("conv2d+bias+relu forward", lambda: F.relu(F.conv2d(x, w, b, padding=1))),
                ("conv2d input grad", lambda: conv2d_input(x.shape, w, dy, padding=1)),
                ("conv2d weight grad", lambda: conv2d_weight(x, w.shape, dy, padding=1)),
                ("max-pool forward", lambda: F.max_pool2d(x, 2, return_indices=True)),
                ("max-pool backward", lambda: torch.ops.aten.max_pool2d_with_indices_backward(r, x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)),
            ]
            for name, f in ops:
                rows.append({"op": name, "shape": shape, "pytorch_ms": best_ms(runs, f)})
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
    p.add_argument("--per-op", action="store_true",
                   help="time each conv and pool kernel (the shapes of `ablate bench train --per-op`)")
    p.add_argument("--matmul", action="store_true",
                   help="time matmul on the FC-layer shapes (see crates/train/tests/bench_matmul.rs)")
    a = p.parse_args()
    if a.matmul:
        torch.set_num_threads(a.threads)
        matmul(max(a.steps, 5))
        return
    if a.per_op:
        torch.set_num_threads(a.threads)
        for row in per_op(a.batch, max(a.steps, 1)):
            print(json.dumps(row))
        return
    if a.like:
        with open(a.like) as f:
            r = json.load(f)
        a.convs, a.channels, a.fc = r["convs"], r["channels"], r["fc"]
        a.batch, a.size, a.batch_norm = r["batch"], r["size"], r["batch_norm"]
        depth = r["depth"]
    else:
        depth = "custom"
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    net = build(a.convs, a.channels, a.fc, a.size, a.batch_norm).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(a.batch, 3, a.size, a.size, device=dev)
    y = (torch.arange(a.batch) % 10).to(dev)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    fwd = bwd = 0.0
    for step in range(a.warmup + a.steps):
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
    n = max(a.steps, 1)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "depth": depth,
        "batch": a.batch,
        "size": a.size,
        "batch_norm": a.batch_norm,
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "threads": torch.get_num_threads(),
        "steps": a.steps,
        "images_per_s": a.batch * n / max(fwd + bwd, 1e-9),
        "forward_ms": 1e3 * fwd / n,
        "backward_update_ms": 1e3 * bwd / n,
        "parameters": sum(p.numel() for p in net.parameters()),
    }))


if __name__ == "__main__":
    main()
