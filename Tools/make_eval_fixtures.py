#!/usr/bin/env python3
"""Regenerates Tests/EvaluationTests/Fixtures with the reference evaluators' own output.

Run with the reference venv (lvis-api git master installed, pycocotools 2.0.11):
    .venv-ref/bin/python Tools/make_eval_fixtures.py

PyPI's lvis 0.5.3 calls np.float and fails on numpy 2; install a checkout of lvis-api master
(commit 7d7f07d) unpacked into .venv-ref/src/lvis-api instead:
    .venv-ref/bin/pip install --no-build-isolation --no-deps -e .venv-ref/src/lvis-api

Everything is drawn from a seeded generator, so reruns give identical files. The synthetic
sets cover: tied scores, images with more than 300 detections, negative and not-exhaustive
categories, categories without ground truth, every area range, zero-area records, polygons
with several parts (and degenerate ones), compressed and uncompressed RLE, crowd regions,
more than 100 detections per image and category (COCO), and results without boxes.
"""
import contextlib
import io
import json
import os
import sys

import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from lvis import LVISEval

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EvaluationTests", "Fixtures")
rng = np.random.default_rng(20241129)


def dump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# Masks: polygon rasterisation, RLE strings, areas, boxes and IoUs, straight from pycocotools.

def random_polygon(cx, cy, rx, ry, points):
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radii = rng.uniform(0.4, 1.0, points)
    xs = cx + rx * radii * np.cos(angles)
    ys = cy + ry * radii * np.sin(angles)
    poly = np.stack([xs, ys], 1).reshape(-1)
    # A mix of integer, half-pixel and arbitrary coordinates stresses the rounding rules.
    mode = rng.integers(0, 3)
    if mode == 0:
        poly = np.round(poly)
    elif mode == 1:
        poly = np.round(poly * 2) / 2
    else:
        poly = np.round(poly, 2)
    return [float(v) for v in poly]


