#!/usr/bin/env python3
"""RegionSpot's predictor pipeline in PyTorch over a dataset, as Benchmarks/batch.sh times it
beside `regionspot predict --dataset`: per image SAM's set_image and box decoding, CLIP's token
map, the fusion head, and the scoring of detector.py `inference_pred_box` (the top 900 (box,
class) pairs by probability, times the box score). Prints images/s and the cores its CPU time
filled, over the images only (loading and the class embeddings come before).

    .venv-ref/bin/python Benchmarks/batch_reference.py BUNDLE GT.json IMAGES PROPOSALS.json [THREADS]
"""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tools"))
import make_pipeline_fixtures as m  # noqa: E402


def main():
    bundle, gt_path, images_dir, proposals_path = sys.argv[1:5]
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
    ref, scale = m.reference_from_bundle(bundle)
    gt = json.load(open(gt_path))
    names = [c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"])]
    proposals = {}
    for p in json.load(open(proposals_path)):
        proposals.setdefault(p["image_id"], []).append(p)
    classes = ref.class_embeddings(names)
    start, cpu_start = time.perf_counter(), time.process_time()
    records = 0
    for image in gt["images"]:
        pixels = np.array(Image.open(os.path.join(images_dir, image["file_name"])).convert("RGB"))
        mine = proposals.get(image["id"], [])
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (p["bbox"] for p in mine)], dtype=np.float32)
        scores = torch.tensor([p["score"] for p in mine])
        with torch.no_grad():
            tokens, _, _ = ref.sam_tokens(pixels, boxes)
            feat = ref.clip_features(pixels)
            region = ref.fusion["projector"](ref.fusion["decoder"](ref.fusion["to_clip"](tokens[None]), feat[None]))[0]
            probs = torch.softmax(scale * (region / (region.norm(dim=-1, keepdim=True) + 1e-7)) @ classes.T, -1).flatten()
            top, index = torch.topk(probs, min(900, len(probs)))
            records += len(scores[index // len(names)] * top)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    n = len(gt["images"])
    print(f"PyTorch reference: {n} images in {seconds:.2f} s ({n / seconds:.3f} images/s, CPU {cpu / seconds:.2f} cores), {records} records")


if __name__ == "__main__":
    main()
