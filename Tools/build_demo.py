#!/usr/bin/env python3
"""Builds the embedded demo bundle from scratch: the synthetic world, small pretrained encoders
for it, a fusion head trained on it, and the measurements the README reports.

Run from the repository root with the reference venv, after building the release binary
(swift build -c release --product regionspot), with nothing else running:
    .venv-ref/bin/python Tools/build_demo.py [--out Benchmarks/out/demo]

Steps, each timed (OUT/record.json keeps the times, the measurements and every file's sha256):
  1. `regionspot synth` renders the world into OUT/world (LVIS format): the long-tail train
     split the fusion head learns on, val, and a pretraining split for the encoders (training
     categories drawn alike, no long tail).
  2. A CLIP-style model (OpenAI `clip.model.CLIP` at a small size: ViT width 128, 4 layers,
     patch 16 at 128 px; text transformer width 128, 3 layers; the real BPE tokenizer and
     vocabulary), on the pretraining split, first warms its vision tower up alone (linear heads
     naming each object's colour, shape and texture from its mask-pooled tokens, and the dense
     and position probes below), then learns a region-level contrastive loss on the whole
     image's token map (the last-block tokens averaged inside each object's mask, then ln_post
     and the projection, against the object's caption among all training names, plus colour-,
     shape- and texture-only captions at half weight), a position loss (a linear probe on each
     patch token predicting its grid cell, weight 0.5) and dense attribute probes (linear probes
     on each patch token naming the colour, shape and texture of the object under it, or
     background); the probes and heads are discarded afterwards.
  3. A SAM-style model (segment-anything's ImageEncoderViT at patch 8, width 96, depth 4,
     output 64, with the real PromptEncoder and MaskDecoder), on the pretraining split, learns
     box -> mask 0 and point -> masks 1-3 with BCE + dice (and its IoU head with MSE).
  4. Measured on val: CLIP's zero-shot top-1 of the tokens pooled inside each ground-truth box
     and SAM's mIoU from ground-truth boxes.
  5. Saved in the published layouts (OUT/sam_demo.pth, OUT/clip_demo.pt), converted by
     `regionspot convert` into the encoder bundle OUT/bundle (fusion head at PyTorch's default
     initialisation) and checked with `regionspot models check`.
  6. `regionspot train` trains the fusion head on the cached features of the training split
     (softmax cross-entropy); its bundle is stored in fp16 as the embedded demo bundle
     (Sources/regionspot/DemoBundle) and evaluated on val with ground-truth boxes.
  7. Baselines on the same val split: crop-CLIP (CLIP's tokens pooled in each box, zero-shot) and
     the same fusion training on randomly initialised encoders (--skip-baselines skips them).
  8. OUT/record.json and Tools/demo_record.json (committed) keep the settings, timings,
     measurements and every file's sha256; a test checks the committed bundle against it.
Held-out categories never reach training: their names are not in train.json.
Deterministic for a seed and thread count (seeded generators, deterministic algorithms).
"""
import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from functools import partial

