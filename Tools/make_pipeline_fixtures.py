#!/usr/bin/env python3
"""End-to-end fixtures for RegionSpot's Recognizer / `regionspot predict` (Tests/RegionSpotTests).

The reference pipeline is RegionSpot's predictor (Surrey-UP-Lab/RegionSpot:regionspot/predictor.py)
on CPU in fp32, with its parts taken from the upstream packages it copies:
  SAM:    segment_anything SamPredictor (set_image, predict_torch with boxes, multimask_output=False);
          the box's region token is mask token 0 out of the two-way transformer (RegionSpot's only
          change to SAM), captured with a forward hook.
  CLIP:   OpenAI clip/model.py; the image squashed to S×S with F.interpolate(bilinear,
          align_corners=False) on [0,1] floats, OpenAI mean/std (predictor.resize_norm), then every
          token of the last resblock (encode_image_featuremap: no ln_post, no proj).
  text:   clip.tokenize of the 81 templates per class (name cleaned of -other/-merged/-stuff),
          encode_text, mean over templates, L2-normalised (regionspot.py get_text_feat).
  fusion: to_clip -> TransformerDecoder -> projector, logits = exp(logit_scale) * cosine, softmax.

Tiny random sizes keep the files small: SAM ViT (128 px, width 32, prompt dim 32), CLIP ViT width 64
at 64 px (OpenAI's build_model derives heads = width / 64), text width 64, fusion D=64 with FFN 64.
The text tower needs the full 49,408-row token embedding; only the rows the test prompts use are
random (the rest are zero), and only those rows are stored (`token_embedding_ids` / `_rows`): the
test assembles the full bundle from them. Weights are stored as F16 and the reference computes in
fp32 with exactly those rounded values.

    .venv-ref/bin/python Tools/make_pipeline_fixtures.py          # Tests/RegionSpotTests/Fixtures/pipeline
    .venv-ref/bin/python Tools/make_pipeline_fixtures.py --bench  # ViT-B SAM + ViT-B/16 CLIP bundle in Benchmarks/out/pipeline
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from segment_anything.predictor import SamPredictor

# Shared with the CLIP and SAM fixture scripts (this directory is on sys.path when run).
from make_clip_fixtures import TEMPLATES, load_openai_module
from make_sam_fixtures import vit_sam as build_sam

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "RegionSpotTests", "Fixtures", "pipeline")
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


def randomize(module, generator, skip=()):
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if not t.dtype.is_floating_point or name in skip:
                continue
            leaf = name.rsplit(".", 1)[-1]
            randn = torch.randn(t.shape, generator=generator)
            if leaf == "weight" and t.dim() == 1:
                value = 1 + 0.2 * randn
            elif leaf == "bias" or leaf.endswith("_bias"):
                value = 0.1 * randn
            elif t.dim() >= 2:
                fan_in = t[0].numel() if "output_upscaling" not in name else t.shape[0] * t[0, 0].numel()
                value = randn / max(fan_in, 1) ** 0.5
            else:
                value = randn
            t.copy_(value)


def round_to_half(module):
    """Weights become exactly F16-representable, so the stored F16 file is the model itself."""
    with torch.no_grad():
        for t in module.state_dict(keep_vars=True).values():
            if t.dtype.is_floating_point:
                t.copy_(t.half().float())


def half_state(module, drop=()):
    return {k: v.detach().half().contiguous() for k, v in module.state_dict().items()
            if v.dtype.is_floating_point and k not in drop}


def build_fusion(token_dim, d_model, text_dim, ffn):
    layer = torch.nn.TransformerDecoderLayer(d_model, 8, ffn, dropout=0.0, activation="relu", batch_first=True)
    return torch.nn.ModuleDict({
        "to_clip": torch.nn.Linear(token_dim, d_model),
        "decoder": torch.nn.TransformerDecoder(layer, 3, norm=torch.nn.LayerNorm(d_model)),
        "projector": torch.nn.Linear(d_model, text_dim),
    }).eval()


class Reference:
    """RegionSpot's predictor pipeline over given modules."""

    def __init__(self, sam, clip_model, fusion, clip_size, tokenize, templates):
        self.sam, self.clip, self.fusion = sam, clip_model, fusion
        self.clip_size, self.tokenize, self.templates = clip_size, tokenize, templates

    @torch.no_grad()
    def class_embeddings(self, names):
        rows = []
        for name in names:
            cleaned = name.replace("-other", "").replace("-merged", "").replace("-stuff", "")
            tokens = self.tokenize([t.format(cleaned) for t in self.templates])
            rows.append(self.clip.encode_text(tokens).mean(0))
        emb = torch.stack(rows)
        return emb / emb.norm(dim=-1, keepdim=True)

    @torch.no_grad()
    def clip_features(self, image):
        x = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
        x = F.interpolate(x[None], size=(self.clip_size, self.clip_size), mode="bilinear", align_corners=False)[0]
        x = (x - CLIP_MEAN) / CLIP_STD
        v = self.clip.visual  # forward_featuremap (RegionSpot's clip/model.py)
        t = v.conv1(x[None]).flatten(2).permute(0, 2, 1)
        t = torch.cat([v.class_embedding + torch.zeros(1, 1, t.shape[-1]), t], dim=1) + v.positional_embedding
        t = v.transformer(v.ln_pre(t).permute(1, 0, 2)).permute(1, 0, 2)
        return t[0]

    @torch.no_grad()
    def sam_tokens(self, image, boxes):
        predictor = SamPredictor(self.sam)
        predictor.set_image(image)
        captured = {}
        hook = self.sam.mask_decoder.transformer.register_forward_hook(lambda m, i, o: captured.update(hs=o[0]))
        box_t = torch.as_tensor(predictor.transform.apply_boxes(boxes, image.shape[:2]), dtype=torch.float)
        masks, iou, _ = predictor.predict_torch(None, None, box_t, multimask_output=False)
        hook.remove()
        return captured["hs"][:, 1, :], masks[:, 0], iou[:, 0]

    @torch.no_grad()
    def run(self, image, boxes, names, logit_scale):
        tokens, masks, iou = self.sam_tokens(image, boxes)
        clip_feat = self.clip_features(image)
        classes = self.class_embeddings(names)
        tgt = self.fusion["to_clip"](tokens[None])
        region = self.fusion["projector"](self.fusion["decoder"](tgt, clip_feat[None]))[0]
        logits = logit_scale * (region / (region.norm(dim=-1, keepdim=True) + 1e-7)) @ classes.T
        return dict(mask_tokens=tokens, masks=masks.float(), iou=iou, clip_features=clip_feat,
                    class_embeddings=classes, region_features=region, logits=logits,
                    probs=torch.softmax(logits, dim=-1))


