#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and shows RegionSpot working on
# the embedded demo bundle (small SAM-style and CLIP-style encoders pretrained on the synthetic
# world of `regionspot synth`, and a fusion head trained there with `regionspot train`; see
# Tools/build_demo.py):
#   1. renders the val split the bundle was measured on (1,000 images, 3,343 objects), with each
#      image's annotated boxes beside it;
#   2. starts `regionspot serve` and asks it through `regionspot client` what is in the boxes of
#      a few val images (the vocabulary: all 320 names of the world, 10 never seen in training),
#      and draws one of them;
#   3. recognizes the whole val split on its annotated boxes (RegionSpot's GT-box protocol) and
#      prints `regionspot eval`'s table: AP, APr, APc, APf;
# then stops the daemon. Outputs go to Benchmarks/out/demo-run (DEMO_OUT overrides). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
began=$(date +%s)
bash Tools/install-deps.sh
swift build -c release --product regionspot
bin=.build/release/regionspot
out=${DEMO_OUT:-Benchmarks/out/demo-run}
world=$out/world
mkdir -p "$out"

echo
echo "== The synthetic world's val split (seed 0; the training scenes are drawn for the frequency groups, not written)"
$bin synth --out "$world" --val-only --box-sidecars --images 20000 --val-images 1000 --seed 0

echo
echo "== regionspot serve on the embedded demo bundle"
$bin serve --bind 'tcp://127.0.0.1:*' --no-disk-cache >"$out/serve.out" 2>"$out/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null || true' EXIT
until grep -q "ready on" "$out/serve.out"; do
    kill -0 $serve 2>/dev/null || { echo "serve stopped:" >&2; cat "$out/serve.log" >&2; exit 1; }
    sleep 0.2
done
endpoint=$(sed -n 's/.*ready on \([^ ]*\) .*/\1/p' "$out/serve.out")
echo "ready on $endpoint"

echo
echo "== What is in these boxes? (regionspot client; the vocabulary is all 320 names of the world)"
for image in 000001 000002 000003; do
    $bin client --connect "$endpoint" "$world/val/$image.png" --boxes "$world/val/$image.boxes.json" \
        --vocab-file "$world/names.txt" --top-k 2 --text
done
$bin client --connect "$endpoint" "$world/val/000001.png" --boxes "$world/val/000001.boxes.json" \
    --vocab-file "$world/names.txt" --top-k 1 --visualize "$out/000001.png" >/dev/null
echo "drew $out/000001.png"
kill $serve
wait $serve 2>/dev/null || true
trap - EXIT

echo
echo "== The val split on its annotated boxes (predict --dataset --gt-boxes), then regionspot eval"
$bin predict --dataset "$world/val.json" --images "$world/val" --gt-boxes --out "$out/results.json"
$bin eval --gt "$world/val.json" --dt "$out/results.json"
echo
echo "demo done in $(($(date +%s) - began)) s"
