#!/usr/bin/env python3
"""torch_twin.py: train one trial of an ablate sweep in plain PyTorch, exactly as
ablate's own trainer (crates/train) does, and print its test metrics.

Mirrored from trial.json (the file ablate's orchestrator writes per trial):
- net (model.rs): 3x3 conv stages (no conv bias with BatchNorm), BatchNorm before
  each ReLU, 2x2 max-pool per stage, hidden FC layers (bias kept with BatchNorm),
  inverted dropout after each, one linear head per task, ablate's tensor names;
- init: Kaiming normal (ReLU gain) in the trunk, 1/sqrt(fan_in) in heads, zero
  biases, BatchNorm at identity, drawn from ablate's own SplitMix64 streams
  (rng.rs), as are batch order, flips/shifts and dropout masks: same numbers;
- inputs (batch.rs): cache pixels x/127.5 - 1, flip p = 0.5, shift <= crop px with
  zero fill; SGD + momentum + decay on non-BatchNorm weights, or AdamW; lr per step,
  linear warm-up then constant/step/cosine (optim.rs); age encodings, losses and
  read-outs (encoding.rs, tasks.rs); selection by validation score, a multi-task
  trial's gender at its own best epoch, one test evaluation (crates/train/src/trainer/).

Run (epoch lines on stderr, the result line on stdout):
  ablate data split out/trials/<id>/trial.json --out split.csv
  python scripts/torch_twin.py out/trials/<id>/trial.json --split split.csv \
      [--cache PATH] [--init-checkpoint PATH] [--epochs N]

Not identical: the kernels. PyTorch's conv/gemm/BatchNorm sums run in another
order and numpy's log/cos may differ from Rust's in the last ulp, so a run matches
ablate's losses to ~1e-6 for the first steps, then drifts (SGD with momentum is
chaotic at this scale: a 1e-6 nudge to the init moves it as much); compare over
seeds. Max-pool ties send the gradient to the first maximum, as ablate's CPU path
does (its CUDA path splits it). The cache's content digest is read from its
metadata, not recomputed. No checkpoint files are written.
"""
import argparse
import copy
import csv
import functools
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

M64 = (1 << 64) - 1


class Rng:
    """ablate's rng.rs (SplitMix64), vectorised: output k is mix(state + k * gamma)."""

    GAMMA = 0x9E3779B97F4A7C15

    def __init__(self, seed):
        self.state = (seed ^ 0x6A09E667F3BCC908) & M64

    @classmethod
    def stream(cls, seed, purpose):
        h = 0xCBF29CE484222325
        for b in purpose.encode():
            h = ((h ^ b) * 0x100000001B3) & M64
        return cls(seed ^ (((h << 17) | (h >> 47)) & M64))

    def u64(self, n):
        with np.errstate(over="ignore"):
            z = np.uint64(self.state) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(self.GAMMA)
            self.state = (self.state + n * self.GAMMA) & M64
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    def uniform(self, n):  # f32 in [0, 1)
        return (self.u64(n) >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)

    @staticmethod
    def below(z, bound):  # (z * bound) >> 64 for bound < 2^32, elementwise
        bound = np.asarray(bound, dtype=np.uint64)
        with np.errstate(over="ignore"):
            hi, lo = z >> np.uint64(32), z & np.uint64(0xFFFFFFFF)
            return ((hi * bound + ((lo * bound) >> np.uint64(32))) >> np.uint64(32)).astype(np.int64)

    def normal(self, n):  # Box-Muller in f32, two uniforms per value
        u = self.uniform(2 * n)
        u1, u2 = np.maximum(u[0::2], np.float32(1e-7)), u[1::2]
        return np.sqrt(np.float32(-2.0) * np.log(u1)) * np.cos(np.float32(2 * math.pi) * u2)

    def shuffle(self, items):  # Fisher-Yates from the end, as rng.rs
        n = len(items)
        bounds = np.arange(n, 1, -1, dtype=np.uint64)  # i + 1 for i = n-1 .. 1
        js = self.below(self.u64(n - 1), bounds) if n > 1 else []
        for i, j in zip(range(n - 1, 0, -1), js):
            items[i], items[j] = items[j], items[i]
        return items


