#!/usr/bin/env bash
# SAM ViT-B and MobileSAM TinyViT image encoders and the 100-box mask decoder, ours beside
# PyTorch (segment-anything / MobileSAM code) and ONNX Runtime (the ViT-B encoder exported from
# the same PyTorch model), on the same random full-size weights and input, all at 2 threads.
# Also prints our GEMM peak from the same run and the largest differences between outputs.
# Needs the venv .venv-ref (torch, segment_anything, mobile_sam, onnxruntime).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
RUNS=${RUNS:-3}
OUT=Benchmarks/out/sam
export OMP_NUM_THREADS=2
if [ ! -f "$OUT/sam_vit_b_random.safetensors" ]; then
    .venv-ref/bin/python Tools/make_sam_fixtures.py --full "$OUT" 2>/dev/null
fi
if [ -z "${BENCH:-}" ]; then
    swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
    BENCH="$SCRATCH/release/RegionSpotBench"
fi

run_model() {  # name weights boxes flags
    local name=$1 weights=$2 boxes=$3; shift 3
    echo "== $name"
    local ours
    ours=$("$BENCH" sam --weights "$weights" --pixels "$OUT/pixels_1024.npy" --runs "$RUNS" --boxes "$boxes" --out "$OUT/ours_$name" "$@")
    echo "$ours"
    NAME=$name WEIGHTS=$weights BOXES=$boxes RUNS=$RUNS OURS="$ours" OURDIR="$OUT/ours_$name" ONNX="$OUT/${name}_encoder.onnx" \
        .venv-ref/bin/python - 2>/dev/null <<'PY'
import os, re, time, warnings
import numpy as np, torch
from safetensors.torch import load_file
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
name, runs, nboxes = os.environ["NAME"], int(os.environ["RUNS"]), int(os.environ["BOXES"])
if name == "vit_b":
    from segment_anything import sam_model_registry
    from segment_anything.predictor import SamPredictor
    sam = sam_model_registry["vit_b"]()
else:
    from mobile_sam import sam_model_registry
    from mobile_sam.predictor import SamPredictor
    sam = sam_model_registry["vit_t"]()
sam.load_state_dict(load_file(os.environ["WEIGHTS"]))
sam.eval()
pixels = torch.from_numpy(np.load("Benchmarks/out/sam/pixels_1024.npy"))[None]
ours = os.environ["OURS"]
ours_encoder = float(re.search(r"encoder ([0-9.]+) s", ours).group(1))

def best(f, n):
    t = float("inf")
    for _ in range(n):
        s = time.perf_counter(); r = f(); t = min(t, time.perf_counter() - s)
    return t, r

with torch.no_grad():
    t_torch, emb = best(lambda: sam.image_encoder(pixels), runs)
print(f"pytorch {torch.__version__} encoder {t_torch:.3f} s; ours/pytorch = {ours_encoder / t_torch:.2f}")
ref = emb[0].numpy()
mine = np.load(os.path.join(os.environ["OURDIR"], "image_embedding.npy"))
print(f"image embedding max |ours - pytorch| / max |pytorch| = {np.abs(mine - ref).max() / np.abs(ref).max():.2e}")

if name == "vit_b":
    try:
        import onnxruntime as ort
        path = os.environ["ONNX"]
        if not os.path.exists(path):
            torch.onnx.export(sam.image_encoder, pixels, path, opset_version=17, input_names=["pixels"],
                              output_names=["embedding"], dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"pixels": pixels.numpy()}
        t_ort, _ = best(lambda: session.run(None, feed), runs)
        print(f"onnxruntime {ort.__version__} encoder {t_ort:.3f} s; ours/onnxruntime = {ours_encoder / t_ort:.2f}; "
              f"ours/fastest peer = {ours_encoder / min(t_ort, t_torch):.2f}")
    except Exception as error:  # ONNX Runtime is optional
        print(f"onnxruntime: not measured ({error})")

if nboxes > 0:
    m = re.search(r"decoder \d+ boxes ([0-9.]+) s", ours)
    boxes = torch.from_numpy(np.load(os.path.join(os.environ["OURDIR"], "boxes.npy")))
    predictor = SamPredictor(sam)
    predictor.features, predictor.original_size, predictor.input_size, predictor.is_image_set = emb, (1024, 1024), (1024, 1024), True
    captured = {}
    sam.mask_decoder.transformer.register_forward_hook(lambda mod, i, o: captured.update(hs=o[0]))
    with torch.no_grad():
        t_dec, (masks, iou, _) = best(lambda: predictor.predict_torch(None, None, boxes=predictor.transform.apply_boxes_torch(boxes, (1024, 1024)),
                                                                     multimask_output=False), 2)
    print(f"pytorch decoder {nboxes} boxes {t_dec:.3f} s; ours/pytorch = {float(m.group(1)) / t_dec:.2f}")
    tokens = captured["hs"][:, 1:5].numpy()
    mine_tokens = np.load(os.path.join(os.environ["OURDIR"], "mask_tokens.npy"))
    print(f"mask tokens max rel diff {np.abs(mine_tokens - tokens).max() / np.abs(tokens).max():.2e} (ours on our embedding)")
PY
}

for model in ${MODELS:-vit_b tinyvit}; do
    case $model in
        vit_b) run_model vit_b "$OUT/sam_vit_b_random.safetensors" 100 --gemm-peak ;;
        tinyvit) run_model tinyvit "$OUT/mobile_sam_random.safetensors" "${TINYVIT_BOXES:-100}" ;;
        *) echo "unknown model $model (vit_b, tinyvit)" >&2; exit 2 ;;
    esac
done
