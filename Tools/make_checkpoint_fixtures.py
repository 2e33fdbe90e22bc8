#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures of Tests/CheckpointsTests/Fixtures/: real `torch.save`
and TorchScript files with the official key layouts at tiny sizes, and beside each the tensors
PyTorch itself recovers from it, written with the `safetensors` library in their original
dtypes (keys flattened with dots). Also the pipeline fixture's fusion head as a detectron2
training checkpoint (Tests/RegionSpotTests/Fixtures/pipeline/fusion_detectron2.pth). Deterministic (seeded); rerun with

    .venv-ref/bin/python Tools/make_checkpoint_fixtures.py
"""
import collections
import io
import os
import zipfile

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CheckpointsTests", "Fixtures")


def flatten(value, prefix=""):
    """Tensors of a nested dict, keyed by dotted path, as the Swift reader flattens them."""
    result = {}
    if isinstance(value, torch.Tensor):
        result[prefix] = value
    elif isinstance(value, dict):
        for key, item in value.items():
            result.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return result


def save_expected(tensors, name):
    # safetensors wants contiguous tensors that share no memory.
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, os.path.join(OUT, name))


def regionspot_checkpoint():
    """The fusion module's keys as RegionSpot's detectron2 checkpointer saves them."""

    class RegionSpotFusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.to_clip = nn.Linear(12, 8)
            self.decoder = nn.Module()
            self.decoder.layers = nn.ModuleList(
                nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16) for _ in range(2))
            self.projector = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 6))

    model = RegionSpotFusion()
    checkpoint = {"model": model.state_dict(), "iteration": 123456, "trainer": {"lr": 1e-4, "name": "regionspot", "steps": [10, 20]},
                  "flags": (True, False, None), "big": 1 << 70, "scale": torch.tensor(2.0)}
    torch.save(checkpoint, os.path.join(OUT, "regionspot.pth"))
    save_expected(flatten(checkpoint), "regionspot_expected.safetensors")


def detectron2_checkpoint():
    """The pipeline fixture's fusion head (Tests/RegionSpotTests/Fixtures/pipeline/fusion.safetensors)
    as RegionSpot's official checkpoints are laid out: detectron2's Checkpointer saves the whole
    meta-architecture, whose `model` submodule is the RegionSpot head, beside the trainer state:
    {"model": {"model.to_clip.weight", "model.decoder.layers.0...", ...},
     "trainer": {"iteration", "hooks", "optimizer"}, "iteration"}."""
    pipeline = os.path.join(os.path.dirname(OUT), "..", "RegionSpotTests", "Fixtures", "pipeline")
    head = {k: v.float() for k, v in load_file(os.path.join(pipeline, "fusion.safetensors")).items()}
    # Real AdamW state after one step on random gradients, so the optimizer entries hold tensors too.
    generator = torch.Generator().manual_seed(2)
    params = [torch.nn.Parameter(v.clone()) for v in head.values()]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    optimizer.step()
    checkpoint = {
        "model": collections.OrderedDict((f"model.{k}", v) for k, v in head.items()),
        "trainer": {"iteration": 89999, "hooks": {"LRScheduler": {"base_lrs": [1e-4], "last_epoch": 89999}},
                    "optimizer": optimizer.state_dict()},
        "iteration": 89999,
    }
    torch.save(checkpoint, os.path.join(pipeline, "fusion_detectron2.pth"))


def sam_checkpoint():
    """A flat state dict with segment-anything's original key names."""
    keys = {
        "image_encoder.pos_embed": (1, 4, 4, 8),
        "image_encoder.patch_embed.proj.weight": (8, 3, 2, 2),
        "image_encoder.patch_embed.proj.bias": (8,),
        "image_encoder.blocks.0.norm1.weight": (8,),
        "image_encoder.blocks.0.attn.qkv.weight": (24, 8),
        "image_encoder.blocks.0.attn.rel_pos_h": (7, 4),
        "image_encoder.blocks.0.attn.rel_pos_w": (7, 4),
        "image_encoder.neck.0.weight": (4, 8, 1, 1),
        "image_encoder.neck.1.weight": (4,),
        "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": (2, 2),
        "prompt_encoder.point_embeddings.0.weight": (1, 4),
        "mask_decoder.iou_token.weight": (1, 4),
        "mask_decoder.output_upscaling.0.weight": (4, 2, 2, 2),
        "mask_decoder.transformer.layers.0.self_attn.q_proj.weight": (4, 4),
    }
    state = {key: torch.randn(*shape) for key, shape in keys.items()}
    torch.save(state, os.path.join(OUT, "sam.pth"))
    save_expected(state, "sam_expected.safetensors")