def make_tokenize():
    """clip.tokenize without clip/__init__.py: texts -> [N, 77] token ids."""
    tok = load_openai_module("simple_tokenizer").SimpleTokenizer()
    sot, eot = tok.encoder["<|startoftext|>"], tok.encoder["<|endoftext|>"]

    def tokenize(texts):
        result = torch.zeros(len(texts), 77, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [sot] + tok.encode(text) + [eot]
            result[i, :len(ids)] = torch.tensor(ids)
        return result
    return tokenize


def reference_from_bundle(bundle):
    """The reference pipeline over a bundle's files (SAM ViT-B; any OpenAI CLIP; the fusion's sizes
    from its shapes), as the benchmarks run it: (Reference, logit scale)."""
    from safetensors.torch import load_file
    from segment_anything import sam_model_registry
    manifest = json.load(open(os.path.join(bundle, "regionspot.json")))
    weights = lambda part: load_file(os.path.join(bundle, manifest[part]["weights"]))
    sam = sam_model_registry["vit_b"](checkpoint=None).eval()
    sam.load_state_dict(weights("sam"))
    clip_model = load_openai_module("model").build_model(weights("clip")).float().eval()
    state = weights("fusion")
    d_model, token_dim = state["to_clip.weight"].shape
    fusion = build_fusion(token_dim, d_model, state["projector.weight"].shape[0], state["decoder.layers.0.linear1.weight"].shape[0])
    fusion.load_state_dict(state)
    reference = Reference(sam, clip_model, fusion, manifest["clip"]["input_size"], make_tokenize(), TEMPLATES)
    return reference, manifest.get("logit_scale") or float(clip_model.logit_scale.exp())


def tiny(out):
    model_py = load_openai_module("model")
    tokenize = make_tokenize()
    templates = TEMPLATES
    names = ["cat", "traffic light", "wall-other-merged", "Band_Aid", "coffee mug"]
    used = sorted(set(tokenize([t.format(n.replace("-other", "").replace("-merged", "")) for n in names
                                for t in templates]).flatten().tolist()))

    g = torch.Generator().manual_seed(6)
    sam = build_sam(img_size=128, patch=16, embed=32, depth=2, heads=2, global_idx=(1,), window=5,
                    prompt_dim=32, mlp_dim=64)
    randomize(sam, g)
    round_to_half(sam)

    clip_model = model_py.CLIP(embed_dim=16, image_resolution=64, vision_layers=2, vision_width=64,
                               vision_patch_size=16, context_length=77, vocab_size=49408,
                               transformer_width=64, transformer_heads=1, transformer_layers=2).eval()
    randomize(clip_model, g)
    with torch.no_grad():
        emb = torch.zeros(49408, 64)
        emb[used] = torch.randn(len(used), 64, generator=g) * 0.5
        clip_model.token_embedding.weight.copy_(emb)
        clip_model.logit_scale.fill_(4.6052)  # ln(100), as trained CLIP
    round_to_half(clip_model)

    fusion = build_fusion(token_dim=32, d_model=64, text_dim=16, ffn=64)
    randomize(fusion, g)
    with torch.no_grad():
        # Random attention mostly adds the same vector to every region; damp it (and the FFN) so
        # the regions stay apart through the post-norm layers and labels differ between boxes.
        fusion["to_clip"].weight.mul_(3.0)
        for name, p in fusion.named_parameters():
            if "out_proj" in name or "linear2" in name:
                p.mul_(0.15)
    round_to_half(fusion)

    rng = np.random.default_rng(7)
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1)
    image = np.clip(base + rng.integers(0, 60, size=(h, w, 3)), 0, 255).astype(np.uint8)
    boxes = np.array([[4, 3, 40, 30], [30, 10, 79, 59], [0, 0, 80, 60], [50.5, 5.25, 70, 20], [10, 35, 25, 55]],
                     dtype=np.float32)
    box_scores = np.array([0.9, 0.5, 0.75, 0.3, 0.6], dtype=np.float32)

    ref = Reference(sam, clip_model, fusion, 64, tokenize, templates)
    result = ref.run(image, boxes, names, clip_model.logit_scale.exp())

    os.makedirs(out, exist_ok=True)
    Image.fromarray(image).save(os.path.join(out, "image.png"))
    save_file(half_state(sam), os.path.join(out, "sam.safetensors"))
    clip_state = half_state(clip_model, drop=("token_embedding.weight",))
    clip_state["logit_scale"] = clip_model.logit_scale.detach().reshape(()).float()
    clip_state["token_embedding_ids"] = torch.tensor(used, dtype=torch.float32)
    clip_state["token_embedding_rows"] = clip_model.token_embedding.weight[used].detach().half().contiguous()
    save_file(clip_state, os.path.join(out, "clip_parts.safetensors"))
    save_file(half_state(fusion), os.path.join(out, "fusion.safetensors"))
    save_file({k: v.detach().float().contiguous() for k, v in result.items()},
              os.path.join(out, "expected.safetensors"))
    with open(os.path.join(out, "request.json"), "w") as f:
        json.dump({"boxes": boxes.tolist(), "scores": box_scores.tolist(), "vocabulary": names,
                   "clip_input_size": 64, "top_k": 3}, f, indent=1)
    print("wrote", out, "rows used:", len(used), "top-1:", result["probs"].argmax(-1).tolist())


