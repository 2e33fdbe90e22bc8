#!/usr/bin/env bash
# Tiled attention at SAM's global-block size beside PyTorch's scaled_dot_product_attention,
# same shapes, 2 threads. Needs the reference venv (.venv-ref) for the PyTorch figure.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product RegionSpotBench >/dev/null
.build/release/RegionSpotBench attention "$@"
if [ -x .venv-ref/bin/python ]; then
    .venv-ref/bin/python - <<'PY'
import time, resource, torch
torch.set_num_threads(2)
n, h, d = 4096, 12, 64
q, k, v = (torch.rand(1, h, n, d) * 2 - 1 for _ in range(3))
f = torch.nn.functional.scaled_dot_product_attention
with torch.no_grad():
    f(q, k, v)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < 3:
        f(q, k, v); runs += 1
    per = (time.perf_counter() - start) / runs
print(f"pytorch {torch.__version__} sdpa same shapes: {per*1e3:.1f} ms/call, {4*n*n*h*d/per/1e9:.1f} GFLOP/s")
PY
fi
