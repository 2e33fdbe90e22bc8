#!/usr/bin/env bash
# Weight-file I/O on full-size random weights (SAM ViT-B state dict as .pth and .safetensors,
# OpenAI CLIP ViT-B/16 as an fp16 TorchScript archive) beside Python at 2 threads:
# safetensors.torch.load_file, torch.load(weights_only=True), torch.jit.load(...).state_dict()
# (both made float32 as ours are), and torch.load + safetensors save_file for conversion.
# Best of RUNS after a warm-up, files in the page cache. Needs the venv .venv-ref.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
RUNS=${RUNS:-3}
OUT=Benchmarks/out/io
if [ ! -f $OUT/clip_vit_b16.pt ]; then .venv-ref/bin/python Tools/make_checkpoint_fixtures.py --bench 2>/dev/null; fi
swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
ours=$("$SCRATCH"/release/RegionSpotBench io --safetensors $OUT/sam_vit_b.safetensors --checkpoint $OUT/sam_vit_b.pth \
    --torchscript $OUT/clip_vit_b16.pt --runs "$RUNS" --out $OUT)
OURS="$ours" OUT=$OUT RUNS=$RUNS .venv-ref/bin/python - <<'PY' 2>/dev/null
import os, time, warnings
import torch
from safetensors.torch import load_file, save_file
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
out, runs = os.environ["OUT"], int(os.environ["RUNS"])

def best(f):
    f()
    times = []
    for _ in range(runs):
        start = time.perf_counter(); f(); times.append(time.perf_counter() - start)
    return min(times)

def floats(state):
    return {k: v.float().contiguous() for k, v in state.items()}

cases = {
    # load_file maps the file lazily; clone() reads every byte into memory, as ours does.
    "safetensors-load": ("sam_vit_b.safetensors", lambda p: {k: v.clone() for k, v in load_file(p).items()}),
    "pth-read": ("sam_vit_b.pth", lambda p: floats(torch.load(p, map_location="cpu", weights_only=True))),
    "torchscript-read": ("clip_vit_b16.pt", lambda p: floats(torch.jit.load(p, map_location="cpu").state_dict())),
    "pth-convert": ("sam_vit_b.pth", lambda p: save_file(
        {k: v.contiguous() for k, v in torch.load(p, map_location="cpu", weights_only=True).items()},
        os.path.join(out, "converted_by_python.safetensors"))),
}
ours = {line.split()[0]: float(line.split()[1]) for line in os.environ["OURS"].splitlines()}
print(f"{'case':18} {'ours ms':>9} {'python ms':>10} {'python/ours':>12}")
for name, (file, f) in cases.items():
    t = best(lambda: f(os.path.join(out, file))) * 1e3
    print(f"{name:18} {ours[name]:9.1f} {t:10.1f} {t / ours[name]:11.2f}x")
lazy = best(lambda: load_file(os.path.join(out, "sam_vit_b.safetensors"))) * 1e3
print(f"(python load_file alone, lazily mapped and not read: {lazy:.1f} ms)")
print(f"(torch {torch.__version__}; files: {', '.join(sorted({c[0] for c in cases.values()}))})")
PY
