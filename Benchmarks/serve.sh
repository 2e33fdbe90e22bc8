#!/usr/bin/env bash
# `regionspot serve` under load beside the in-process Recognizer, same requests, same run
# (RegionSpotBench serve-load): requests/s and p50/p99 latency at 1, 8 and 64 concurrent clients
# (64: a burst, one request each, every reply counted by status code), with 10 and 100 boxes,
# and an image seen before with 10 new boxes against a cold one. Targets: 8 clients at least
# 0.95× in-process; cached + 10 new boxes at most 10% of cold.
# Bundle: ViT-B SAM + ViT-B/16 CLIP, random weights (Benchmarks/out/pipeline, made here on first
# use by Tools/make_pipeline_fixtures.py --bench, which needs .venv-ref). The daemon runs
# Pipelines/local.yaml with room for the burst in its queues; BATCHING=1 turns localize batching on.
# Overrides: BUNDLE, IMAGE, BOXES (files, space-separated), VOCAB, CLIENTS ("1 8 64"), ROUNDS (2),
# REPEATS (load runs per client count but the burst, each between two in-process timings, 3),
# IN_PROCESS (requests timed in process, 4), BUILD_FLAGS (added to `swift build`). Run it alone:
# other work makes the figures meaningless. About 110 min at 6 s per request (2026-12-02).
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=Benchmarks/out/pipeline
BUNDLE=${BUNDLE:-$SOURCE/bundle}
IMAGE=${IMAGE:-$SOURCE/image.png}
BOXES=${BOXES:-"$SOURCE/boxes_10.json $SOURCE/boxes_100.json"}
VOCAB=${VOCAB:-$SOURCE/vocabulary.txt}
OUT=Benchmarks/out/serve
if [ ! -f "$BUNDLE/regionspot.json" ] && [ "$BUNDLE" = "$SOURCE/bundle" ]; then
    .venv-ref/bin/python Tools/make_pipeline_fixtures.py --bench
fi
# shellcheck disable=SC2086
swift build -c release ${BUILD_FLAGS:-} --product regionspot >/dev/null
# shellcheck disable=SC2086
swift build -c release ${BUILD_FLAGS:-} --product RegionSpotBench >/dev/null
mkdir -p "$OUT"
sed -e 's/^    queue_limit: 64$/    queue_limit: 256/' Pipelines/local.yaml > "$OUT/pipeline.yaml"
if [ "${BATCHING:-0}" = 1 ]; then
    sed -i -e 's/^    # batching:$/    batching:/' -e 's/^    #   max_/      max_/' "$OUT/pipeline.yaml"
fi
echo "$(.build/release/regionspot doctor --seconds 0.5 | grep -i gflop)"

.build/release/regionspot serve --model "$BUNDLE" --pipeline "$OUT/pipeline.yaml" --bind 'tcp://127.0.0.1:*' --no-disk-cache \
    >"$OUT/serve.out" 2>"$OUT/serve.err" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null || true' EXIT
until grep -q "ready on" "$OUT/serve.out"; do
    kill -0 $SERVE 2>/dev/null || { echo "serve died:" >&2; cat "$OUT/serve.err" >&2; exit 1; }
    sleep 0.2
done
ENDPOINT=$(sed -n 's/.*ready on \([^ ]*\) .*/\1/p' "$OUT/serve.out")

# shellcheck disable=SC2086
.build/release/RegionSpotBench serve-load --connect "$ENDPOINT" --bundle "$BUNDLE" --image "$IMAGE" --boxes $BOXES \
    --vocab-file "$VOCAB" --clients ${CLIENTS:-1 8 64} --rounds "${ROUNDS:-2}" --repeats "${REPEATS:-3}" --in-process-requests "${IN_PROCESS:-4}"