def mask_cases():
    cases = []
    for i in range(60):
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
            parts.append(random_polygon(cx, cy, rng.uniform(1, w), rng.uniform(1, h), int(rng.integers(3, 9))))
        if i % 10 == 3:  # repeated points make zero-length edges
            p = parts[0]
            parts[0] = p[:2] + p[:2] + p[2:] + p[-2:]
        if i % 10 == 7 and len(parts) > 1:  # a later part may be short (2 points) or odd-length
            parts[1] = parts[1][:4] if i % 20 == 7 else parts[1][:7]
        rles = mask_utils.frPyObjects(parts, h, w)
        rle = mask_utils.merge(rles)
        cases.append({
            "height": h, "width": w, "polygons": parts,
            "parts": [r["counts"].decode() for r in rles],
            "counts": rle["counts"].decode(),
            "area": int(mask_utils.area(rle)),
            "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        })
    boxes = []
    for _ in range(20):
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        box = [float(np.round(v, 1)) for v in (rng.uniform(-3, w), rng.uniform(-3, h), rng.uniform(0, w), rng.uniform(0, h))]
        rle = mask_utils.frPyObjects(np.array([box], dtype=np.double), h, w)[0]
        boxes.append({"height": h, "width": w, "box": box, "counts": rle["counts"].decode()})
    masks = []
    for _ in range(20):
        h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        m = (rng.random((h, w)) < rng.uniform(0.1, 0.9)).astype(np.uint8)
        if rng.random() < 0.3:
            m[:] = 0
            m[int(rng.integers(0, h)):, int(rng.integers(0, w)):] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        masks.append({"height": h, "width": w, "mask": [int(v) for v in m.flatten(order="F")],
                      "counts": rle["counts"].decode(), "area": int(mask_utils.area(rle)),
                      "bbox": [float(v) for v in mask_utils.toBbox(rle)]})
    # IoU between sets of masks of one size, with crowd flags, plus one of another size (-1).
    h, w = 40, 50
    dts = [mask_utils.merge(mask_utils.frPyObjects([random_polygon(rng.uniform(0, w), rng.uniform(0, h), 12, 10, 6)], h, w))
           for _ in range(8)]
    gts = [mask_utils.merge(mask_utils.frPyObjects([random_polygon(rng.uniform(0, w), rng.uniform(0, h), 14, 12, 7)], h, w))
           for _ in range(5)]
    gts.append(mask_utils.merge(mask_utils.frPyObjects([[1.0, 1.0, 30.0, 2.0, 20.0, 25.0]], h + 1, w)))
    crowd = [0, 1, 0, 1, 0, 0]
    ious = mask_utils.iou(dts, gts, crowd)
    dt_boxes = [[float(np.round(v, 1)) for v in (rng.uniform(0, 40), rng.uniform(0, 40), rng.uniform(0, 30), rng.uniform(0, 30))]
                for _ in range(10)]
    gt_boxes = [[float(np.round(v, 1)) for v in (rng.uniform(0, 40), rng.uniform(0, 40), rng.uniform(0, 30), rng.uniform(0, 30))]
                for _ in range(6)]
    box_ious = mask_utils.iou(dt_boxes, gt_boxes, crowd)
    dump("masks.json", {
        "polygons": cases, "boxes": boxes, "masks": masks,
        "iou": {"dt": [{"size": r["size"], "counts": r["counts"].decode()} for r in dts],
                "gt": [{"size": r["size"], "counts": r["counts"].decode()} for r in gts],
                "crowd": crowd, "iou": [[float(v) for v in row] for row in ious]},
        "box_iou": {"dt": dt_boxes, "gt": gt_boxes, "crowd": crowd, "iou": [[float(v) for v in row] for row in box_ious]},
    })


# ---------------------------------------------------------------------------------------------
# Datasets.

FREQS = ["r", "c", "f"]


def make_categories():
    ids = sorted(rng.choice(np.arange(1, 60), size=24, replace=False).tolist())
    return [{"id": int(c), "name": "cat%d" % c, "frequency": FREQS[i % 3]} for i, c in enumerate(ids)]


def make_images(n):
    ids = rng.choice(np.arange(1, 1000), size=n, replace=False).tolist()  # file order is not id order
    return [{"id": int(i), "height": int(rng.integers(60, 230)), "width": int(rng.integers(60, 230))} for i in ids]


def gt_annotation(img, cat_id, ann_id, crowd):
    h, w = img["height"], img["width"]
    scale = rng.choice([0.08, 0.2, 0.45, 0.8])  # small to large objects
    cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
    rx, ry = scale * w / 2 + 1, scale * h / 2 + 1
    parts = [random_polygon(cx, cy, rx, ry, int(rng.integers(3, 10)))]
    if rng.random() < 0.3:  # a second part
        parts.append(random_polygon(cx + rx, cy - ry / 2, rx / 2, ry / 2, int(rng.integers(3, 7))))
    rle = mask_utils.merge(mask_utils.frPyObjects(parts, h, w))
    ann = {"id": ann_id, "image_id": img["id"], "category_id": cat_id,
           "bbox": [float(v) for v in mask_utils.toBbox(rle)], "area": float(mask_utils.area(rle))}
    kind = rng.random()
    if crowd:
        m = mask_utils.decode(rle)
        counts = []
        prev, run = 0, 0
        for v in m.flatten(order="F"):
            if v != prev:
                counts.append(run)
                run, prev = 0, v
            run += 1
        counts.append(run)
        ann["segmentation"] = {"size": [h, w], "counts": counts}
    elif kind < 0.15:
        ann["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode()}
    else:
        ann["segmentation"] = parts
    return ann, parts


def jitter_parts(parts, amount):
    return [[round(v + float(rng.normal(0, amount)), 2) for v in p] for p in parts]


def make_dataset(lvis):
    cats = make_categories()
    cat_ids = [c["id"] for c in cats]
    images = make_images(36)
    anns, dets = [], []
    present_cats = cat_ids[:18]  # the last six categories never have ground truth
    ann_id = 1
    for n, img in enumerate(images):
        h, w = img["height"], img["width"]
        in_image = rng.choice(present_cats, size=int(rng.integers(0, 5)), replace=False).tolist()
        gt_parts = []
        for c in in_image:
            for _ in range(int(rng.integers(1, 4))):
                crowd = (not lvis) and rng.random() < 0.15
                ann, parts = gt_annotation(img, c, ann_id, crowd)
                if lvis and rng.random() < 0.05:
                    ann["area"] = 0.0  # zero-area ground truth is dropped by lvis-api
                if not lvis:
                    ann["iscrowd"] = int(crowd)
                anns.append(ann)
                gt_parts.append((c, ann, parts))
                ann_id += 1
        absent = [c for c in cat_ids if c not in in_image]
        img["neg_category_ids"] = sorted(rng.choice(absent, size=int(rng.integers(0, 6)), replace=False).tolist())
        ne = rng.choice(in_image, size=min(len(in_image), int(rng.integers(0, 2))), replace=False).tolist() if in_image else []
        if rng.random() < 0.2:
            ne.append(int(rng.choice(absent)))
        img["not_exhaustive_category_ids"] = sorted(int(c) for c in ne)
        # Detections: jittered copies of the ground truth, plus false positives.
        for c, ann, parts in gt_parts:
            for _ in range(int(rng.integers(1, 5))):
                x, y, bw, bh = ann["bbox"]
                s = 0.15 * max(bw, bh) * rng.random()
                box = [round(x + rng.normal(0, s), 2), round(y + rng.normal(0, s), 2),
                       round(max(bw + rng.normal(0, s), 0.5), 2), round(max(bh + rng.normal(0, s), 0.5), 2)]
                dets.append((img, c, box, jitter_parts(parts, 0.05 * max(bw, bh) + 0.3)))
        for _ in range(int(rng.integers(2, 12))):
            c = int(rng.choice(cat_ids + [999]))  # 999: a category the ground truth lacks
            bw, bh = rng.uniform(2, w / 2), rng.uniform(2, h / 2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            box = [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)]
            poly = [x, y, x + bw, y, x + bw * 0.7, y + bh, x, y + bh * 0.6]
            dets.append((img, c, box, [[round(v, 2) for v in poly]]))
        if n in (3, 11):  # more than 300 results in one image
            extra = 340 if lvis else 140
            for _ in range(extra):
                c = int(rng.choice(in_image or present_cats))
                bw, bh = rng.uniform(2, w / 2), rng.uniform(2, h / 2)
                x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                box = [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)]
                dets.append((img, c, box, [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]))
    results = []
    for img, c, box, parts in dets:
        score = float(np.round(rng.random() * 20) / 20)  # coarse scores: many ties
        if rng.random() < 0.02:
            box = [box[0], box[1], 0.0, box[3]]  # zero-area detection
        rle = mask_utils.merge(mask_utils.frPyObjects(parts, img["height"], img["width"]))
        results.append({"image_id": img["id"], "category_id": c, "bbox": box, "score": score,
                        "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    order = rng.permutation(len(results))  # results arrive interleaved across images
    results = [results[i] for i in order]
    if lvis:
        # A ground-truth record flagged ignore, and one empty mask among the results.
        anns[5]["ignore"] = 1
        h, w = results[7]["segmentation"]["size"]
        empty = mask_utils.encode(np.zeros((h, w, 1), dtype=np.uint8, order="F"))[0]
        results[7]["segmentation"] = {"size": [h, w], "counts": empty["counts"].decode()}
    gt = {"info": {"description": "synthetic"}, "images": images, "annotations": anns, "categories": cats}
    if not lvis:
        for img in images:
            del img["neg_category_ids"], img["not_exhaustive_category_ids"]
        for c in cats:
            del c["frequency"]
    return gt, results


# ---------------------------------------------------------------------------------------------
# Reference runs.

def lvis_expected(gt_path, dt_path, iou_type):
    e = quiet(LVISEval, gt_path, dt_path, iou_type)
    quiet(e.run)
    precision, recall = e.eval["precision"], e.eval["recall"]
    T, R, K, A = precision.shape
    ap = [[(lambda s: float(np.mean(s[s > -1])) if (s > -1).any() else -1.0)(np.ascontiguousarray(precision[:, :, k, a]))
           for a in range(A)] for k in range(K)]
    return {"metrics": {k: float(v) for k, v in e.results.items()},
            "category_ids": e.params.cat_ids, "category_area_ap": ap,
            "recall": [float(v) for v in recall.flatten()]}


def coco_expected(gt_path, dt_path, iou_type):
    gt = quiet(COCO, gt_path)
    dt = quiet(gt.loadRes, dt_path)
    e = COCOeval(gt, dt, iou_type)
    quiet(e.evaluate)
    quiet(e.accumulate)
    quiet(e.summarize)
    precision, recall = e.eval["precision"], e.eval["recall"]
    T, R, K, A, M = precision.shape
    ap = [[[(lambda s: float(np.mean(s[s > -1])) if (s > -1).any() else -1.0)(np.ascontiguousarray(precision[:, :, k, a, m]))
            for m in range(M)] for a in range(A)] for k in range(K)]
    keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    return {"metrics": dict(zip(keys, (float(v) for v in e.stats))),
            "category_ids": [int(c) for c in e.params.catIds], "category_area_ap": ap,
            "recall": [float(v) for v in recall.flatten()]}


def main():
    os.makedirs(OUT, exist_ok=True)
    mask_cases()
    path = lambda name: os.path.join(OUT, name)

    gt, results = make_dataset(lvis=True)
    dump("lvis_gt.json", gt)
    dump("lvis_dt.json", results)
    nobox = [{k: v for k, v in r.items() if k != "bbox"} for r in results[:400]]
    dump("lvis_dt_nobox.json", nobox)
    boxes_only = [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
    dump("lvis_dt_bbox.json", boxes_only)

    cgt, cresults = make_dataset(lvis=False)
    dump("coco_gt.json", cgt)
    dump("coco_dt.json", cresults)

    expected = {
        "lvis_bbox": lvis_expected(path("lvis_gt.json"), path("lvis_dt_bbox.json"), "bbox"),
        "lvis_segm": lvis_expected(path("lvis_gt.json"), path("lvis_dt.json"), "segm"),
        "lvis_segm_nobox": lvis_expected(path("lvis_gt.json"), path("lvis_dt_nobox.json"), "segm"),
        "lvis_bbox_nobox": lvis_expected(path("lvis_gt.json"), path("lvis_dt_nobox.json"), "bbox"),
        "coco_bbox": coco_expected(path("coco_gt.json"), path("coco_dt.json"), "bbox"),
        "coco_segm": coco_expected(path("coco_gt.json"), path("coco_dt.json"), "segm"),
    }
    with open(path("expected.json"), "w") as f:
        json.dump(expected, f, indent=0)
    for name, e in expected.items():
        print(name, {k: round(v, 4) for k, v in e["metrics"].items()}, file=sys.stderr)


if __name__ == "__main__":
    main()
