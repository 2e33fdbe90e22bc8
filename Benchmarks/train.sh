#!/usr/bin/env bash
# Training throughput of the fusion module on fixed (cached) features, ours beside PyTorch training
# the same module the same way (8 images × 32 regions, 365 classes, focal loss, dropout 0.1,
# clipping, AdamW), at D = 768 (ViT-B/16: 197 tokens, text 512) and D = 1024 (ViT-L/14: 257
# tokens, text 768), 2 threads each. Needs the reference venv (.venv-ref) for the PyTorch figures.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
SCRATCH=${SCRATCH:-.build}
swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for widths in "768 512 197" "1024 768 257"; do
    set -- $widths
    "$SCRATCH"/release/RegionSpotBench train --d-model "$1" --text-dim "$2" --tokens "$3" --threads "$THREADS"
    if [ -x .venv-ref/bin/python ]; then
        .venv-ref/bin/python Benchmarks/train_reference.py "$1" "$2" "$3" "$THREADS"
    fi
done

# The feature cache's precompute beside the encoders alone, on the pipeline benchmark's random
# ViT-B SAM + ViT-B/16 CLIP bundle (made on first use, as Benchmarks/pipeline.sh does).
OUT=Benchmarks/out/pipeline
if [ -x .venv-ref/bin/python ] && [ ! -f "$OUT/bundle/regionspot.json" ]; then
    .venv-ref/bin/python Tools/make_pipeline_fixtures.py --bench
fi
if [ -f "$OUT/bundle/regionspot.json" ]; then
    "$SCRATCH"/release/RegionSpotBench train-precompute --bundle "$OUT/bundle" --image "$OUT/image.png" --threads "$THREADS"
fi
