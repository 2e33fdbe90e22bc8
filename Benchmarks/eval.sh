#!/usr/bin/env bash
# `regionspot eval` against lvis-api (or pycocotools) on an LVIS-scale synthetic set: wall time
# and peak memory of both from the same run, their ratios, and the largest metric difference.
#
#   bash Benchmarks/eval.sh                 # 5,000 images x 300 detections, box AP, both sides
#   IMAGES=20000 REFERENCE=0 bash Benchmarks/eval.sh   # full LVIS v1 val scale, ours only
#
# The reference needs the venv with lvis-api git master (see Tools/make_eval_fixtures.py).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=${IMAGES:-5000}
REFERENCE=${REFERENCE:-1}
PY=${PY:-.venv-ref/bin/python}
OUT=Benchmarks/out/lvis_synthetic_${IMAGES}
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2

if [ ! -f "$OUT/dt.json" ]; then
    python3 Benchmarks/make_lvis_synthetic.py --images "$IMAGES" --out "$OUT"
fi
swift build -c release --product RegionSpotBench --scratch-path "${SCRATCH:-.build}" >/dev/null
BENCH="${SCRATCH:-.build}/release/RegionSpotBench"

ours=$("$BENCH" eval --gt "$OUT/gt.json" --dt "$OUT/dt.json" --json "$OUT/ours.json")
echo "$ours"
[ "$REFERENCE" = 1 ] || exit 0
ref=$("$PY" Benchmarks/eval_reference.py "$OUT/gt.json" "$OUT/dt.json" bbox lvis)
echo "$ref"

python3 - "$OUT/ours.json" "$ours" "$ref" <<'PY'
import json, re, sys
ours = json.load(open(sys.argv[1]))
ours_text, ref_text = sys.argv[2], sys.argv[3]
ref = json.loads(ref_text.split("reference metrics: ", 1)[1])
grab = lambda text, pat: float(re.search(pat, text).group(1))
ow, om = grab(ours_text, r"wall ([\d.]+) s"), grab(ours_text, r"peak RSS ([\d.]+) MB")
rw, rm = grab(ref_text, r"wall ([\d.]+) s"), grab(ref_text, r"peak RSS ([\d.]+) MB")
oc, rc = grab(ours_text, r"cpu ([\d.]+) s"), grab(ref_text, r"cpu ([\d.]+) s")
diff = max(abs(ours[k] - ref[k]) for k in ref)
print("speed: %.1fx faster than lvis-api (%.2f s vs %.2f s wall)" % (rw / ow, ow, rw))
print("cpu: %.1fx less than lvis-api (%.2f s vs %.2f s)" % (rc / oc, oc, rc))
print("memory: %.1fx less than lvis-api (%.0f MB vs %.0f MB)" % (rm / om, om, rm))
print("largest metric difference: %.3g over %d metrics" % (diff, len(ref)))
PY
