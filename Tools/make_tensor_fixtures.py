#!/usr/bin/env python3
"""Writes PyTorch reference outputs for the Tensors kernels into Tests/TensorsTests/Fixtures/.

Rerun with the reference venv:  .venv-ref/bin/python Tools/make_tensor_fixtures.py
Deterministic: inputs come from a seeded NumPy generator (or, for the large interpolation
cases, from an integer hash that the Swift tests recompute exactly); torch runs on CPU in fp32.

Small cases store inputs and outputs whole (<name>_x.npy, _y.npy, ...). Large interpolation
cases (up to 1024×1024 outputs) store only 2,048 seeded sample positions as rows
[flat output index, value] in <name>_samples.npy, so the fixtures stay small.
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "Tests" / "TensorsTests" / "Fixtures"
rng = np.random.default_rng(20241)
torch.set_num_threads(1)


written = []


def save(name, array):
    written.append(OUT / f"{name}.npy")
    np.save(OUT / f"{name}.npy", np.ascontiguousarray(np.asarray(array, dtype=np.float32)))


def rand(*shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def hash_grid(shape):
    """Deterministic pseudo-random values in [-0.5, 0.5), exact in float32 (k / 65536).
    Swift recomputes the same values from the index: planes p, rows i, columns j."""
    *lead, h, w = shape
    planes = int(np.prod(lead)) if lead else 1
    p, i, j = np.meshgrid(np.arange(planes, dtype=np.int64), np.arange(h, dtype=np.int64),
                          np.arange(w, dtype=np.int64), indexing="ij")
    k = (p * 1299709 + i * 7919 + j * 104729 + (i * j) % 8191 * 31) % 65536
    return (k.astype(np.float32) / np.float32(65536) - np.float32(0.5)).reshape(shape)


def interpolation():
    small = {
        "14to21": ([2, 14, 14], (21, 21)),
        "16to24": ([3, 16, 16], (24, 24)),
        "batch_nonsquare": ([2, 2, 7, 10], (13, 5)),
        "mixed": ([1, 5, 9], (4, 17)),
        "single_pixel": ([2, 1, 1], (3, 3)),
        "column": ([1, 6, 1], (2, 4)),
        "down_odd": ([2, 23, 17], (7, 11)),
        "identity": ([1, 5, 6], (5, 6)),
    }
    for mode in ["bilinear", "bicubic"]:
        for name, (shape, size) in small.items():
            x = rand(*shape, low=-2, high=2)
            t = torch.from_numpy(x)
            t4 = t if t.dim() == 4 else t[None]
            y = F.interpolate(t4, size=size, mode=mode, align_corners=False)
            y = y if t.dim() == 4 else y[0]
            save(f"interp_{mode}_{name}_x", x)
            save(f"interp_{mode}_{name}_y", y.numpy())
    large = {
        "64to1024": ([1, 64, 64], (1024, 1024)),
        "256to1024": ([2, 256, 256], (1024, 1024)),
        "1024to683": ([1, 1024, 1024], (683, 683)),
        "768x1024to683x911": ([1, 768, 1024], (683, 911)),
    }
    for mode in ["bilinear", "bicubic"]:
        for name, (shape, size) in large.items():
            x = torch.from_numpy(hash_grid(shape))
            y = F.interpolate(x[None], size=size, mode=mode, align_corners=False)[0].numpy().reshape(-1)
            picks = np.sort(rng.choice(y.size, size=2048, replace=False))
            assert y.size < 2 ** 24  # indices stay exact in float32
            save(f"interp_{mode}_{name}_samples", np.stack([picks.astype(np.float32), y[picks]], axis=1))


def convolutions():
    cases = {
        # name: (input shape, weight shape, stride, padding, groups)
        "grouped_strided": ([2, 6, 9, 11], [4, 3, 3, 3], 2, 1, 2),
        "depthwise": ([8, 10, 7], [8, 1, 3, 3], 1, 1, 8),
        "depthwise_s2": ([1, 8, 11, 9], [8, 1, 3, 3], 2, 1, 8),
        "patch": ([3, 32, 48], [8, 3, 16, 16], 16, 0, 1),
        "pointwise": ([5, 6, 7], [3, 5, 1, 1], 1, 0, 1),
        "nonsquare_kernel": ([2, 7, 13], [5, 2, 3, 5], 3, 2, 1),
    }
    for name, (shape, wshape, stride, padding, groups) in cases.items():
        x, w, b = rand(*shape), rand(*wshape), rand(wshape[0])
        t = torch.from_numpy(x)
        t4 = t if t.dim() == 4 else t[None]
        y = F.conv2d(t4, torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding, groups=groups)
        y = y if t.dim() == 4 else y[0]
        for suffix, array in [("x", x), ("w", w), ("b", b), ("y", y.numpy())]:
            save(f"conv_{name}_{suffix}", array)
    # ConvTranspose2d(k=2, s=2): weight [in, out, 2, 2].
    x, w, b = rand(2, 6, 5, 7), rand(6, 4, 2, 2), rand(4)
    y = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2)
    for suffix, array in [("x", x), ("w", w), ("b", b), ("y", y.numpy())]:
        save(f"convT_{suffix}", array)


def norms_and_activations():
    x, w, b = rand(5, 37, low=-3, high=4), rand(37), rand(37)
    save("layernorm_x", x); save("layernorm_w", w); save("layernorm_b", b)
    save("layernorm_y", F.layer_norm(torch.from_numpy(x), (37,), torch.from_numpy(w), torch.from_numpy(b), eps=1e-5).numpy())

    # SAM's LayerNorm2d (segment_anything/modeling/common.py), eps 1e-6.
    x, w, b = rand(2, 12, 5, 9, low=-3, high=4), rand(12), rand(12)
    t = torch.from_numpy(x)
    u = t.mean(1, keepdim=True)
    s = (t - u).pow(2).mean(1, keepdim=True)
    y = torch.from_numpy(w)[:, None, None] * ((t - u) / torch.sqrt(s + 1e-6)) + torch.from_numpy(b)[:, None, None]
    save("layernorm2d_x", x); save("layernorm2d_w", w); save("layernorm2d_b", b); save("layernorm2d_y", y.numpy())

    # Exact-erf GELU in float64 (PyTorch's 1 + erf cancels there below ~1e-15 absolute)
    # and in float32 (where it cancels below ~1e-7 absolute, for x < -5).
    x = np.concatenate([np.linspace(-12, 12, 1201, dtype=np.float32), rand(99, low=-6, high=6)])
    save("gelu_x", x)
    save("gelu_y", torch.nn.GELU()(torch.from_numpy(x).double()).numpy())
    save("gelu_y_f32", torch.nn.GELU()(torch.from_numpy(x)).numpy())
    save("quickgelu_y", (torch.from_numpy(x) * torch.sigmoid(1.702 * torch.from_numpy(x))).numpy())

    # Softmax with masked (−inf) entries, no fully masked row.
    x = rand(6, 19, low=-20, high=20)
    x[0, 3] = x[2, :18] = x[5, ::2] = -np.inf
    save("softmax_x", x)
    save("softmax_y", torch.softmax(torch.from_numpy(x), dim=-1).numpy())


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    interpolation()
    convolutions()
    norms_and_activations()
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files, {total / 1e6:.2f} MB, to {OUT}")