# Idle OpenMP workers sleep instead of spinning: spinning threads on 2 cores shared with the other
# slot's job made every matmul 6x slower (measured). Read when torch loads, so set before it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as mask_utils
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = 8  # CLIP patch grid: 128 px / patch 16
TEMPLATES = ["a photo of a {}.", "a {}.", "a picture of a {}.", "a drawing of a {}.", "there is a {} in the scene."]
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
SAM_MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
SAM_STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def load_openai_module(name):
    """Imports clip/<name>.py without clip/__init__.py (which needs pkg_resources)."""
    spec = importlib.util.find_spec("clip")
    path = os.path.join(spec.submodule_search_locations[0], name + ".py")
    module_spec = importlib.util.spec_from_file_location("openai_clip_" + name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def log(text):
    print(text, flush=True)


# MARK: - The world

class Split:
    """One split: images [N, H, W, 3] uint8, per image its annotations, and the categories by id."""

    def __init__(self, world, name):
        with open(os.path.join(world, name + ".json")) as f:
            data = json.load(f)
        self.categories = {c["id"]: c for c in data["categories"]}
        by_image = {image["id"]: [] for image in data["images"]}
        for a in data["annotations"]:
            by_image[a["image_id"]].append(a)
        self.pixels = np.stack([np.asarray(Image.open(os.path.join(world, name, image["file_name"])).convert("RGB"))
                                for image in data["images"]])
        self.annotations = [by_image[image["id"]] for image in data["images"]]
        self.usable = [i for i, a in enumerate(self.annotations) if a]
        self._coverage = None

    def masks(self, annotations):
        """[n, H, W] float masks of annotations."""
        return torch.from_numpy(np.stack([mask_utils.decode({"size": a["segmentation"]["size"],
                                                             "counts": a["segmentation"]["counts"].encode()})
                                          for a in annotations]).astype(np.float32))

    def patch_coverage(self):
        """Each image's objects' patch coverage [n, GRID²] (None for an image without objects), decoded
        once: decoding every object's mask again at every step took most of a CLIP step."""
        if self._coverage is None:
            self._coverage = [patch_weights(self.masks(a)) if a else None for a in self.annotations]
        return self._coverage

    def sample(self, random, batch_size):
        """A random batch of usable images: their indices, pixels, annotations (flat), each
        annotation's image in the batch, and its patch coverage."""
        indices = random.choice(self.usable, batch_size, replace=False)
        images, annotations = self.batch(indices)
        flat = [a for per_image in annotations for a in per_image]
        image_index = torch.tensor([i for i, per_image in enumerate(annotations) for _ in per_image])
        coverage = self.patch_coverage()
        return indices, images, flat, image_index, torch.cat([coverage[i] for i in indices])

    def batch(self, indices):
        images = torch.from_numpy(self.pixels[indices]).permute(0, 3, 1, 2).float()  # [B, 3, H, W] 0-255
        annotations = [self.annotations[i] for i in indices]
        return images, annotations


def patch_weights(masks):
    """Fraction of each CLIP patch a mask covers: [n, H, W] -> [n, GRID²]."""
    n, h, w = masks.shape
    return masks.reshape(n, GRID, h // GRID, GRID, w // GRID).mean(dim=(2, 4)).reshape(n, GRID * GRID)


def box_weights(boxes, size):
    """Fraction of each CLIP patch inside each [x, y, w, h] box: [n, GRID²]."""
    cell = size / GRID
    edges = torch.arange(GRID + 1, dtype=torch.float32) * cell
    b = torch.tensor(boxes, dtype=torch.float32).view(-1, 4)
    def overlap(start, length):
        low = torch.maximum(edges[None, :-1], start[:, None])
        high = torch.minimum(edges[None, 1:], (start + length)[:, None])
        return (high - low).clamp(min=0) / cell  # [n, GRID]
    ox, oy = overlap(b[:, 0], b[:, 2]), overlap(b[:, 1], b[:, 3])
    return (oy[:, :, None] * ox[:, None, :]).reshape(-1, GRID * GRID)


# MARK: - CLIP

class Tokenizer:
    def __init__(self):
        self.bpe = load_openai_module("simple_tokenizer").SimpleTokenizer()
        self.sot, self.eot = self.bpe.encoder["<|startoftext|>"], self.bpe.encoder["<|endoftext|>"]

    def __call__(self, texts, length=77):
        tokens = torch.zeros(len(texts), length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.sot] + self.bpe.encode(text) + [self.eot]
            assert len(ids) <= length, f"caption too long: {text}"
            tokens[i, :len(ids)] = torch.tensor(ids)
        return tokens


def make_clip():
    model = load_openai_module("model").CLIP(
        embed_dim=128, image_resolution=128, vision_layers=4, vision_width=128, vision_patch_size=16,
        context_length=77, vocab_size=49408, transformer_width=128, transformer_heads=2, transformer_layers=3)
    return model.float()


def token_map(visual, images):
    """OpenAI VisionTransformer.forward up to the last block (before ln_post): [B, 1 + GRID², W]."""
    x = visual.conv1((images / 255 - CLIP_MEAN) / CLIP_STD)  # [B, W, GRID, GRID]
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [B, GRID², W]
    cls = visual.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
    x = visual.ln_pre(x)
    return visual.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)  # [B, 1 + GRID², W]


def pooled_tokens(tokens, image_index, weights):
    """Last-block tokens [B, 1 + GRID², W] averaged with `weights` [n, GRID²] over their image's grid: [n, W]."""
    grid = tokens[image_index, 1:, :]  # [n, GRID², W]
    return (weights[:, :, None] * grid).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-6)


def pooled_embeddings(visual, tokens, image_index, weights):
    """pooled_tokens -> ln_post -> proj: [n, E]."""
    return visual.ln_post(pooled_tokens(tokens, image_index, weights)) @ visual.proj


def encode_text(model, tokens):
    """CLIP.encode_text on tokens cut to their longest caption: causal attention makes the end
    token's feature independent of the padding after it, so this equals the 77-token result."""
    length = int(tokens.argmax(-1).max()) + 1
    tokens = tokens[:, :length]
    mask = model.build_attention_mask()[:length, :length]
    for block in model.transformer.resblocks:
        block.attn_mask = mask
    x = model.token_embedding(tokens) + model.positional_embedding[:length]
    x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x)
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ model.text_projection


