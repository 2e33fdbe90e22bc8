#!/usr/bin/env bash
# Watch mode's overhead: N images (default 100) with 10-box sidecars through `regionspot watch
# --once`, against N `regionspot predict` calls and one in-process loop over the engine doing
# the same reads and writes (RegionSpotBench recognition-loop), same bundle, same threads, same run.
# Bundle: Benchmarks/out/pipeline/bundle (ViT-B SAM + ViT-B/16 CLIP, random weights; Benchmarks/pipeline.sh
# makes it), or BUNDLE=dir. Run it alone: other work on the machine makes the figures meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-100}
BUNDLE=${BUNDLE:-Benchmarks/out/pipeline/bundle}
SOURCE=${SOURCE:-Benchmarks/out/pipeline}
OUT=Benchmarks/out/watch
[ -f "$BUNDLE/regionspot.json" ] || { echo "no bundle at $BUNDLE: run Benchmarks/pipeline.sh once (or set BUNDLE)" >&2; exit 1; }
swift build -c release --product regionspot >/dev/null
swift build -c release --product RegionSpotBench >/dev/null
rm -rf "$OUT" && mkdir -p "$OUT/images" "$OUT/inbox"
for i in $(seq -f "%03g" 1 "$IMAGES"); do
    cp "$SOURCE/image.png" "$OUT/images/img$i.png"
    cp "$SOURCE/boxes_10.json" "$OUT/images/img$i.boxes.json"
done
cp "$OUT"/images/* "$OUT/inbox/"
VOCAB="$SOURCE/vocabulary.txt"
echo "$(.build/release/regionspot doctor --seconds 0.5 | grep -i gflop)"

start=$(date +%s.%N)
.build/release/RegionSpotBench recognition-loop --bundle "$BUNDLE" --images "$OUT/images" --out "$OUT/loop" --vocab-file "$VOCAB"
loop=$(echo "$(date +%s.%N) - $start" | bc)

start=$(date +%s.%N)
.build/release/regionspot watch "$OUT/inbox" --out "$OUT/watch" --model "$BUNDLE" --vocab-file "$VOCAB" --once --no-disk-cache 2>/dev/null
watch=$(echo "$(date +%s.%N) - $start" | bc)

start=$(date +%s.%N)
for image in "$OUT"/images/*.png; do
    .build/release/regionspot predict --model "$BUNDLE" "$image" --boxes "${image%.png}.boxes.json" --vocab-file "$VOCAB" \
        --no-disk-cache >/dev/null
done
predict=$(echo "$(date +%s.%N) - $start" | bc)

printf 'images %d\n' "$IMAGES"
printf 'in-process loop (with model load) %.1f s\n' "$loop"
printf 'watch --once (with model load)    %.1f s  (%.3f× the loop)\n' "$watch" "$(echo "$watch / $loop" | bc -l)"
printf '%d predict calls                  %.1f s  (%.3f× the loop)\n' "$IMAGES" "$predict" "$(echo "$predict / $loop" | bc -l)"