# ---------------------------------------------------------------- data

def load_cache(path):
    """Header, label records and a memmap of the pixels (crates/data/src/cache.rs)."""
    with open(path, "rb") as f:
        head = f.read(16)
        if head[:8] != b"ABLCACHE" or struct.unpack("<I", head[8:12])[0] != 1:
            sys.exit(f"{path}: not an ablate cache of format 1")
        meta_len = struct.unpack("<I", head[12:16])[0]
        meta = json.loads(f.read(meta_len))
    n, side = meta["count"], meta["size"]
    rec_t = np.dtype([("age", "<f4"), ("age_std", "<f4"), ("gender", "u1"), ("pad", "V3"),
                      ("identity", "<u4"), ("cls", "<u4")])
    labels = np.fromfile(path, rec_t, n, offset=16 + meta_len)
    pixels = np.memmap(path, np.uint8, "r", 16 + meta_len + 20 * n, (n, side, side, 3))
    return meta, labels, pixels


def locate(path, trial_json, keep):
    """A path relative to the orchestrator's working directory: as given if it exists, else its last
    `keep` parts under the sweep's output folder (<output>/trials/<id>/trial.json)."""
    out = os.path.join(os.path.dirname(os.path.abspath(trial_json)), "..", "..")
    alt = os.path.normpath(os.path.join(out, *os.path.normpath(path).split(os.sep)[-keep:]))
    return path if os.path.exists(path) or not os.path.exists(alt) else alt


def read_split(path):
    """Cache positions per part; ablate's trial_split listed only images usable for the tasks."""
    parts = {"train": [], "val": [], "test": []}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            parts[row["part"]].append(int(row["index"]))
    return {k: sorted(v) for k, v in parts.items()}  # ablate's parts are ascending


def images(pixels, idx, jitter=None):
    """(B, 3, S, S) f32; jitter = (flip, dx, dy) arrays: out[y, x] = flipped[y - dy, x - dx]."""
    x = np.asarray(pixels[idx]).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    if jitter is not None:
        side, out = x.shape[1], np.zeros_like(x)
        for i, (flip, dx, dy) in enumerate(zip(*jitter)):
            src = x[i, :, ::-1] if flip else x[i]
            out[i, max(dy, 0):side + min(dy, 0), max(dx, 0):side + min(dx, 0)] = \
                src[max(-dy, 0):side - max(dy, 0), max(-dx, 0):side - max(dx, 0)]
        x = out
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def draw_jitter(rng, n, flip, crop):
    """batch.rs Jitter::draw per image: a flip uniform (only if flip), then dx, dy (only if crop)."""
    k = int(flip) + (2 if crop else 0)
    z = rng.u64(n * k).reshape(n, k) if k else np.zeros((n, 0), np.uint64)
    flips = (z[:, 0] >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24) < 0.5 if flip \
        else np.zeros(n, bool)
    shift = Rng.below(z[:, k - 2:], 2 * crop + 1) - crop if crop else np.zeros((n, 2), np.int64)
    return flips, shift[:, 0].tolist(), shift[:, 1].tolist()


# ---------------------------------------------------------------- age encodings

def erfc_nr(x):  # Numerical Recipes erfcc, as encoding.rs (not math.erfc: same targets)
    t = 1.0 / (1.0 + 0.5 * x)
    c = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
         -1.13520398, 1.48851587, -0.82215223, 0.17087277]
    poly = 0.0
    for a in reversed(c[1:]):
        poly = a + t * poly
    return t * math.exp(-x * x + c[0] + t * poly)


def bin_mass(lo, hi):
    up = lambda z: 0.5 * erfc_nr(z / math.sqrt(2.0))
    if lo >= 0:
        m = up(lo) - up(hi)
    elif hi <= 0:
        m = up(-hi) - up(-lo)
    else:
        m = 1.0 - up(-lo) - up(hi)
    return max(m, 0.0)