def attribute_phrases(category):
    """Colour-, shape- and texture-only phrases of a category record."""
    return [f"{category['color']} object", category["shape"], f"{category['texture']} object"]


def dense_targets(weights, image_index, labels, images, background):
    """Per patch of each image, the label of the object covering most of it (at least 30%), else
    `background`: [images · GRID²]. Later objects win ties, as they are drawn on top."""
    targets = torch.full((images, GRID * GRID), background, dtype=torch.long)
    best = torch.zeros(images, GRID * GRID)
    for row in range(weights.shape[0]):
        image = int(image_index[row])
        wins = (weights[row] >= best[image]) & (weights[row] >= 0.3)
        targets[image][wins] = labels[row]
        best[image] = torch.maximum(best[image], weights[row])
    return targets.reshape(-1)


def attribute_groups(split):
    """The sorted colour, shape and texture phrases of a split's categories."""
    return [sorted({attribute_phrases(c)[k] for c in split.categories.values()}) for k in range(3)]


def attribute_labels(split, annotations, attributes):
    """Per attribute k, each annotation's index in attributes[k] (the sorted phrases)."""
    return [[attributes[k].index(attribute_phrases(split.categories[a["category_id"]])[k]) for a in annotations] for k in range(3)]


def cosine_schedule(optimizer, steps):
    """Linear warm-up over the first 5% of steps, then cosine decay to zero."""
    warmup = max(1, steps // 20)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))


def pretrain_clip_vision(model, train, steps, batch_size, lr, seed):
    """Warms the vision tower up alone before the contrastive loss: linear heads name the colour,
    shape and texture of each object's mask-pooled tokens, the dense attribute probes and the
    position probe as in train_clip. A step costs a fifth of a contrastive one (no text tower),
    and shape, which spans several patches, is learnt slowly: measured on val, mask-pooled shape
    accuracy 0.33 after 1,500 such steps on the pretraining split against chance 0.125 (0.22
    on the long-tail training split, whose frequent combinations give shape away). Returns the
    position and dense probes, which train_clip goes on training."""
    attributes = attribute_groups(train)
    width = model.visual.transformer.width
    probe = torch.nn.Linear(width, GRID * GRID)
    dense_probes = torch.nn.ModuleList([torch.nn.Linear(width, len(group) + 1) for group in attributes])
    heads = torch.nn.ModuleList([torch.nn.Linear(width, len(group)) for group in attributes])
    parameters = list(model.visual.parameters()) + list(probe.parameters()) + list(dense_probes.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.05)
    schedule = cosine_schedule(optimizer, steps)
    random = np.random.RandomState(seed)
    cells = torch.arange(GRID * GRID)
    start = time.time()
    for step in range(steps):
        indices, images, flat, image_index, weights = train.sample(random, batch_size)
        tokens_map = token_map(model.visual, images)
        patch_tokens = tokens_map[:, 1:, :]
        pooled = pooled_tokens(tokens_map, image_index, weights)
        loss = 0.5 * F.cross_entropy(probe(patch_tokens).reshape(-1, GRID * GRID), cells.repeat(len(indices)))
        accuracy = []
        for k, labels in enumerate(attribute_labels(train, flat, attributes)):
            logits = heads[k](pooled)
            loss = loss + F.cross_entropy(logits, torch.tensor(labels))
            accuracy.append((logits.argmax(-1) == torch.tensor(labels)).float().mean().item())
            targets = dense_targets(weights, image_index, labels, len(indices), len(attributes[k]))
            loss = loss + F.cross_entropy(dense_probes[k](patch_tokens).reshape(-1, len(attributes[k]) + 1), targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"clip vision step {step}: loss {loss.item():.3f}, pooled colour/shape/texture accuracy "
                f"{accuracy[0]:.2f}/{accuracy[1]:.2f}/{accuracy[2]:.2f}, {time.time() - start:.0f} s")
    return probe, dense_probes


def train_clip(model, train, tokenizer, steps, batch_size, lr, seed, dense_weight=0.0, probes=None):
    names = sorted({c["name"] for c in train.categories.values()})
    name_index = {n: i for i, n in enumerate(names)}
    attributes = attribute_groups(train)
    texts = [[t.format(n) for n in names] for t in TEMPLATES]
    attribute_texts = [[[t.format(p) for p in group] for group in attributes] for t in TEMPLATES]
    tokens = [tokenizer(t) for t in texts]
    attribute_tokens = [[tokenizer(group) for group in by_template] for by_template in attribute_texts]
    width = model.visual.transformer.width
    # Dense attribute probes: each patch token names the colour, shape and texture of the object
    # under it (or background), so that every token carries local meaning, not only the pooled mean.
    probe, dense_probes = probes or (torch.nn.Linear(width, GRID * GRID),
                                     torch.nn.ModuleList([torch.nn.Linear(width, len(group) + 1) for group in attributes]))
    parameters = list(model.parameters()) + list(probe.parameters()) + list(dense_probes.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.05)
    schedule = cosine_schedule(optimizer, steps)
    random = np.random.RandomState(seed)
    cells = torch.arange(GRID * GRID)
    start = time.time()
    for step in range(steps):
        indices, images, flat, image_index, weights = train.sample(random, batch_size)
        template = random.randint(len(TEMPLATES))
        tokens_map = token_map(model.visual, images)
        regions = F.normalize(pooled_embeddings(model.visual, tokens_map, image_index, weights), dim=-1)
        scale = model.logit_scale.exp().clamp(max=100)

        def contrast(caption_tokens, targets):
            return F.cross_entropy(scale * regions @ F.normalize(encode_text(model, caption_tokens), dim=-1).T, targets)

        patch_tokens = tokens_map[:, 1:, :]
        loss_name = contrast(tokens[template], torch.tensor([name_index[train.categories[a["category_id"]]["name"]] for a in flat]))
        labels = attribute_labels(train, flat, attributes)
        loss_attributes = sum(contrast(attribute_tokens[template][k], torch.tensor(labels[k])) for k in range(3))
        loss_position = F.cross_entropy(probe(patch_tokens).reshape(-1, GRID * GRID), cells.repeat(len(indices)))
        loss = loss_name + 0.5 * loss_attributes + 0.5 * loss_position
        if dense_weight > 0:
            for k in range(3):
                targets = dense_targets(weights, image_index, labels[k], len(indices), len(attributes[k]))
                loss = loss + dense_weight * F.cross_entropy(dense_probes[k](patch_tokens).reshape(-1, len(attributes[k]) + 1), targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            with torch.no_grad():
                cell_accuracy = (probe(patch_tokens).argmax(-1) == cells).float().mean().item()
            log(f"clip step {step}: loss {loss.item():.3f} (name {loss_name.item():.3f}, attributes "
                f"{loss_attributes.item():.3f}, position {loss_position.item():.3f}, cell accuracy {cell_accuracy:.3f}), "
                f"scale {scale.item():.1f}, {time.time() - start:.0f} s")
    return {"position_probe_cell_accuracy": cell_accuracy}


@torch.no_grad()
def class_embeddings(model, tokenizer, names):
    """The prompt ensemble as the Recognizer builds it: mean of unit embeddings over templates, renormalised."""
    per_template = [F.normalize(encode_text(model, tokenizer([t.format(n) for n in names])), dim=-1) for t in TEMPLATES]
    return F.normalize(torch.stack(per_template).mean(0), dim=-1)


def box_pooled_regions(model, val, batch_size=64):
    """Per batch of val images: their annotations (flat), each one's image in the batch, and the
    unit embedding of CLIP's tokens pooled inside its ground-truth box."""
    for start in range(0, len(val.usable), batch_size):
        images, annotations = val.batch(val.usable[start:start + batch_size])
        flat = [a for per_image in annotations for a in per_image]
        image_index = torch.tensor([i for i, per_image in enumerate(annotations) for _ in per_image])
        weights = box_weights([a["bbox"] for a in flat], images.shape[-1])
        yield flat, image_index, F.normalize(pooled_embeddings(model.visual, token_map(model.visual, images), image_index, weights), dim=-1)


@torch.no_grad()
def clip_zero_shot(model, val, tokenizer):
    """Top-1 over all val names of CLIP's tokens pooled inside each ground-truth box."""
    ids = sorted(val.categories)
    text = class_embeddings(model, tokenizer, [val.categories[i]["name"] for i in ids])
    correct = {False: 0, True: 0}
    total = {False: 0, True: 0}
    for flat, _, regions in box_pooled_regions(model, val):
        predicted = (regions @ text.T).argmax(-1)
        for a, p in zip(flat, predicted.tolist()):
            held_out = bool(val.categories[a["category_id"]].get("held_out", False))
            total[held_out] += 1
            correct[held_out] += int(ids[p] == a["category_id"])
    return {"clip_box_pooled_top1_seen": correct[False] / max(1, total[False]),
            "clip_box_pooled_top1_held_out": correct[True] / max(1, total[True]),
            "clip_eval_boxes_seen": total[False], "clip_eval_boxes_held_out": total[True]}


# MARK: - SAM

def make_sam():
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    encoder = ImageEncoderViT(img_size=128, patch_size=8, embed_dim=96, depth=4, num_heads=3, mlp_ratio=4, out_chans=64,
                              qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                              rel_pos_zero_init=True, window_size=0, global_attn_indexes=(0, 1, 2, 3))
    prompt = PromptEncoder(embed_dim=64, image_embedding_size=(16, 16), input_image_size=(128, 128), mask_in_chans=16)
    # 8 heads as every SAM (the Swift port reads the head count from no weight).
    decoder = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=64, mlp_dim=512, num_heads=8),
                          transformer_dim=64, iou_head_depth=3, iou_head_hidden_dim=64)
    return Sam(encoder, prompt, decoder, pixel_mean=SAM_MEAN.flatten().tolist(), pixel_std=SAM_STD.flatten().tolist())


