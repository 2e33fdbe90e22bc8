#!/usr/bin/env python3
"""Reference fixtures for RegionSpot's fusion head (Sources/RegionSpot).

The head is RegionSpot's `to_clip` Linear(256->D), its decoder
(Surrey-UP-Lab/RegionSpot:regionspot/modeling/decoder.py, build_decoder: 3 post-norm
TransformerDecoderLayer(D, 8, 2048, relu, batch_first) + final LayerNorm(D)), which is
numerically torch.nn.TransformerDecoder with dropout off and carries the same state-dict keys,
then `projector` Linear(D->text dim) and `get_logits`
(regionspot/modeling/regionspot.py): logit_scale * region/(|region|+1e-7) @ text_feats.T.

Every tensor is random (seeded), so the files exercise every weight.

Usage:
  .venv-ref/bin/python Tools/make_fusion_fixtures.py            # small, committed
  .venv-ref/bin/python Tools/make_fusion_fixtures.py --large    # D=768/1024 into Benchmarks/out
"""
import argparse
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_head(d_model, text_dim, generator):
    layer = torch.nn.TransformerDecoderLayer(d_model, 8, 2048, dropout=0.0, activation="relu",
                                             batch_first=True, norm_first=False)
    decoder = torch.nn.TransformerDecoder(layer, 3, norm=torch.nn.LayerNorm(d_model))
    head = torch.nn.ModuleDict({
        "to_clip": torch.nn.Linear(256, d_model),
        "decoder": decoder,
        "projector": torch.nn.Linear(d_model, text_dim),
    })
    with torch.no_grad():
        for name, p in head.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            else:
                fan_in = p.shape[-1] if p.dim() > 1 else d_model
                p.copy_(torch.randn(p.shape, generator=generator) / fan_in ** 0.5)
    return head.eval()


def forward(head, mask_tokens, clip_feat, text_feats, logit_scale):
    """mask_tokens [N,256], clip_feat [T,D], text_feats [C,E] (unit rows) -> region, logits."""
    with torch.no_grad():
        tgt = head["to_clip"](mask_tokens[None])
        region = head["projector"](head["decoder"](tgt, clip_feat[None]))[0]
        normed = region / (region.norm(dim=-1, keepdim=True) + 1e-7)
        logits = logit_scale * normed @ text_feats.T
    return region, logits


def make(name, d_model, text_dim, tokens, classes, region_counts, out_dir, seed, half):
    g = torch.Generator().manual_seed(seed)
    head = build_head(d_model, text_dim, g)
    weights = {k: v.detach().clone().contiguous() for k, v in head.state_dict().items()}
    if half:
        # Stored as F16 to keep the committed file small; the reference computes with exactly
        # those rounded values in fp32.
        weights = {k: v.half() for k, v in weights.items()}
        head.load_state_dict({k: v.float() for k, v in weights.items()})
    io = {}
    clip_feat = torch.randn(tokens, d_model, generator=g)
    text = torch.randn(classes, text_dim, generator=g)
    text = text / text.norm(dim=-1, keepdim=True)
    logit_scale = torch.tensor(4.6052)  # ln(100), as trained CLIP
    io["clip_feat"] = clip_feat
    io["text_feats"] = text
    io["logit_scale"] = logit_scale.exp().reshape(1)
    for n in region_counts:
        tokens_n = torch.randn(n, 256, generator=g)
        region, logits = forward(head, tokens_n, clip_feat, text, logit_scale.exp())
        io[f"mask_tokens_{n}"] = tokens_n
        io[f"region_{n}"] = region
        io[f"logits_{n}"] = logits
        probs = torch.softmax(logits, dim=-1)
        io[f"probs_{n}"] = probs
        # detector.py inference_gt_box: the image's top min(900, N*C) pairs (flat index r*C + c).
        flat = probs.reshape(-1)
        io[f"top_{n}"] = torch.topk(flat, min(900, flat.numel())).indices.float()
    os.makedirs(out_dir, exist_ok=True)
    save_file(weights, os.path.join(out_dir, f"{name}.safetensors"),
              metadata={"d_model": str(d_model), "text_dim": str(text_dim)})
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(out_dir, f"{name}_io.safetensors"),
              metadata={"region_counts": ",".join(map(str, region_counts))})
    print("wrote", os.path.join(out_dir, name), "{", ", ".join(sorted(io)), "}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", action="store_true", help="D=768 and D=1024 into Benchmarks/out")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.large:
        out = os.path.join(ROOT, "Benchmarks", "out", "fixtures", "fusion")
        # ViT-B/16 (CLIP_400M): D=768, text 512, 1+14*14 tokens; ViT-L/14: D=1024, text 768, 1+16*16.
        make("fusion_d768", 768, 512, 197, 37, [1, 5, 100], out, seed=768, half=False)
        make("fusion_d1024", 1024, 768, 257, 37, [1, 6, 300], out, seed=1024, half=False)
    else:
        out = os.path.join(ROOT, "Tests", "RegionSpotTests", "Fixtures")
        make("fusion_d32", 32, 24, 50, 11, [1, 3, 17], out, seed=32, half=True)


if __name__ == "__main__":
    main()
