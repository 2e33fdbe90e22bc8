#!/usr/bin/env bash
# Whole RegionSpot pipeline per image (ViT-B SAM + ViT-B/16 CLIP + fusion D=768, random weights)
# with 10 and 100 boxes, ours beside RegionSpot's predictor pipeline in PyTorch, 2 threads each,
# from the same files. Generates the bundle on first use (needs .venv-ref, ~1 GB in Benchmarks/out).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=Benchmarks/out/pipeline
SCRATCH=${SCRATCH:-.build}
if [ ! -f "$OUT/bundle/regionspot.json" ]; then
    .venv-ref/bin/python Tools/make_pipeline_fixtures.py --bench
fi
swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
OURS=$("$SCRATCH"/release/RegionSpotBench pipeline --bundle "$OUT/bundle" --image "$OUT/image.png" \
    --boxes "$OUT/boxes_10.json" "$OUT/boxes_100.json" --vocab-file "$OUT/vocabulary.txt" "$@")
echo "$OURS"
REF=$(.venv-ref/bin/python - "$OUT" <<'PY'
import json, os, sys, time
import numpy as np, torch
from PIL import Image
sys.path.insert(0, "Tools")
import make_pipeline_fixtures as m

torch.set_num_threads(2)
out = sys.argv[1]
ref, scale = m.reference_from_bundle(os.path.join(out, "bundle"))
sam, fusion = ref.sam, ref.fusion
image = np.array(Image.open(os.path.join(out, "image.png")).convert("RGB"))
names = [l.strip() for l in open(os.path.join(out, "vocabulary.txt")) if l.strip()]
t = time.perf_counter(); classes = ref.class_embeddings(names)
print(f"reference text embeddings ({len(names)} classes × 81 prompts) {time.perf_counter() - t:.2f} s")
for n in (10, 100):
    boxes = np.array(json.load(open(os.path.join(out, f"boxes_{n}.json")))["boxes"], dtype=np.float32)
    with torch.no_grad():
        predictor = m.SamPredictor(sam)
        t0 = time.perf_counter(); predictor.set_image(image)
        t1 = time.perf_counter(); feat = ref.clip_features(image)
        t2 = time.perf_counter()
        hs = {}
        hook = sam.mask_decoder.transformer.register_forward_hook(lambda mod, i, o: hs.update(t=o[0]))
        box_t = torch.as_tensor(predictor.transform.apply_boxes(boxes, image.shape[:2]), dtype=torch.float)
        predictor.predict_torch(None, None, box_t, multimask_output=False)
        hook.remove()
        t3 = time.perf_counter()
        region = fusion["projector"](fusion["decoder"](fusion["to_clip"](hs["t"][:, 1, :][None]), feat[None]))[0]
        probs = torch.softmax(scale * (region / (region.norm(dim=-1, keepdim=True) + 1e-7)) @ classes.T, -1)
        probs.topk(5, dim=-1)
        t4 = time.perf_counter()
    print(f"reference {n} boxes: total {t4 - t0:.2f} s | SAM encoder {t1 - t0:.2f} s | CLIP {t2 - t1:.3f} s | "
          f"SAM decoder {t3 - t2:.2f} s | fusion {t4 - t3:.3f} s")
PY
)
echo "$REF"
for n in 10 100; do
    ours=$(echo "$OURS" | sed -n "s/^ours $n boxes: total \([0-9.]*\) s.*/\1/p")
    theirs=$(echo "$REF" | sed -n "s/^reference $n boxes: total \([0-9.]*\) s.*/\1/p")
    awk -v n="$n" -v o="$ours" -v r="$theirs" 'BEGIN { printf "%d boxes: ours %.2f s, PyTorch %.2f s per image: %.2fx faster\n", n, o, r, r / o }'
done
