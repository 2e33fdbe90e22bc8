#!/usr/bin/env python3
"""Random-weight files in the layouts of the official downloads, for `regionspot models create`
(Tests/CommandLineTests/Fixtures/models-create), and the reference pipeline's outputs on them:

  sam.pth          segment-anything's state dict as torch.save writes it (sam_vit_b_01ec64.pth)
  clip_l336.pt     OpenAI CLIP as a TorchScript archive with fp16 weights (ViT-L-14-336px.pt)
  clip_b.pt        a second, narrower CLIP (the ViT-B-16.pt of the mismatch test)
  regionspot.pth   detectron2's checkpoint of RegionSpot (regionspot_bl_336.pth): {"model":
                   {"model.to_clip.weight", ..., "model.sam.*", "model.clip_model.*"}, "trainer",
                   "iteration"}; the frozen SAM and CLIP ride along, as detectron2 saves the whole module
                   (in the committed set without CLIP's token table)
  image.png, request.json (boxes, vocabulary), expected.safetensors (Tools/make_pipeline_fixtures.py's
  reference pipeline: RegionSpot's predictor on CPU in fp32 with the stored, fp16-rounded weights)

The committed set is narrow so that it stays small (SAM token width 32, CLIP width 64 with a 48-wide
text embedding, fusion D = 64); `--full DIR` writes the same files at the real widths with fewer
layers (SAM ViT-B width 768 with 256-wide tokens, CLIP ViT-L/14 at 336 px: width 1024, text
embedding 768; ViT-B/16 width 768 for the mismatch; fusion D = 1024, 3 layers, FFN 2048), too large
to commit (Benchmarks/out/models-create by default; the test runs on it when
REGIONSPOT_CREATE_FIXTURES names it). Only the token-embedding rows the prompts use are random
(the rest are zero, which the archives' readers do not care about).

    .venv-ref/bin/python Tools/make_create_fixtures.py [--full [DIR]]
"""
import argparse
import collections
import copy
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_clip_fixtures import TEMPLATES, load_openai_module  # noqa: E402
from make_pipeline_fixtures import Reference, build_fusion, make_tokenize, randomize, round_to_half  # noqa: E402
from make_sam_fixtures import vit_sam  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "CommandLineTests", "Fixtures", "models-create")
NAMES = ["cat", "traffic light", "wall-other-merged", "Band_Aid", "coffee mug"]

# (SAM ViT, CLIP ViT-L-like, CLIP ViT-B-like, fusion) per set.
SIZES = {
    "tiny": dict(sam=dict(img_size=128, patch=16, embed=32, depth=2, heads=2, global_idx=(1,), window=5, prompt_dim=32, mlp_dim=64),
                 clip=dict(embed_dim=48, image_resolution=56, vision_layers=1, vision_width=64, vision_patch_size=14,
                           transformer_width=64, transformer_heads=1, transformer_layers=1),
                 clip_b=dict(embed_dim=40, image_resolution=32, vision_layers=1, vision_width=128, vision_patch_size=16,
                             transformer_width=64, transformer_heads=1, transformer_layers=1),
                 fusion=dict(token_dim=32, d_model=64, text_dim=48, ffn=64)),
    "full": dict(sam=dict(img_size=1024, patch=16, embed=768, depth=2, heads=12, global_idx=(1,), window=14, prompt_dim=256,
                          mlp_dim=2048),
                 clip=dict(embed_dim=768, image_resolution=336, vision_layers=2, vision_width=1024, vision_patch_size=14,
                           transformer_width=768, transformer_heads=12, transformer_layers=2),
                 clip_b=dict(embed_dim=512, image_resolution=224, vision_layers=1, vision_width=768, vision_patch_size=16,
                             transformer_width=512, transformer_heads=8, transformer_layers=1),
                 fusion=dict(token_dim=256, d_model=1024, text_dim=768, ffn=2048)),
}


def make_clip(model_py, sizes, used, generator):
    model = model_py.CLIP(context_length=77, vocab_size=49408, **sizes).eval()
    randomize(model, generator)
    with torch.no_grad():
        table = torch.zeros(49408, sizes["transformer_width"])
        table[used] = torch.randn(len(used), sizes["transformer_width"], generator=generator) * 0.5
        model.token_embedding.weight.copy_(table)
        model.logit_scale.fill_(4.6052)  # ln(100), as trained CLIP
    round_to_half(model)
    return model