def sam_masks(sam, embedding, image_pe, boxes=None, points=None, multimask=False):
    """Mask logits at 128 px and predicted IoU on one image embedding [1, 64, 16, 16], prompted by
    [n, 4] xyxy boxes (mask 0: [n, 128, 128], [n]) or by one positive point each, [n, 2] pixel
    coordinates (with `multimask`, masks 1-3 as SAM's automatic mask generator asks: [n, 3, 128, 128], [n, 3])."""
    point_prompt = None if points is None else (points[:, None, :], torch.ones(points.shape[0], 1, dtype=torch.long))
    sparse, dense = sam.prompt_encoder(points=point_prompt, boxes=boxes, masks=None)
    low, iou = sam.mask_decoder(image_embeddings=embedding, image_pe=image_pe, sparse_prompt_embeddings=sparse,
                                dense_prompt_embeddings=dense, multimask_output=multimask)
    masks = F.interpolate(low, size=(128, 128), mode="bilinear", align_corners=False)
    return (masks, iou) if multimask else (masks[:, 0], iou[:, 0])


def xyxy(annotations):
    return torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                         for a in annotations], dtype=torch.float32)


def mask_losses(logits, target):
    """Per mask: BCE + dice against `target` (same shape, [..., H, W]), and the hard mask's IoU."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=(-2, -1))
    p = logits.sigmoid()
    dice = 1 - (2 * (p * target).sum((-2, -1)) + 1) / (p.sum((-2, -1)) + target.sum((-2, -1)) + 1)
    with torch.no_grad():
        hard = (logits > 0).float()
        iou = (hard * target).sum((-2, -1)) / ((hard + target).clamp(max=1).sum((-2, -1))).clamp(min=1)
    return bce + dice, iou


def train_sam(sam, train, steps, batch_size, lr, seed):
    """Box prompts -> mask 0, as RegionSpot prompts SAM, and one random point inside each object ->
    masks 1-3, as the automatic mask generator prompts it (SAM's recipe: only the best of the three
    masks learns the mask, all three learn their IoU), so that both box tokens and proposals work."""
    optimizer = torch.optim.AdamW(sam.parameters(), lr=lr, weight_decay=0.01)
    schedule = cosine_schedule(optimizer, steps)
    random = np.random.RandomState(seed)
    generator = torch.Generator().manual_seed(seed)
    start = time.time()
    for step in range(steps):
        indices = random.choice(train.usable, batch_size, replace=False)
        images, annotations = train.batch(indices)
        embeddings = sam.image_encoder((images - SAM_MEAN) / SAM_STD)
        image_pe = sam.prompt_encoder.get_dense_pe()
        losses = []
        for i, per_image in enumerate(annotations):
            target = train.masks(per_image)
            boxes = xyxy(per_image)
            # Jitter: each side moves by up to 10% of the box's size (at most 8 px), as a detector's boxes would.
            size = torch.cat([boxes[:, 2:] - boxes[:, :2]] * 2, dim=1)
            noise = (torch.randn(boxes.shape, generator=generator) * 0.1 * size).clamp(-8, 8)
            logits, predicted_iou = sam_masks(sam, embeddings[i:i + 1], image_pe, boxes=(boxes + noise).clamp(0, 128))
            box_loss, iou = mask_losses(logits, target)
            # A pixel of each object's visible mask, at its centre, as a point prompt.
            points = []
            for mask in target:
                ys, xs = torch.nonzero(mask, as_tuple=True)
                pick = int(torch.randint(len(xs), (1,), generator=generator))
                points.append([float(xs[pick]) + 0.5, float(ys[pick]) + 0.5])
            point_logits, point_iou = sam_masks(sam, embeddings[i:i + 1], image_pe, points=torch.tensor(points), multimask=True)
            point_loss, point_actual = mask_losses(point_logits, target[:, None].expand_as(point_logits))
            losses.append(box_loss + (predicted_iou - iou) ** 2
                          + point_loss.min(dim=1).values + ((point_iou - point_actual) ** 2).mean(dim=1))
        loss = torch.cat(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sam.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"sam step {step}: loss {loss.item():.3f}, {time.time() - start:.0f} s")


@torch.no_grad()
def sam_miou(sam, val, batch_size=32):
    ious = []
    image_pe = sam.prompt_encoder.get_dense_pe()
    for start in range(0, len(val.usable), batch_size):
        indices = val.usable[start:start + batch_size]
        images, annotations = val.batch(indices)
        embeddings = sam.image_encoder((images - SAM_MEAN) / SAM_STD)
        for i, per_image in enumerate(annotations):
            logits, _ = sam_masks(sam, embeddings[i:i + 1], image_pe, boxes=xyxy(per_image))
            hard, target = (logits > 0).float(), val.masks(per_image)
            ious += ((hard * target).sum((1, 2)) / (hard + target).clamp(max=1).sum((1, 2)).clamp(min=1)).tolist()
    return {"sam_miou_gt_boxes": float(np.mean(ious)), "sam_eval_boxes": len(ious)}


# MARK: - Fusion head initialisation and the bundle

def default_fusion_head(token_dim, d_model, text_dim, feedforward, seed):
    """RegionSpot's fusion module (to_clip, 3 post-norm decoder layers with 8 heads and a final
    LayerNorm, projector) with PyTorch's default initialisation: what training starts from."""
    torch.manual_seed(seed)
    layer = torch.nn.TransformerDecoderLayer(d_model, 8, feedforward, dropout=0.1, activation="relu", batch_first=True)
    head = torch.nn.ModuleDict({
        "to_clip": torch.nn.Linear(token_dim, d_model),
        "decoder": torch.nn.TransformerDecoder(layer, 3, norm=torch.nn.LayerNorm(d_model)),
        "projector": torch.nn.Linear(d_model, text_dim),
    })
    return {k: v.detach().contiguous() for k, v in head.state_dict().items()}


