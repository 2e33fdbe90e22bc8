#!/usr/bin/env bash
# The automatic mask generator (regionspot segment --everything) beside segment-anything's
# SamAutomaticMaskGenerator (MobileSAM's for TinyViT) on the same image, random full-size
# weights and threads: 32×32 points, without crops and with one crop layer. Prints the time of
# generate() in each, the masks each kept and each process's peak resident memory (with the
# weights' size beside it). Needs the venv .venv-ref (torch, segment_anything, mobile_sam for TinyViT).
#
#   Benchmarks/amg.sh           # full size (run on a quiet machine)
#   Benchmarks/amg.sh --smoke   # the tiny test model on the test image: checks that the script works
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
THREADS=${THREADS:-2}
LOWERED='{}'
export OMP_NUM_THREADS=$THREADS
if [ "${1:-}" = "--smoke" ]; then
    OUT=Benchmarks/out/amg-smoke
    IMAGE=Tests/SAMTests/Fixtures/amg_image.png
    MODELS=${MODELS:-tiny}
    POINTS=${POINTS:-8}
    # Random tiny weights: thresholds as in Tools/make_amg_fixtures.py, so that masks survive.
    LOWERED='{"pred_iou_thresh": 0.1, "stability_score_thresh": 0.7, "stability_score_offset": 0.05, "box_nms_thresh": 1.0}'
else
    OUT=Benchmarks/out/amg
    IMAGE=$OUT/amg_full.png
    MODELS=${MODELS:-vit_b tinyvit}
    POINTS=${POINTS:-32}
    # Random weights leave no mask at the default thresholds, and segment-anything's generator
    # then fails with crop layers (box_area of an empty crop_boxes tensor: IndexError). Lowered as
    # in Tools/make_amg_fixtures.py --full, NMS thresholds kept, so that masks survive.
    LOWERED='{"pred_iou_thresh": 0.3, "stability_score_thresh": 0.9, "stability_score_offset": 0.05}'
    if [ ! -f Benchmarks/out/sam/sam_vit_b_random.safetensors ]; then
        .venv-ref/bin/python Tools/make_sam_fixtures.py --full Benchmarks/out/sam 2>/dev/null
    fi
fi
mkdir -p "$OUT"
if [ ! -f "$IMAGE" ]; then
    .venv-ref/bin/python -c "import sys; sys.path.insert(0, 'Tools'); from make_amg_fixtures import smooth_image; \
from PIL import Image; Image.fromarray(smooth_image(768, 1024, seed=6)).save('$IMAGE')"
fi
if [ -z "${REGIONSPOT:-}" ]; then
    swift build -j 1 -c release --product regionspot --scratch-path "$SCRATCH" >/dev/null
    REGIONSPOT="$SCRATCH/release/regionspot"
fi

run_case() {  # model weights crop-layers
    local model=$1 weights=$2 layers=$3
    local flags=(--points-per-side "$POINTS" --crop-n-layers "$layers")
    flags+=($(python3 -c "import json, sys; print(' '.join(f'--{k.replace(\"_\", \"-\")}={v}' for k, v in json.loads(sys.argv[1]).items()))" "$LOWERED"))
    echo "== $model, ${POINTS}x$POINTS points, crop layers $layers (weights $(du -m "$weights" | cut -f1) MB)"
    local ours memory
    ours=$( { /usr/bin/time -f "peak %M KB" "$REGIONSPOT" segment --sam "$weights" "$IMAGE" --everything --no-png \
        --out "$OUT/ours_${model}_$layers" --threads "$THREADS" "${flags[@]}"; } 2>&1 )
    echo "ours: $(echo "$ours" | grep -E 'masks in') ($(echo "$ours" | grep -oE 'peak [0-9]+ KB' | awk '{printf "peak RSS %.0f MB", $2 / 1024}'))"
    MODEL=$model LOWERED=$LOWERED WEIGHTS=$weights IMAGE=$IMAGE LAYERS=$layers POINTS=$POINTS THREADS=$THREADS \
        .venv-ref/bin/python - <<'PY'
import json, os, resource, time, warnings
import numpy as np, torch
from PIL import Image
from safetensors.torch import load_file
warnings.filterwarnings("ignore")
torch.set_num_threads(int(os.environ["THREADS"]))
model = os.environ["MODEL"]
try:
    if model == "tinyvit":
        from mobile_sam import sam_model_registry, SamAutomaticMaskGenerator
        sam = sam_model_registry["vit_t"]()
    elif model == "vit_b":
        from segment_anything import sam_model_registry, SamAutomaticMaskGenerator
        sam = sam_model_registry["vit_b"]()
    else:
        import sys; sys.path.insert(0, "Tools")
        from make_sam_fixtures import vit_sam
        from segment_anything import SamAutomaticMaskGenerator
        sam = vit_sam(img_size=128, patch=16, embed=32, depth=2, heads=2, global_idx=(1,), window=5, prompt_dim=32)
except ImportError as error:
    print(f"reference: not measured ({error})")
    raise SystemExit(0)
sam.load_state_dict(load_file(os.environ["WEIGHTS"]))
sam.eval()
image = np.asarray(Image.open(os.environ["IMAGE"]).convert("RGB"))
generator = SamAutomaticMaskGenerator(sam, points_per_side=int(os.environ["POINTS"]), crop_n_layers=int(os.environ["LAYERS"]),
                                      **json.loads(os.environ["LOWERED"]))
with torch.no_grad():
    start = time.perf_counter()
    masks = generator.generate(image)
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"reference (torch {torch.__version__}): {len(masks)} masks in {seconds:.2f} s (peak RSS {peak:.0f} MB)")
PY
}

for model in $MODELS; do
    case $model in
        vit_b) weights=Benchmarks/out/sam/sam_vit_b_random.safetensors ;;
        tinyvit) weights=Benchmarks/out/sam/mobile_sam_random.safetensors ;;
        tiny) weights=Tests/SAMTests/Fixtures/vit_tiny.safetensors ;;
        *) echo "unknown model $model (vit_b, tinyvit, tiny)" >&2; exit 2 ;;
    esac
    for layers in 0 1; do run_case "$model" "$weights" "$layers"; done
done
