#!/usr/bin/env bash
# Batch mode (`regionspot predict --dataset`, both encoders busy) beside an in-process loop of
# recognize calls (RegionSpotBench recognition-loop) and RegionSpot's predictor pipeline in PyTorch
# (Benchmarks/batch_reference.py), on the same IMAGES images (default 20) with 10 proposals each and
# THREADS threads (default 2). Each prints images/s over its images (model loading and class
# embeddings excluded) and the cores its CPU time filled over them; beside each, every core's busy
# share from /proc/stat over the whole run (machine-wide: other jobs count). Target: batch mode at
# least 1.0× the loop, and both cores at least 90% busy.
# Bundle: Benchmarks/out/pipeline/bundle (ViT-B SAM + ViT-B/16 CLIP, random weights;
# `.venv-ref/bin/python Tools/make_pipeline_fixtures.py --bench` makes it), or BUNDLE=dir.
# SMOKE=1: 3 images through the tiny committed models-create bundle, debug build, no PyTorch: a
# check that the script runs, not a measurement. Run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv-ref/bin/python}
THREADS=${THREADS:-2}
OUT=Benchmarks/out/batch
rm -rf "$OUT" && mkdir -p "$OUT/images"
if [ "${SMOKE:-0}" = 1 ]; then
    IMAGES=${IMAGES:-3}
    CONFIG=debug
    FIXTURES=Tests/CommandLineTests/Fixtures/models-create
    swift build -c "$CONFIG" --product regionspot >/dev/null
    BUNDLE="$OUT/bundle"
    .build/$CONFIG/regionspot models create --sam "$FIXTURES/sam.pth" --clip "$FIXTURES/clip_l336.pt" \
        --fusion "$FIXTURES/regionspot.pth" --out "$BUNDLE" >/dev/null
    IMAGE="$FIXTURES/image.png"
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); json.dump({"boxes": r["boxes"], "scores": [0.9, 0.5, 0.7, 0.3]}, open(sys.argv[2], "w")); open(sys.argv[3], "w").write("\n".join(r["vocabulary"]) + "\n")' \
        "$FIXTURES/request.json" "$OUT/boxes.json" "$OUT/vocabulary.txt"
else
    IMAGES=${IMAGES:-20}
    CONFIG=release
    SOURCE=Benchmarks/out/pipeline
    BUNDLE=${BUNDLE:-$SOURCE/bundle}
    [ -f "$BUNDLE/regionspot.json" ] || "$PY" Tools/make_pipeline_fixtures.py --bench
    IMAGE="$SOURCE/image.png"
    cp "$SOURCE/boxes_10.json" "$OUT/boxes.json"
    cp "$SOURCE/vocabulary.txt" "$OUT/vocabulary.txt"
fi
swift build -c "$CONFIG" --product regionspot >/dev/null
swift build -c "$CONFIG" --product RegionSpotBench >/dev/null

# The dataset: IMAGES copies of the image, the vocabulary as its categories, the boxes as every
# image's proposals (and as the loop's sidecars).
python3 - "$IMAGE" "$OUT" "$IMAGES" <<'PY'
import json, os, shutil, sys
from struct import unpack
image, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(image, "rb") as f:
    width, height = unpack(">II", f.read(24)[16:24])  # PNG IHDR
boxes = json.load(open(os.path.join(out, "boxes.json")))
names = [l.strip() for l in open(os.path.join(out, "vocabulary.txt")) if l.strip()]
images, proposals = [], []
for i in range(n):
    name = f"img{i:03d}"
    shutil.copy(image, os.path.join(out, "images", name + ".png"))
    shutil.copy(os.path.join(out, "boxes.json"), os.path.join(out, "images", name + ".boxes.json"))
    images.append({"id": i + 1, "file_name": name + ".png", "width": width, "height": height,
                   "neg_category_ids": [], "not_exhaustive_category_ids": []})
    for (x0, y0, x1, y1), score in zip(boxes["boxes"], boxes["scores"]):
        proposals.append({"image_id": i + 1, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
categories = [{"id": k + 1, "name": name, "frequency": "f"} for k, name in enumerate(names)]
json.dump({"images": images, "annotations": [], "categories": categories}, open(os.path.join(out, "gt.json"), "w"))
json.dump(proposals, open(os.path.join(out, "proposals.json"), "w"))
PY

snapshot() { grep -E '^cpu[0-9]+ ' /proc/stat; }
# Busy share of each core between two snapshots: 1 - (idle + iowait) / total.
core_busy() {
    paste -d' ' <(echo "$1") <(echo "$2") | awk '{ n = NF / 2; t0 = 0; t1 = 0
        for (i = 2; i <= n; i++) { t0 += $i; t1 += $(i + n) }
        printf "%s %.0f%% ", $1, 100 * (1 - (($(5 + n) + $(6 + n)) - ($5 + $6)) / (t1 - t0)) }'
}
# Runs a command, prints its line matching $1 and the cores' busy shares over the whole run.
measure() {
    local pattern=$1; shift
    local before after line
    before=$(snapshot)
    line=$("$@" 2>&1 | grep -E "$pattern" | tail -1)
    after=$(snapshot)
    echo "$line | cores over the run: $(core_busy "$before" "$after")"
}

echo "$(.build/$CONFIG/regionspot doctor --seconds 0.5 | grep -i gflop)"
echo "images $IMAGES, threads $THREADS, bundle $BUNDLE"
BATCH=$(measure "images recognized" .build/$CONFIG/regionspot predict --model "$BUNDLE" --dataset "$OUT/gt.json" \
    --images "$OUT/images" --proposals "$OUT/proposals.json" --out "$OUT/results.json" --threads "$THREADS" --no-disk-cache)
echo "batch mode: $BATCH"
LOOP=$(measure "in-process loop" .build/$CONFIG/RegionSpotBench recognition-loop --bundle "$BUNDLE" \
    --images "$OUT/images" --out "$OUT/loop" --vocab-file "$OUT/vocabulary.txt" --threads "$THREADS")
echo "$LOOP"
if [ "${SMOKE:-0}" != 1 ] && [ -x "$PY" ]; then
    echo "$(measure "PyTorch reference" "$PY" Benchmarks/batch_reference.py "$BUNDLE" "$OUT/gt.json" "$OUT/images" "$OUT/proposals.json" "$THREADS")"
fi
batch_rate=$(echo "$BATCH" | sed -n 's/.*(\([0-9.]*\) images\/s.*/\1/p')
loop_rate=$(echo "$LOOP" | sed -n 's/.*(\([0-9.]*\) images\/s.*/\1/p')
awk -v b="$batch_rate" -v l="$loop_rate" 'BEGIN { printf "batch mode / in-process loop: %.3f× (target ≥ 1.0×)\n", b / l }'