def mobile_sam_checkpoint():
    """MobileSAM's OrderedDict state dict: TinyViT conv+BN pairs with their buffers."""

    class Conv2dBN(nn.Sequential):
        def __init__(self, a, b):
            super().__init__()
            self.add_module("c", nn.Conv2d(a, b, 3, 1, 1, bias=False))
            self.add_module("bn", nn.BatchNorm2d(b))

    encoder = nn.Module()
    encoder.patch_embed = nn.Module()
    encoder.patch_embed.seq = nn.Sequential(Conv2dBN(3, 4), nn.GELU(), Conv2dBN(4, 8))
    for module in encoder.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
            module.num_batches_tracked.fill_(17)
    state = collections.OrderedDict(("image_encoder." + k, v) for k, v in encoder.state_dict().items())
    state["mask_decoder.iou_token.weight"] = torch.randn(1, 4)
    torch.save(state, os.path.join(OUT, "mobile_sam.pt"))
    torch.save(state, os.path.join(OUT, "mobile_sam_legacy.pt"), _use_new_zipfile_serialization=False)
    save_expected(state, "mobile_sam_expected.safetensors")


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mask: torch.Tensor):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(collections.OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = mask  # a plain tensor attribute, as in OpenAI CLIP: not in state_dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), self.ln_1(x), self.ln_1(x), need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class TinyCLIP(nn.Module):
    """OpenAI CLIP's module tree (visual + text transformer) at toy sizes."""

    def __init__(self):
        super().__init__()
        width, context = 8, 5
        mask = torch.full((context, context), float("-inf")).triu_(1)
        self.visual = nn.Module()
        self.visual.conv1 = nn.Conv2d(3, width, 4, 4, bias=False)
        self.visual.class_embedding = nn.Parameter(torch.randn(width))
        self.visual.positional_embedding = nn.Parameter(torch.randn(5, width))
        self.visual.ln_pre = nn.LayerNorm(width)
        self.visual.proj = nn.Parameter(torch.randn(width, 6))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(*[Block(width, 2, mask) for _ in range(2)])
        self.token_embedding = nn.Embedding(20, width)
        self.positional_embedding = nn.Parameter(torch.randn(context, width))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, 6))
        self.logit_scale = nn.Parameter(torch.ones([]) * 2.6592)
        self.register_buffer("counter", torch.tensor([3], dtype=torch.int64))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer.resblocks(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_final(x) @ self.text_projection * self.logit_scale.exp()


def scripted_clip():
    model = TinyCLIP()
    for parameter in model.parameters():  # LayerNorm weights of ones would hide bugs
        parameter.data.normal_()
    model = model.half()
    # Trace, as OpenAI's ViT-B-16.pt was produced (scripting would also work).
    traced = torch.jit.trace(model.float(), torch.zeros(1, 5, dtype=torch.long)).half()
    traced.save(os.path.join(OUT, "clip_scripted.pt"))
    save_expected(dict(torch.jit.load(os.path.join(OUT, "clip_scripted.pt")).state_dict()), "clip_scripted_expected.safetensors")


def views_checkpoint():
    """Tensors that are views of shared storages: transposes, strided slices, offsets, expands."""
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5
    half = torch.randn(5, 4).half()
    state = {
        "base": base,
        "transposed": base.t(),
        "strided": base[1:, ::2],
        "offset_view": base.view(-1)[7:13].view(2, 3),
        "expanded": base[0, :3].unsqueeze(0).expand(2, 3),
        "half_columns": half[:, 1:3],
        "half_permuted": half.t()[::2],
        "scalar_view": base[2, 5],
        "empty": base[:0],
    }
    torch.save(state, os.path.join(OUT, "views.pth"))
    save_expected(state, "views_expected.safetensors")


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/regionspot-pwned",))


def malicious_checkpoint():
    """A checkpoint whose pickle calls os.system when unpickled by Python."""
    torch.save({"model": {"weight": torch.zeros(2)}, "payload": Exploit()}, os.path.join(OUT, "malicious.pth"))


def deflated_checkpoint():
    """The SAM fixture re-zipped with deflate compression (torch itself writes stored entries)."""
    with zipfile.ZipFile(os.path.join(OUT, "sam.pth")) as source, \
            zipfile.ZipFile(os.path.join(OUT, "sam_deflated.pth"), "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            copy = zipfile.ZipInfo(info.filename, date_time=(2024, 1, 1, 0, 0, 0))
            copy.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(copy, source.read(info.filename))


def bench_checkpoints():
    """Full-size benchmark inputs (git-ignored): SAM ViT-B's state dict with random weights, as
    torch.save writes it and as safetensors, plus OpenAI CLIP ViT-B/16 as a TorchScript archive
    with fp16 weights, like the published ViT-B-16.pt."""
    import importlib.util
    from segment_anything import sam_model_registry
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Benchmarks", "out", "io")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    state = sam_model_registry["vit_b"]().state_dict()
    torch.save(state, os.path.join(out, "sam_vit_b.pth"))
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out, "sam_vit_b.safetensors"))
    # clip/__init__.py needs pkg_resources; load clip/model.py on its own.
    path = os.path.join(importlib.util.find_spec("clip").submodule_search_locations[0], "model.py")
    spec = importlib.util.spec_from_file_location("openai_clip_model", path)
    clip_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clip_model)
    model = clip_model.CLIP(512, 224, 12, 768, 16, 77, 49408, 512, 8, 12)  # ViT-B/16's build_model numbers
    # Traced in fp32 (CPU has no fp16 convolution), then converted as OpenAI's convert_weights does.
    traced = torch.jit.trace(model.eval(), (torch.zeros(1, 3, 224, 224), torch.zeros(1, 77, dtype=torch.long)))
    traced.half().save(os.path.join(out, "clip_vit_b16.pt"))


def main():
    import sys
    if "--bench" in sys.argv:
        bench_checkpoints()
        return
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    regionspot_checkpoint()
    sam_checkpoint()
    mobile_sam_checkpoint()
    scripted_clip()
    views_checkpoint()
    malicious_checkpoint()
    deflated_checkpoint()
    detectron2_checkpoint()


if __name__ == "__main__":
    main()
