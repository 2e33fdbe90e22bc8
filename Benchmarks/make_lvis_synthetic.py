#!/usr/bin/env python3
"""Writes an LVIS-scale synthetic box-evaluation set: ground truth in LVIS v1 format over the
real 1203 LVIS v1 categories (shared/data/lvis_v1_categories.json), and a results file with
300 detections per image. Seeded, so reruns give the same files.

    python3 Benchmarks/make_lvis_synthetic.py --images 5000 --out Benchmarks/out/lvis5k
"""
import argparse
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--gt-per-image", type=int, default=12)
    p.add_argument("--dets-per-image", type=int, default=300)
    p.add_argument("--categories", default=os.path.join(HERE, "..", "..", "shared", "data", "lvis_v1_categories.json"))
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    with open(a.categories) as f:
        cats = json.load(f)
    if isinstance(cats, dict):
        cats = cats.get("categories", cats)
    ids = [c["id"] for c in cats]
    # Frequent categories appear more often, as in LVIS.
    weights = [max(1, c.get("image_count", 1)) for c in cats]
    os.makedirs(a.out, exist_ok=True)

    images, anns, dets = [], [], []
    ann_id = 1
    for i in range(a.images):
        img_id = i * 7 + 1
        h, w = rng.randint(360, 640), rng.randint(480, 640)
        present = set(rng.choices(ids, weights=weights, k=max(1, a.gt_per_image // 3)))
        boxes = []
        for _ in range(a.gt_per_image):
            c = rng.choice(sorted(present))
            s = rng.choice([0.04, 0.1, 0.25, 0.5])
            bw, bh = max(2.0, w * s * rng.uniform(0.5, 1.5)), max(2.0, h * s * rng.uniform(0.5, 1.5))
            x, y = rng.uniform(0, max(1.0, w - bw)), rng.uniform(0, max(1.0, h - bh))
            box = [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)]
            poly = [box[0], box[1], box[0] + box[2], box[1], box[0] + box[2], box[1] + box[3], box[0], box[1] + box[3]]
            anns.append('{"id":%d,"image_id":%d,"category_id":%d,"bbox":[%s],"area":%s,"segmentation":[[%s]]}' % (
                ann_id, img_id, c, ",".join(map(repr, box)), repr(round(box[2] * box[3] * 0.85, 2)),
                ",".join(repr(round(v, 2)) for v in poly)))
            boxes.append((c, box))
            ann_id += 1
        negatives = sorted(set(rng.sample(ids, 8)) - present)
        not_exhaustive = sorted(rng.sample(sorted(present), 1)) if rng.random() < 0.3 else []
        images.append('{"id":%d,"height":%d,"width":%d,"neg_category_ids":[%s],"not_exhaustive_category_ids":[%s]}' % (
            img_id, h, w, ",".join(map(str, negatives)), ",".join(map(str, not_exhaustive))))
        candidates = sorted(present) + negatives
        for k in range(a.dets_per_image):
            if k < len(boxes) * 6:
                c, (x, y, bw, bh) = boxes[k % len(boxes)]
                j = 0.15 * max(bw, bh)
                box = [x + rng.gauss(0, j), y + rng.gauss(0, j), max(1.0, bw + rng.gauss(0, j)), max(1.0, bh + rng.gauss(0, j))]
                if rng.random() < 0.2:
                    c = rng.choice(candidates)
            else:
                c = rng.choice(candidates) if rng.random() < 0.7 else rng.choice(ids)
                bw, bh = rng.uniform(4, w / 2), rng.uniform(4, h / 2)
                box = [rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh]
            dets.append('{"image_id":%d,"category_id":%d,"bbox":[%.2f,%.2f,%.2f,%.2f],"score":%.4f}' % (
                img_id, c, box[0], box[1], box[2], box[3], rng.random()))
    categories = ",".join('{"id":%d,"name":%s,"frequency":"%s","image_count":%d}' % (
        c["id"], json.dumps(c["name"]), c["frequency"], c.get("image_count", 0)) for c in cats)
    with open(os.path.join(a.out, "gt.json"), "w") as f:
        f.write('{"info":{"description":"synthetic LVIS-scale set"},"images":[%s],"annotations":[%s],"categories":[%s]}'
                % (",".join(images), ",".join(anns), categories))
    with open(os.path.join(a.out, "dt.json"), "w") as f:
        f.write("[" + ",".join(dets) + "]")
    print("wrote %d images, %d annotations, %d detections to %s" % (len(images), len(anns), len(dets), a.out))


if __name__ == "__main__":
    main()
