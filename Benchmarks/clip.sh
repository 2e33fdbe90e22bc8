#!/usr/bin/env bash
# CLIP ViT-B/16 and ViT-L/14 (random weights, full size) beside PyTorch running OpenAI's
# clip/model.py on the same weights and input, both at 2 threads: the vision token map
# (RegionSpot's encode_image_featuremap, one 224×224 image) and one class's 81 prompts through
# the text tower (PyTorch at 77 tokens, as clip.tokenize pads; ours stops at the longest prompt).
# Also prints the largest difference between the two outputs. Needs the venv .venv-ref.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
RUNS=${RUNS:-5}
.venv-ref/bin/python Tools/make_clip_fixtures.py --bench
swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
mkdir -p Benchmarks/out/clip
for model in ${MODELS:-vit_b16 vit_l14}; do
    echo "== $model"
    weights=Benchmarks/out/clip_$model.safetensors
    pixels=Benchmarks/out/clip_pixels_224.npy
    ours=$("$SCRATCH"/release/RegionSpotBench clip --weights "$weights" --pixels "$pixels" --runs "$RUNS" --out Benchmarks/out/clip)
    echo "$ours"
    WEIGHTS=$weights PIXELS=$pixels RUNS=$RUNS OURS="$ours" .venv-ref/bin/python - <<'PY'
import importlib.util, os, re, time
import numpy as np, torch
from safetensors.torch import load_file
torch.set_num_threads(2)

def module(name):
    spec = importlib.util.find_spec("clip")
    path = os.path.join(spec.submodule_search_locations[0], name + ".py")
    m = importlib.util.module_from_spec(importlib.util.spec_from_file_location("openai_clip_" + name, path))
    m.__spec__.loader.exec_module(m)
    return m

model_code, tokenizer_code = module("model"), module("simple_tokenizer")
model_code.convert_weights = lambda model: None  # build_model would round the weights to fp16
model = model_code.build_model(load_file(os.environ["WEIGHTS"])).float().eval()
tokenizer = tokenizer_code.SimpleTokenizer()
templates = re.findall(r'^        "(.*)",$', open("Sources/CLIP/PromptEnsemble.swift").read(), re.M)
assert len(templates) == 81
ids = torch.zeros(81, 77, dtype=torch.long)
for row, t in enumerate(templates):
    seq = [49406] + tokenizer.encode(t.replace("{}", "traffic light")) + [49407]
    ids[row, :len(seq)] = torch.tensor(seq)
pixels = torch.from_numpy(np.load(os.environ["PIXELS"]))

def featuremap(v, x):  # RegionSpot's VisionTransformer.forward_featuremap
    x = v.conv1(x).reshape(x.shape[0], v.conv1.out_channels, -1).permute(0, 2, 1)
    x = torch.cat([v.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1]), x], dim=1)
    x = v.ln_pre(x + v.positional_embedding)
    return v.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)

def best(f, runs):
    f()
    times = []
    for _ in range(runs):
        start = time.perf_counter(); out = f(); times.append(time.perf_counter() - start)
    return min(times), out

runs = int(os.environ["RUNS"])
with torch.no_grad():
    tv, token_map = best(lambda: featuremap(model.visual, pixels), runs)
    tt, text = best(lambda: model.encode_text(ids), runs)
ours = os.environ["OURS"]
sv = float(re.search(r"token map .*: ([0-9.]+) s", ours).group(1))
st = float(re.search(r"text 81 prompts .*: ([0-9.]+) s", ours).group(1))
ref_map, ref_text = token_map.numpy(), text.numpy()
swift_map = np.load("Benchmarks/out/clip/swift_token_map.npy")
swift_text = np.load("Benchmarks/out/clip/swift_text.npy")
print(f"pytorch {torch.__version__} vision token map: {tv:.3f} s   ours/pytorch = {sv / tv:.2f}x")
print(f"pytorch text 81 prompts at 77 tokens: {tt:.3f} s   ours/pytorch = {st / tt:.2f}x")
print(f"parity: token map max |diff| / max |ref| = {np.abs(swift_map - ref_map).max() / np.abs(ref_map).max():.2e}, "
      f"text {np.abs(swift_text - ref_text).max() / np.abs(ref_text).max():.2e}")
PY
done