def save_torchscript(model, size, path):
    """Traced in fp32 (CPU has no fp16 convolution), then halved as OpenAI's convert_weights does."""
    traced = torch.jit.trace(copy.deepcopy(model), (torch.zeros(1, 3, size, size), torch.zeros(1, 77, dtype=torch.long)))
    traced.half().save(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", nargs="?", const=os.path.join(ROOT, "Benchmarks", "out", "models-create"),
                        help="real widths, fewer layers, into this directory")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sizes = SIZES["full" if args.full else "tiny"]
    out = args.full or OUT
    os.makedirs(out, exist_ok=True)

    model_py = load_openai_module("model")
    tokenize = make_tokenize()

    cleaned = [n.replace("-other", "").replace("-merged", "").replace("-stuff", "") for n in NAMES]
    used = sorted(set(tokenize([t.format(n) for n in cleaned for t in TEMPLATES]).flatten().tolist()))

    g = torch.Generator().manual_seed(17)
    sam = vit_sam(**sizes["sam"])
    randomize(sam, g)
    round_to_half(sam)
    clip_l = make_clip(model_py, sizes["clip"], used, g)
    clip_b = make_clip(model_py, sizes["clip_b"], used, g)
    f = sizes["fusion"]
    fusion = build_fusion(f["token_dim"], f["d_model"], f["text_dim"], f["ffn"])
    randomize(fusion, g)
    with torch.no_grad():
        # As in make_pipeline_fixtures: damp attention and FFN so that the regions stay apart.
        fusion["to_clip"].weight.mul_(3.0)
        for name, p in fusion.named_parameters():
            if "out_proj" in name or "linear2" in name:
                p.mul_(0.15)
    round_to_half(fusion)

    torch.save(sam.state_dict(), os.path.join(out, "sam.pth"))
    save_torchscript(clip_l, sizes["clip"]["image_resolution"], os.path.join(out, "clip_l336.pt"))
    save_torchscript(clip_b, sizes["clip_b"]["image_resolution"], os.path.join(out, "clip_b.pt"))
    model = collections.OrderedDict((f"model.{k}", v) for k, v in fusion.state_dict().items())
    model.update((f"model.sam.{k}", v) for k, v in sam.state_dict().items())
    # The committed set leaves the frozen CLIP's (mostly zero) token table out of this copy, to stay small.
    model.update((f"model.clip_model.{k}", v.half()) for k, v in clip_l.state_dict().items()
                 if args.full or k != "token_embedding.weight")
    torch.save({"model": model, "trainer": {"iteration": 449999}, "iteration": 449999}, os.path.join(out, "regionspot.pth"))

    rng = np.random.default_rng(18)
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.clip(np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1) + rng.integers(0, 60, size=(h, w, 3)), 0, 255)
    image = image.astype(np.uint8)
    boxes = np.array([[4, 3, 40, 30], [30, 10, 79, 59], [0, 0, 80, 60], [50.5, 5.25, 70, 20]], dtype=np.float32)
    size = sizes["clip"]["image_resolution"]
    result = Reference(sam, clip_l, fusion, size, tokenize, TEMPLATES).run(image, boxes, NAMES, clip_l.logit_scale.exp())
    Image.fromarray(image).save(os.path.join(out, "image.png"))
    save_file({k: result[k].detach().float().contiguous() for k in ("probs", "iou")}, os.path.join(out, "expected.safetensors"))
    with open(os.path.join(out, "request.json"), "w") as file:
        json.dump({"boxes": boxes.tolist(), "vocabulary": NAMES, "clip_input_size": size,
                   "logit_scale": float(clip_l.logit_scale.detach().exp()),
                   "widths": {"fusion": f["d_model"], "clip_b": sizes["clip_b"]["vision_width"]}}, file, indent=1)
    print("wrote", out, "top-1:", result["probs"].argmax(-1).tolist())


if __name__ == "__main__":
    main()