def make_bundle(binary, out, sam_path, clip_path, fusion_feedforward, seed, name="bundle"):
    bundle = os.path.join(out, name)
    os.makedirs(bundle, exist_ok=True)
    for source, target in [(sam_path, "sam.safetensors"), (clip_path, "clip.safetensors")]:
        subprocess.run([binary, "convert", source, os.path.join(bundle, target)], check=True)
    save_file(default_fusion_head(64, 128, 128, fusion_feedforward, seed), os.path.join(bundle, "fusion_init.safetensors"))
    manifest = {"format": "regionspot-bundle", "version": 1, "name": "regionspot-demo-" + name,
                "sam": {"weights": "sam.safetensors"}, "clip": {"weights": "clip.safetensors", "input_size": 128},
                "fusion": {"weights": "fusion_init.safetensors"}, "templates": TEMPLATES}
    with open(os.path.join(bundle, "regionspot.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    check = subprocess.run([binary, "models", "check", bundle], check=True, capture_output=True, text=True).stdout
    log(check)
    return bundle, check


# MARK: - Fusion training, evaluation and the baselines

def run(command, log_file=None):
    """Runs a command of the built binary, echoing it; its output goes to `log_file` when given."""
    log("$ " + " ".join(command))
    if log_file is None:
        subprocess.run(command, check=True)
    else:
        with open(log_file, "w") as f:
            subprocess.run(command, check=True, stdout=f, stderr=subprocess.STDOUT)


def train_fusion(binary, encoders, world, out, args):
    """`regionspot train` on the frozen encoders' cached features of the training split."""
    run([binary, "train", "--model", encoders, "--out", out, "--data", f"lvis:{world}/train.json:{world}/train",
         "--val", f"lvis:{world}/val.json:{world}/val", "--cache-dir", os.path.join(args.out, "cache"),
         "--loss", "cross-entropy", "--steps", str(args.fusion_steps), "--batch-size", str(args.fusion_batch),
         "--lr", str(args.fusion_lr), "--warmup-iters", str(args.fusion_steps // 20), "--weight-decay", "0.05",
         "--validate-every", str(args.fusion_steps // 4), "--checkpoint-every", str(args.fusion_steps // 4),
         "--seed", str(args.seed), "--threads", str(args.threads)], log_file=out + ".log")


def evaluate(binary, world, results, categories, label):
    """`regionspot eval` of an LVIS results file on val: AP, APr, APc, APf and AP over held-out categories."""
    metrics_file = results.replace(".json", ".metrics.json")
    run([binary, "eval", "--gt", f"{world}/val.json", "--dt", results, "--per-category", "--json", metrics_file],
        log_file=results.replace(".json", ".eval.txt"))
    with open(metrics_file) as f:
        metrics = json.load(f)
    per_category = {c["id"]: c["AP"] for c in metrics["per_category"]}
    held_out = [per_category[i] for i, c in categories.items() if c.get("held_out") and per_category.get(i, -1) >= 0]
    summary = {k: metrics[k] for k in ("AP", "APr", "APc", "APf")}
    summary["AP_held_out"] = float(np.mean(held_out)) if held_out else -1.0
    log(f"{label}: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    return summary


def recognise_val(binary, bundle, world, results, threads):
    """RegionSpot's GT-box protocol on val through `predict --dataset --gt-boxes`."""
    run([binary, "predict", "--model", bundle, "--dataset", f"{world}/val.json", "--images", f"{world}/val", "--gt-boxes",
         "--out", results, "--threads", str(threads)], log_file=results.replace(".json", ".log"))


@torch.no_grad()
def crop_clip_results(model, val, tokenizer, path):
    """The crop-CLIP baseline RegionSpot improves on: CLIP's tokens pooled inside each box, named by
    the softmax over all val names at CLIP's logit scale, scored as RegionSpot's GT-box protocol
    (each image's 900 best (box, class) pairs by probability)."""
    ids = sorted(val.categories)
    text = class_embeddings(model, tokenizer, [val.categories[i]["name"] for i in ids])
    scale = model.logit_scale.exp().clamp(max=100)
    results = []
    for flat, image_index, regions in box_pooled_regions(model, val):
        probabilities = (scale * regions @ text.T).softmax(-1)
        for i in range(int(image_index.max()) + 1):
            rows = (image_index == i).nonzero().flatten()
            if len(rows) == 0:
                continue
            p = probabilities[rows]
            top = p.flatten().topk(min(900, p.numel()))
            for score, flat_index in zip(top.values.tolist(), top.indices.tolist()):
                a = flat[int(rows[flat_index // len(ids)])]
                results.append({"image_id": a["image_id"], "category_id": ids[flat_index % len(ids)],
                                "bbox": a["bbox"], "score": score})
    with open(path, "w") as f:
        json.dump(results, f)


def save_half(bundle, target):
    """The trained bundle's weights stored as fp16 safetensors (computation stays fp32), with its manifest."""
    from safetensors.torch import load_file
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(bundle, "regionspot.json")) as f:
        manifest = json.load(f)
    manifest["name"] = "regionspot-demo"
    for part in ("sam", "clip", "fusion"):
        name = part + ".safetensors"
        tensors = {k: v.half().contiguous() for k, v in sorted(load_file(os.path.join(bundle, manifest[part]["weights"])).items())}
        save_file(tensors, os.path.join(target, name))
        manifest[part]["weights"] = name
    with open(os.path.join(target, "regionspot.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


# MARK: - Main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Benchmarks", "out", "demo"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "regionspot"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=20000, help="training scenes")
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--pretrain-images", type=int, default=20000, help="scenes of the encoders' pretraining split")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clip-vision-steps", type=int, default=2500, help="steps of the vision tower alone, before the contrastive ones")
    parser.add_argument("--clip-steps", type=int, default=600)
    parser.add_argument("--clip-batch", type=int, default=32)
    parser.add_argument("--clip-lr", type=float, default=1e-3)
    parser.add_argument("--sam-steps", type=int, default=600)
    parser.add_argument("--sam-batch", type=int, default=8)
    parser.add_argument("--sam-lr", type=float, default=1e-3)
    parser.add_argument("--fusion-feedforward", type=int, default=512,
                        help="the fusion head's FFN width (RegionSpot's 2048 is sized for D=768; the demo's D is 128)")
    parser.add_argument("--fusion-steps", type=int, default=30000)
    parser.add_argument("--fusion-batch", type=int, default=16)
    parser.add_argument("--fusion-lr", type=float, default=5e-4)
    parser.add_argument("--clip-dense-weight", type=float, default=1.0,
                        help="weight of the dense attribute probes (each patch token names its object's colour, shape, texture)")
    parser.add_argument("--demo-bundle", default=os.path.join(ROOT, "Sources", "regionspot", "DemoBundle"),
                        help="where the fp16 demo bundle is written (the one the executable embeds)")
    parser.add_argument("--record", default=os.path.join(ROOT, "Tools", "demo_record.json"),
                        help="the committed record of settings, timings, measurements and hashes")
    parser.add_argument("--skip-baselines", action="store_true", help="no crop-CLIP and random-encoder baselines")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    record = {"settings": vars(args), "torch": torch.__version__, "timings_s": {}, "metrics": {}, "sha256": {}}
    timings = record["timings_s"]

    world = os.path.join(args.out, "world")
    began = time.time()
    subprocess.run([args.binary, "synth", "--out", world, "--images", str(args.images), "--val-images", str(args.val_images),
                    "--pretrain-images", str(args.pretrain_images), "--seed", str(args.seed), "--threads", str(args.threads)], check=True)
    timings["synth"] = time.time() - began
    began = time.time()
    # The encoders learn on the pretraining split (training categories alike, no long tail), the
    # fusion head on the long-tail training split (through `regionspot train`), as RegionSpot's
    # frozen encoders were pretrained on other data than LVIS.
    pretrain, val = Split(world, "pretrain"), Split(world, "val")
    timings["load_world"] = time.time() - began
    tokenizer = Tokenizer()

    began = time.time()
    torch.manual_seed(args.seed)
    clip_model = make_clip()
    probes = pretrain_clip_vision(clip_model, pretrain, args.clip_vision_steps, args.clip_batch, args.clip_lr, args.seed)
    record["metrics"].update(train_clip(clip_model, pretrain, tokenizer, args.clip_steps, args.clip_batch, args.clip_lr, args.seed,
                                         args.clip_dense_weight, probes))
    timings["clip_pretraining"] = time.time() - began
    clip_model.eval()
    record["metrics"].update(clip_zero_shot(clip_model, val, tokenizer))
    log(json.dumps(record["metrics"]))
    clip_path = os.path.join(args.out, "clip_demo.pt")
    for block in clip_model.transformer.resblocks:
        block.attn_mask = clip_model.build_attention_mask()
    torch.save(clip_model.state_dict(), clip_path)

    began = time.time()
    torch.manual_seed(args.seed + 1)
    sam = make_sam()
    train_sam(sam, pretrain, args.sam_steps, args.sam_batch, args.sam_lr, args.seed + 1)
    timings["sam_pretraining"] = time.time() - began
    sam.eval()
    record["metrics"].update(sam_miou(sam, val))
    log(json.dumps(record["metrics"]))
    sam_path = os.path.join(args.out, "sam_demo.pth")
    torch.save(sam.state_dict(), sam_path)

    bundle, check = make_bundle(args.binary, args.out, sam_path, clip_path, args.fusion_feedforward, args.seed)
    record["models_check"] = check

    began = time.time()
    trained = os.path.join(args.out, "trained")
    train_fusion(args.binary, bundle, world, trained, args)
    timings["fusion_training"] = time.time() - began
    save_half(trained, args.demo_bundle)
    began = time.time()
    recognise_val(args.binary, args.demo_bundle, world, os.path.join(args.out, "results-demo.json"), args.threads)
    timings["val_recognition"] = time.time() - began
    metrics = record["metrics"]
    metrics["demo_bundle"] = evaluate(args.binary, world, os.path.join(args.out, "results-demo.json"), val.categories, "demo bundle")

    if not args.skip_baselines:
        began = time.time()
        crop_clip_results(clip_model, val, tokenizer, os.path.join(args.out, "results-crop-clip.json"))
        metrics["crop_clip"] = evaluate(args.binary, world, os.path.join(args.out, "results-crop-clip.json"), val.categories,
                                        "crop-CLIP (CLIP's tokens pooled in the box)")
        torch.manual_seed(args.seed + 2)
        random_clip, random_sam = os.path.join(args.out, "random_clip.pt"), os.path.join(args.out, "random_sam.pth")
        torch.save(make_clip().state_dict(), random_clip)
        torch.save(make_sam().state_dict(), random_sam)
        random_bundle, _ = make_bundle(args.binary, args.out, random_sam, random_clip, args.fusion_feedforward, args.seed,
                                       name="bundle-random")
        train_fusion(args.binary, random_bundle, world, os.path.join(args.out, "trained-random"), args)
        recognise_val(args.binary, os.path.join(args.out, "trained-random"), world, os.path.join(args.out, "results-random.json"),
                      args.threads)
        metrics["random_encoders"] = evaluate(args.binary, world, os.path.join(args.out, "results-random.json"), val.categories,
                                              "random encoders, same fusion training")
        timings["baselines"] = time.time() - began

    files = [os.path.join(world, name) for name in ("pretrain.json", "train.json", "val.json")] + [clip_path, sam_path] + \
        [os.path.join(args.demo_bundle, name) for name in sorted(os.listdir(args.demo_bundle))]
    record["sha256"] = {os.path.relpath(path, ROOT) if path.startswith(args.demo_bundle) else os.path.relpath(path, args.out): sha256(path)
                        for path in files}
    record["settings"]["out"] = os.path.relpath(args.out, ROOT)
    record["settings"]["binary"] = os.path.relpath(args.binary, ROOT)
    record["settings"]["demo_bundle"] = os.path.relpath(args.demo_bundle, ROOT)
    for path in (os.path.join(args.out, "record.json"), args.record):
        with open(path, "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
            f.write("\n")
    log(json.dumps(record["timings_s"]))


if __name__ == "__main__":
    sys.exit(main())
