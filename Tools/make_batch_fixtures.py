#!/usr/bin/env python3
"""A small LVIS-format set for `regionspot predict --dataset` (Tests/CommandLineTests/Fixtures/batch),
and lvis-api's evaluation of what batch mode writes on it:

  images/img*.png   12 variants of Tools/make_create_fixtures.py's image (80×60)
  gt.json           LVIS v1 layout: 5 categories (r/c/f), annotations, negative and not-exhaustive ids
  proposals.json    a results file of scored boxes, 6 per image (as a detector writes them)
  results.json      `regionspot predict --dataset gt.json --proposals proposals.json` with the bundle
                    `regionspot models create` makes from Fixtures/models-create
  lvis_eval.json    lvis-api's LVISEval (bbox) metrics on results.json

Needs a built `regionspot` (--regionspot, default .build/release/regionspot) and lvis-api. PyPI's
lvis 0.5.3 still calls np.float (gone in numpy 2) and imports cv2 and matplotlib for its
visualiser; both are shimmed here, since neither touches the evaluation. Install it beside the reference venv with
    .venv-ref/bin/pip install --target .venv-lvis --no-deps lvis==0.5.3
and run
    PYTHONPATH=.venv-lvis .venv-ref/bin/python Tools/make_batch_fixtures.py
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "CommandLineTests", "Fixtures")
OUT = os.path.join(FIXTURES, "batch")
NAMES = ["cat", "traffic light", "wall-other-merged", "Band_Aid", "coffee mug"]
IMAGES = 12


def lvis_eval(gt, dt):
    np.float = float  # lvis 0.5.3's cumulative sums
    vis = types.ModuleType("lvis.vis")  # the visualiser (cv2, matplotlib) plays no part in evaluation
    vis.LVISVis = None
    sys.modules.setdefault("lvis.vis", vis)
    from lvis import LVISEval
    import contextlib
    import io
    e = LVISEval(gt, dt, "bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        e.run()
    return {k: float(v) for k, v in e.results.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--regionspot", default=os.path.join(ROOT, ".build", "release", "regionspot"))
    args = parser.parse_args()
    rng = np.random.default_rng(1203)
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    base = np.asarray(Image.open(os.path.join(FIXTURES, "models-create", "image.png")).convert("RGB"))
    h, w = base.shape[:2]
    categories = [{"id": k + 1, "name": n, "frequency": "rcf"[k % 3], "synonyms": [n], "synset": n, "def": n,
                   "image_count": 0, "instance_count": 0} for k, n in enumerate(NAMES)]
    images, annotations, proposals = [], [], []
    for i in range(IMAGES):
        noise = rng.integers(-40, 40, size=base.shape)
        Image.fromarray(np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8)).save(os.path.join(OUT, "images", f"img{i}.png"))
        image_id = 100 + 7 * i
        present = sorted(rng.choice(5, size=2, replace=False).tolist())
        negative = [c + 1 for c in range(5) if c not in present][:2]
        images.append({"id": image_id, "file_name": f"img{i}.png", "height": h, "width": w,
                       "neg_category_ids": negative, "not_exhaustive_category_ids": [present[0] + 1] if i % 4 == 0 else []})
        for c in present:
            x0, y0 = float(rng.integers(0, w // 2)), float(rng.integers(0, h // 2))
            bw, bh = float(rng.integers(10, w - x0)), float(rng.integers(10, h - y0))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": c + 1,
                                "bbox": [x0, y0, bw, bh], "area": bw * bh, "iscrowd": 0})
            # A detector's box near each object, and others anywhere.
            proposals.append({"image_id": image_id, "category_id": c + 1, "score": round(float(rng.uniform(0.4, 1)), 3),
                              "bbox": [x0 + float(rng.integers(-2, 3)), y0 + float(rng.integers(-2, 3)), bw, bh]})
        for _ in range(4):
            x0, y0 = float(rng.integers(0, w - 12)), float(rng.integers(0, h - 12))
            proposals.append({"image_id": image_id, "category_id": 1, "score": round(float(rng.uniform(0.05, 0.6)), 3),
                              "bbox": [x0, y0, float(rng.integers(8, w - x0)), float(rng.integers(8, h - y0))]})
    for c in categories:
        c["image_count"] = len({a["image_id"] for a in annotations if a["category_id"] == c["id"]})
        c["instance_count"] = sum(a["category_id"] == c["id"] for a in annotations)
    gt = os.path.join(OUT, "gt.json")
    with open(gt, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    with open(os.path.join(OUT, "proposals.json"), "w") as f:
        json.dump(proposals, f)

    results = os.path.join(OUT, "results.json")
    with tempfile.TemporaryDirectory() as scratch:
        bundle = os.path.join(scratch, "bundle")
        parts = os.path.join(FIXTURES, "models-create")
        subprocess.run([args.regionspot, "models", "create", "--sam", os.path.join(parts, "sam.pth"),
                        "--clip", os.path.join(parts, "clip_l336.pt"), "--fusion", os.path.join(parts, "regionspot.pth"),
                        "--out", bundle], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([args.regionspot, "predict", "--model", bundle, "--dataset", gt, "--images", os.path.join(OUT, "images"),
                        "--proposals", os.path.join(OUT, "proposals.json"), "--out", results, "--threads", "2", "--no-disk-cache"],
                       check=True)
    with open(os.path.join(OUT, "lvis_eval.json"), "w") as f:
        json.dump({"metrics": lvis_eval(gt, results)}, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