@functools.lru_cache(maxsize=None)  # a pure function of (age, sigma): computed once per image
def ldae_target(age, sigma, lo, hi):
    k = hi - lo + 1
    mu = float(min(max(np.float32(age), np.float32(lo)), np.float32(hi)))
    if not sigma > 0:  # NaN or <= 0: one-hot
        t = np.zeros(k, np.float32)
        t[round_index(mu, lo, hi)] = 1
        return t
    mass = [bin_mass((lo + i - 0.5 - mu) / sigma, (lo + i + 0.5 - mu) / sigma) for i in range(k)]
    total = sum(mass)
    if not (math.isfinite(total) and total > 0):
        return np.full(k, 1.0 / k, np.float32)
    return np.array([m / total for m in mass], np.float32)


def round_index(age, lo, hi):  # Rust's f32::round is half away from zero, numpy's is half to even
    r = math.floor(abs(age) + 0.5) * (1 if age >= 0 else -1)
    return int(min(max(r - lo, 0), hi - lo))


class AgeCoder:
    def __init__(self, enc, train_ages):
        self.kind, self.enc = enc["kind"], enc
        if self.kind == "regression":
            a = train_ages.astype(np.float64)
            self.mean = np.float32(a.mean()) if len(a) else np.float32(0)
            std = np.float32(np.sqrt(((a - a.mean()) ** 2).mean())) if len(a) else np.float32(1)
            self.std = max(std, np.float32(1e-3))  # population std, floored as MIN_TRAIN_STD
        else:
            self.lo, self.hi = enc["age_min"], enc["age_max"]
        self.outputs = 1 if self.kind == "regression" else self.hi - self.lo + 1

    def loss(self, out, ages, stds):
        if self.kind == "classification":
            t = torch.tensor([round_index(float(a), self.lo, self.hi) for a in ages])
            return F.cross_entropy(out, t)
        if self.kind == "regression":
            t = torch.from_numpy((ages - self.mean) / self.std)
            d = out.reshape(-1) - t
            return (d * d).mean() if self.enc["loss"] == "l2" else d.abs().mean()
        # A batch uses per-image stds only if every image in it has one (Option collect in tasks.rs).
        per_image = self.enc["use_age_std"] and not np.isnan(stds).any()
        t = np.stack([ldae_target(float(a), max(float(s), 0.5) if per_image else float(np.float32(self.enc["sigma"])), self.lo, self.hi)
                      for a, s in zip(ages, stds)])
        return -(F.log_softmax(out, 1) * torch.from_numpy(t)).sum() / out.shape[0]

    def decode(self, out):  # -> (expected f32, argmax f32 or None)
        if self.kind == "regression":
            return out.reshape(-1).numpy() * self.std + self.mean, None
        p = F.softmax(out, 1)
        ages = np.arange(self.lo, self.hi + 1, dtype=np.float64)
        expected = (p.double().numpy() * ages).sum(1).astype(np.float32)
        return expected, (self.lo + p.argmax(1).numpy()).astype(np.float32)


# ---------------------------------------------------------------- the net

class BnRelu:
    """forward = ReLU(BatchNorm(layer(x))), BatchNorm optional (cpu_ops::batch_norm, momentum 0.1)."""

    def forward(self, x):
        h = super().forward(x)
        return F.relu(self.bn(h) if self.bn is not None else h)


class Conv(BnRelu, nn.Conv2d):
    def __init__(self, cin, cout, bn):
        super().__init__(cin, cout, 3, padding=1, bias=not bn)  # BatchNorm's shift makes a conv bias redundant
        self.bn = nn.BatchNorm2d(cout) if bn else None


class Fc(BnRelu, nn.Linear):
    def __init__(self, fin, fout, bn):
        super().__init__(fin, fout)  # unlike the convs, ablate keeps the FC bias before BatchNorm
        self.bn = nn.BatchNorm1d(fout) if bn else None