# Five classes: the 405 prompts through the text tower are timed once, apart from the per-image figures.
BENCH_VOCABULARY = ["person", "dog", "traffic light", "cup", "teddy bear"]


def bench(out):
    """Full-size random ViT-B SAM + ViT-B/16 CLIP (CLIP_400M) + fusion D=768 bundle, an image and boxes."""
    from segment_anything import sam_model_registry
    model_py = load_openai_module("model")
    g = torch.Generator().manual_seed(768)
    sam = sam_model_registry["vit_b"](checkpoint=None).eval()
    randomize(sam, g)
    clip_model = model_py.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                               vision_patch_size=16, context_length=77, vocab_size=49408,
                               transformer_width=512, transformer_heads=8, transformer_layers=12).eval()
    randomize(clip_model, g)
    with torch.no_grad():
        clip_model.logit_scale.fill_(4.6052)
    fusion = build_fusion(token_dim=256, d_model=768, text_dim=512, ffn=2048)
    randomize(fusion, g)
    bundle = os.path.join(out, "bundle")
    os.makedirs(bundle, exist_ok=True)
    f32 = lambda m: {k: v.detach().float().contiguous() for k, v in m.state_dict().items()}
    save_file(f32(sam), os.path.join(bundle, "sam_vit_b.safetensors"))
    save_file(f32(clip_model), os.path.join(bundle, "clip_vit_b16.safetensors"))
    save_file(f32(fusion), os.path.join(bundle, "fusion_clip400m.safetensors"))
    with open(os.path.join(bundle, "regionspot.json"), "w") as f:
        json.dump({"format": "regionspot-bundle", "version": 1, "name": "random ViT-B SAM + ViT-B/16 CLIP",
                   "sam": {"weights": "sam_vit_b.safetensors"},
                   "clip": {"weights": "clip_vit_b16.safetensors", "input_size": 224},
                   "fusion": {"weights": "fusion_clip400m.safetensors"}}, f, indent=1)
    rng = np.random.default_rng(11)
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 0.4, yy * 0.5, (xx + yy) * 0.2], axis=-1)
    image = np.clip(base + rng.integers(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(os.path.join(out, "image.png"))
    for n in (10, 100):
        x0 = rng.uniform(0, w - 40, n); y0 = rng.uniform(0, h - 40, n)
        x1 = np.minimum(w, x0 + rng.uniform(20, 300, n)); y1 = np.minimum(h, y0 + rng.uniform(20, 300, n))
        boxes = np.stack([x0, y0, x1, y1], axis=1).round(1)
        with open(os.path.join(out, f"boxes_{n}.json"), "w") as f:
            json.dump({"boxes": boxes.tolist(), "scores": rng.uniform(0.05, 1, n).round(3).tolist()}, f)
    with open(os.path.join(out, "vocabulary.txt"), "w") as f:
        f.write("\n".join(BENCH_VOCABULARY) + "\n")
    print("wrote", out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--bench", action="store_true", help="full-size bundle into Benchmarks/out/pipeline")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.bench:
        bench(os.path.join(ROOT, "Benchmarks", "out", "pipeline"))
    else:
        tiny(args.out)


if __name__ == "__main__":
    main()
