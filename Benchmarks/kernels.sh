#!/usr/bin/env bash
# Tensors kernels beside the same PyTorch ops on the same shapes, both at 2 threads:
# GB/s for memory-bound kernels (with a memcpy baseline), GFLOP/s for convolutions and linear
# (with the GEMM peak). Prints ms/run for each side and the ratio ours/PyTorch (>1: we are slower).
# The machine is shared: read the ratios, not the absolute figures. Needs .venv-ref.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
SECONDS_PER_KERNEL=${SECONDS_PER_KERNEL:-1}
swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
ours=$("$SCRATCH"/release/RegionSpotBench kernels --seconds "$SECONDS_PER_KERNEL" --threads 2)
OURS="$ours" SECONDS_PER_KERNEL="$SECONDS_PER_KERNEL" .venv-ref/bin/python - <<'PY'
import os, time
import torch, torch.nn.functional as F
torch.set_num_threads(2)
torch.manual_seed(3)
seconds = float(os.environ["SECONDS_PER_KERNEL"])

def timed(body):
    body()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        body(); runs += 1
    return (time.perf_counter() - start) / runs

def r(*shape, scale=1.0):
    return (torch.rand(*shape) * 2 - 1) * scale

tokens, other = r(4096, 768), r(4096, 768)
gamma, beta = r(768), r(768)
scores, hidden = r(4096, 1024, scale=8), r(4096, 3072, scale=4)
big, copy = r(16 << 20), torch.empty(16 << 20)
planes = r(1, 256, 64, 64)
image, maps = r(1, 3, 1024, 1024), r(1, 256, 256, 256)
neck, patch, stem = r(256, 256, 3, 3), r(768, 3, 16, 16), r(32, 3, 3, 3)
depthwise, up = r(256, 1, 3, 3), r(256, 64, 2, 2)
masks = r(1, 4, 256, 256)
x, w, b = r(197, 768), r(3072, 768), r(3072)

def ln2d(t):  # SAM's LayerNorm2d
    u = t.mean(1, keepdim=True); s = (t - u).pow(2).mean(1, keepdim=True)
    return (t - u) / torch.sqrt(s + 1e-6)

ops = {
    "memcpy": lambda: copy.copy_(big),
    "add": lambda: tokens + other,
    "layerNorm": lambda: F.layer_norm(tokens, (768,), gamma, beta),
    "softmax": lambda: torch.softmax(scores, -1),
    "gelu": lambda: F.gelu(hidden),
    "quickGelu": lambda: hidden * torch.sigmoid(1.702 * hidden),
    "layerNorm2d": lambda: ln2d(planes),
    "permute": lambda: tokens.view(64, 64, 768).permute(2, 0, 1).contiguous(),
    "conv3x3": lambda: F.conv2d(planes, neck, padding=1),
    "conv16x16s16": lambda: F.conv2d(image, patch, stride=16),
    "conv3x3s2": lambda: F.conv2d(image, stem, stride=2, padding=1),
    "depthwise3x3": lambda: F.conv2d(maps, depthwise, padding=1, groups=256),
    "convTranspose2x2": lambda: F.conv_transpose2d(planes, up, stride=2),
    "bilinear": lambda: F.interpolate(masks, size=(1024, 1024), mode="bilinear", align_corners=False),
    "bicubic": lambda: F.interpolate(masks, size=(1024, 1024), mode="bicubic", align_corners=False),
    "linear": lambda: F.linear(x, w, b),
}
print(f"{'kernel':<18}{'shape':<24}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}  ours rate / torch rate")
with torch.no_grad():
    for line in os.environ["OURS"].splitlines():
        parts = line.split()
        if parts[0] == "gemm-peak":
            print(f"GEMM peak (ours): {parts[3]} {parts[4]}")
            continue
        name, shape, ms, rate, unit = parts
        theirs = timed(ops[name]) * 1e3
        their_rate = float(rate) * float(ms) / theirs
        print(f"{name:<18}{shape:<24}{float(ms):>10.3f}{theirs:>10.3f}{float(ms) / theirs:>8.2f}  {rate} / {their_rate:.2f} {unit}")
print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads")
PY