class Net(nn.Module):
    def __init__(self, model, side, heads, dropout, drop_rng):
        super().__init__()
        self.trunk, cin = nn.ModuleDict(), 3
        for s, (n, c) in enumerate(zip(model["convs"], model["channels"])):
            self.trunk[f"stage{s}"] = nn.ModuleDict(
                {f"conv{i}": Conv(cin if i == 0 else c, c, model["batch_norm"]) for i in range(n)})
            cin = c
        side = side >> len(model["convs"])  # floor halving per pool
        if side == 0:
            sys.exit("input too small for the pooling stages")
        fin = cin * side * side
        for i, w in enumerate(model["fc"]):
            self.trunk[f"fc{i}"], fin = Fc(fin, w, model["batch_norm"]), w
        self.head = nn.ModuleDict({k: nn.Linear(fin, n) for k, n in heads.items()})
        self.dropout, self.drop_rng = dropout, drop_rng

    def forward(self, x):
        h = x
        for name, m in self.trunk.items():
            if name.startswith("stage"):
                for conv in m.values():
                    h = conv(h)
                h = F.max_pool2d(h, 2)
            else:
                h = m(h.flatten(1))
                if self.training and self.dropout > 0:  # inverted dropout, mask from ablate's stream
                    u = self.drop_rng.uniform(h.numel()).reshape(h.shape)
                    keep = np.float32(1) / (np.float32(1) - np.float32(self.dropout))
                    h = h * torch.from_numpy(np.where(u < np.float32(self.dropout), np.float32(0), keep))
        return {k: head(h) for k, head in self.head.items()}


def init_weights(net, seed):
    """model.rs init_weights: names sorted, one "init" stream, normals only for weights."""
    rng = Rng.stream(seed, "init")
    with torch.no_grad():
        for name, p in sorted(net.named_parameters()):
            if ".bn." in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                gain = np.float32(1.0) if name.startswith("head.") else np.sqrt(np.float32(2.0))
                std = gain / np.sqrt(np.float32(max(p[0].numel(), 1)))
                p.copy_(torch.from_numpy((rng.normal(p.numel()) * std).reshape(p.shape)))


def load_trunk(net, path):
    """checkpoint.rs load_trunk: copy every trunk.* tensor (running statistics too) from safetensors."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    state = net.state_dict()
    mine = {k for k in state if k.startswith("trunk.") and not k.endswith("num_batches_tracked")}
    theirs = {k for k in header if k.startswith("trunk.")}
    if mine != theirs:
        sys.exit(f"{path}: trunk tensors differ from this net's: {sorted(mine ^ theirs)[:4]}")
    for k in mine:
        a, b = header[k]["data_offsets"]
        assert header[k]["dtype"] == "F32"
        t = np.frombuffer(raw, np.float32, (b - a) // 4, 8 + n + a).reshape(header[k]["shape"])
        state[k].copy_(torch.from_numpy(t.copy()))


# ---------------------------------------------------------------- training

def learning_rate(t, step, per):
    per = max(per, 1)
    epoch, warm, lr = step / per, float(t["warmup_epochs"]), t["lr"]
    if epoch < warm:
        return lr * (step + 1.0) / (warm * per)
    s = t["schedule"]
    if s["kind"] == "step":
        return lr * s["gamma"] ** math.floor((epoch - warm) / s["every"])
    if s["kind"] == "cosine":
        frac = min(max((epoch - warm) / max(t["epochs"] - warm, 1e-9), 0.0), 1.0)
        return lr * 0.5 * (1.0 + math.cos(math.pi * frac))
    return lr


LABEL = {"gender": "gender", "identity": "identity", "general": "cls"}  # head -> label record field


def loss_of(out, heads, labels, idx):
    """tasks.rs Heads::loss: the weighted sum of the heads' batch-mean losses."""
    lab, total = labels[idx], 0
    for k, v in out.items():
        if k == "age":
            w, coder = heads["age"]
            total = total + coder.loss(v, lab["age"], lab["age_std"]) * w
        else:
            total = total + F.cross_entropy(v, torch.from_numpy(lab[LABEL[k]].astype(np.int64))) * heads[k]
    return total


