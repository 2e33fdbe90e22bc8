#!/usr/bin/env bash
# JPEG decode and SAM's PIL-bilinear resize (1500×1000 → 1024×683) beside Pillow in the same
# run. Pillow's resample is single-threaded; ours uses 2 threads. Needs .venv-ref for Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p Benchmarks/out
IMAGE=Benchmarks/out/imaging_1500x1000.jpg
.venv-ref/bin/python - "$IMAGE" <<'PY'
import sys
sys.path.insert(0, "Tools")
from PIL import Image
from make_image_fixtures import pattern
Image.fromarray(pattern(1500, 1000, "mixed", 42)).save(sys.argv[1], quality=90)
PY
SCRATCH=${SCRATCH:-.build}  # e.g. SCRATCH=.build-vision to reuse another build directory
swift build -c release --product RegionSpotBench --scratch-path "$SCRATCH" >/dev/null
OURS=$("$SCRATCH"/release/RegionSpotBench imaging --image "$IMAGE" "$@")
echo "$OURS"
THEIRS=$(OMP_NUM_THREADS=2 .venv-ref/bin/python - "$IMAGE" <<'PY'
import io, sys, time
import PIL
from PIL import Image, ImageOps

path = sys.argv[1]
data = open(path, "rb").read()

def ms(body, seconds=2.0):
    body()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        body(); runs += 1
    return (time.perf_counter() - start) * 1e3 / runs

def decode():
    with Image.open(io.BytesIO(data)) as im:
        return ImageOps.exif_transpose(im).convert("RGB")

image = decode()
scale = 1024 / max(image.size)
w, h = int(image.width * scale + 0.5), int(image.height * scale + 0.5)
print(f"pillow {PIL.__version__} decode: {ms(decode):.2f} ms")
print(f"pillow {PIL.__version__} pil-bilinear {w}x{h}: {ms(lambda: image.resize((w, h), Image.Resampling.BILINEAR)):.2f} ms")
print(f"pillow {PIL.__version__} pil-bicubic 224x224: {ms(lambda: image.resize((224, 224), Image.Resampling.BICUBIC)):.2f} ms")
print(f"pillow {PIL.__version__} encode-png: {ms(lambda: image.save(io.BytesIO(), format='PNG', compress_level=1)):.2f} ms")
PY
)
echo "$THEIRS"
# Ratio per operation: Pillow time / our time (above 1: we are faster).
for op in decode pil-bilinear pil-bicubic encode-png; do
    ours=$(echo "$OURS" | grep "ours $op" | sed -E 's/.*: ([0-9.]+) ms.*/\1/')
    theirs=$(echo "$THEIRS" | grep " $op" | sed -E 's/.*: ([0-9.]+) ms.*/\1/')
    awk -v op="$op" -v a="$ours" -v b="$theirs" 'BEGIN { printf "%-13s ours %8.2f ms  pillow %8.2f ms  pillow/ours %.2fx\n", op, a, b, b / a }'
done