def evaluate(net, heads, pixels, labels, idx, batch):
    """evaluate.rs in eval mode: age MAE of both read-outs and CS(5), accuracy of each classifier."""
    net.eval()
    with torch.no_grad():
        outs = [net(images(pixels, idx[s:s + batch])) for s in range(0, len(idx), batch)]
    net.train()
    lab, res = labels[idx], {}
    for k in outs[0]:
        v = torch.cat([o[k] for o in outs])
        if k == "age":
            expected, argmax = heads["age"][1].decode(v)
            err = np.abs(expected.astype(np.float64) - lab["age"])
            res["age"] = {"expected_mae": float(err.mean()), "cs5": float((err <= 5).mean())}  # CS(5): expected
            if argmax is not None:
                res["age"]["argmax_mae"] = float(np.abs(argmax.astype(np.float64) - lab["age"]).mean())
        else:
            res[k] = {"accuracy": float((v.argmax(1).numpy() == lab[LABEL[k]]).mean())}
    return res


def selection(ev):
    """evaluate.rs selection: (score, lower is better): age MAE (expected) if age is trained, else accuracy."""
    if "age" in ev:
        return ev["age"]["expected_mae"], True
    return next(ev[k]["accuracy"] for k in ("gender", "identity", "general") if k in ev), False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trial_json")
    ap.add_argument("--split", required=True, help="CSV from `ablate data split TRIAL_JSON --out split.csv`")
    ap.add_argument("--cache", help="pixel cache (default: the trial's `cache`)")
    ap.add_argument("--init-checkpoint", help="pretraining checkpoint (default: the trial's)")
    ap.add_argument("--epochs", type=int, help="override the trial's epochs (quick checks)")
    args = ap.parse_args()
    trial = json.load(open(args.trial_json))
    cfg, t = trial["config"], dict(trial["config"]["train"])
    if args.epochs:
        t["epochs"] = args.epochs  # the cosine schedule then spans the shorter run, as in ablate
    seed, obj = cfg["seed"], cfg["objective"]
    torch.manual_seed(seed)
    torch.set_num_threads(trial["exec"]["threads"])
    meta, labels, pixels = load_cache(args.cache or locate(trial["cache"], args.trial_json, 2))
    if meta["size"] != t["input_size"]:
        sys.exit(f"cache holds {meta['size']}px images, the trial needs {t['input_size']}px")
    if trial.get("data_digest") and meta.get("content") and meta["content"] != trial["data_digest"]:
        sys.exit(f"cache content digest {meta['content']} != the trial's {trial['data_digest']}")

    parts = {k: np.array(v, np.int64) for k, v in read_split(args.split).items()}
    train, val, test = parts["train"], parts["val"], parts["test"]
    train_ages = labels["age"][train][~np.isnan(labels["age"][train])]
    heads, sizes = {}, {}
    if obj["kind"] == "faces":
        if obj["gender"] is not None:
            heads["gender"], sizes["gender"] = obj["gender"], 2
        if obj["age"] is not None:
            coder = AgeCoder(obj["age"]["encoding"], train_ages)
            heads["age"], sizes["age"] = (obj["age"]["weight"], coder), coder.outputs
    else:
        heads[obj["kind"]] = 1.0
        sizes[obj["kind"]] = len(meta["identities" if obj["kind"] == "identity" else "classes"])

    net = Net(cfg["model"], t["input_size"], sizes, t["dropout"], Rng.stream(seed, "dropout"))
    init_weights(net, seed)
    ckpt = args.init_checkpoint or (trial.get("init_checkpoint") and locate(trial["init_checkpoint"], args.trial_json, 3))
    if ckpt:
        load_trunk(net, ckpt)
    elif cfg.get("init"):
        sys.exit(f"this trial starts from pretraining trial {cfg['init']}: give --init-checkpoint")
    named = list(net.named_parameters())
    parameters = sum(p.numel() for _, p in named)
    groups = [{"params": [p for n, p in named if n.endswith(".weight") and ".bn." not in n],
               "weight_decay": t["weight_decay"]},
              {"params": [p for n, p in named if not (n.endswith(".weight") and ".bn." not in n)],
               "weight_decay": 0.0}]
    if t["optimizer"] == "sgd":
        opt = torch.optim.SGD(groups, lr=t["lr"], momentum=t["momentum"])
    else:
        opt = torch.optim.AdamW(groups, lr=t["lr"], betas=(0.9, 0.999), eps=1e-8)

    bs = t["batch_size"]
    eval_bs, per = min(max(bs * 2, 1), 256), -(-len(train) // bs)
    shuffle_rng, augment_rng = Rng.stream(seed, "shuffle"), Rng.stream(seed, "augment")
    multi = "age" in heads and "gender" in heads
    best = best_gender = None  # (epoch, score, state)
    step, train_time, rates = 0, 0.0, []
    net.train()
    started = time.perf_counter()
    for epoch in range(1, t["epochs"] + 1):
        epoch_t0 = time.perf_counter()
        order = shuffle_rng.shuffle(train.tolist())
        loss_sum, loss_n, lr = 0.0, 0, t["lr"]
        t0 = time.perf_counter()  # ablate's training time starts after the shuffle
        for b in range(0, len(order), bs):
            chunk = order[b:b + bs]
            if len(chunk) < 2 and cfg["model"]["batch_norm"]:
                continue  # a batch of one has no batch statistics: ablate skips it (no lr step)
            lr = learning_rate(t, step, per)
            for g in opt.param_groups:
                g["lr"] = lr
            jit = draw_jitter(augment_rng, len(chunk), t["flip"], t["crop"])
            loss = loss_of(net(images(pixels, chunk, jit)), heads, labels, chunk)
            value = loss.item()
            if not math.isfinite(value):
                print(json.dumps({"failed": "nan-loss", "epoch": epoch, "step": b // bs, "lr": lr}))
                sys.exit(4)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += value * len(chunk)
            loss_n += len(chunk)
            step += 1
        epoch_train = time.perf_counter() - t0
        train_time += epoch_train
        rates.append(loss_n / max(epoch_train, 1e-9))
        ev = evaluate(net, heads, pixels, labels, val, eval_bs)
        score, lower = selection(ev)
        if best is None or (score < best[1] if lower else score > best[1]):
            best = (epoch, score, copy.deepcopy(net.state_dict()))
        if multi and (best_gender is None or ev["gender"]["accuracy"] > best_gender[1]):
            best_gender = (epoch, ev["gender"]["accuracy"], copy.deepcopy(net.state_dict()))
        print(json.dumps({"epoch": epoch, "train_loss": loss_sum / max(loss_n, 1), "lr": lr,
                          "val_score": score, "images_per_s": rates[-1],
                          "elapsed_s": time.perf_counter() - started,
                          "epoch_s_with_val": time.perf_counter() - epoch_t0}), file=sys.stderr, flush=True)

    net.load_state_dict(best[2])
    test_ev = evaluate(net, heads, pixels, labels, test, eval_bs)
    result = {"trial": trial["id"], "seed": seed, "selected_epoch": best[0], "best_val_score": best[1]}
    if multi:  # gender at its own best validation epoch, as a mono-task gender trial would be
        result["task_epochs"] = {"age": best[0], "gender": best_gender[0]}
        if best_gender[0] != best[0]:
            net.load_state_dict(best_gender[2])
            test_ev["gender"] = evaluate(net, heads, pixels, labels, test, eval_bs)["gender"]
    result.update({"test": test_ev, "images_per_s": float(np.mean(rates)), "train_seconds": train_time,
                   "parameters": parameters, "images": {k: len(v) for k, v in parts.items()}})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
