#!/usr/bin/env python3
"""Parity fixtures for the SAM module (Sources/SAM), made by the reference code on CPU in fp32.

    .venv-ref/bin/python Tools/make_sam_fixtures.py            # Tests/SAMTests/Fixtures (small, committed)
    .venv-ref/bin/python Tools/make_sam_fixtures.py --full DIR # full-size ViT-B / TinyViT for Benchmarks/out

Every tensor is randomised (pos_embed, rel_pos_*, attention biases, batch-norm running statistics
included), because the reference zero-initialises several of them. Weights are written as
safetensors under their original segment-anything / MobileSAM names (and Hugging Face `SamModel`
names for one fixture); inputs and outputs as float32 .npy. Deterministic: fixed seeds.
"""
import argparse
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.predictor import SamPredictor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]


def randomize(module, seed):
    """Fill every float parameter and buffer so that no path is trivially zero or identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.state_dict(keep_vars=True).items()):
            if not t.dtype.is_floating_point:
                continue
            leaf = name.rsplit(".", 1)[-1]
            randn = torch.randn(t.shape, generator=g)
            if leaf == "running_var":
                value = torch.rand(t.shape, generator=g) + 0.5
            elif leaf == "running_mean":
                value = 0.2 * randn
            elif leaf == "weight" and t.dim() == 1:  # norms
                value = 1 + 0.2 * randn
            elif leaf == "bias":
                value = 0.1 * randn
            elif leaf == "weight" and t.dim() >= 2:
                fan_in = t[0].numel() if "output_upscaling" not in name else t.shape[0] * t[0, 0].numel()
                value = randn / fan_in ** 0.5
            elif leaf in ("pos_embed",):
                value = 0.5 * randn
            else:  # rel_pos_*, attention_biases, positional_encoding_gaussian_matrix
                value = randn
            t.copy_(value)


def vit_sam(img_size, patch, embed, depth, heads, global_idx, window, prompt_dim, mlp_dim=None):
    """segment-anything's Sam with a ViT image encoder of the given size (eval mode)."""
    grid = img_size // patch
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=depth, embed_dim=embed, img_size=img_size, mlp_ratio=4,
            norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6), num_heads=heads, patch_size=patch,
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=global_idx, window_size=window,
            out_chans=prompt_dim),
        prompt_encoder=PromptEncoder(embed_dim=prompt_dim, image_embedding_size=(grid, grid),
                                     input_image_size=(img_size, img_size), mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=prompt_dim, mlp_dim=mlp_dim or 2 * prompt_dim, num_heads=8),
            transformer_dim=prompt_dim, iou_head_depth=3, iou_head_hidden_dim=prompt_dim),
        pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD).eval()


def tiny_tinyvit(img_size, embed_dims, depths, heads, windows, neck_dim):
    """MobileSAM's TinyViT at a small size. The reference hard-codes a 64×64 output grid, a 256-wide
    neck and a stride-1 last PatchMerging only for out_dim in {320, 448, 576}; at these small widths
    we make the same choices explicitly (the last merge keeps the resolution, as the reference's own
    input_resolution bookkeeping for stage 3 assumes)."""
    from mobile_sam.modeling.tiny_vit_sam import TinyViT, LayerNorm2d
    model = TinyViT(img_size=img_size, in_chans=3, num_classes=10, embed_dims=embed_dims, depths=depths,
                    num_heads=heads, window_sizes=windows, mlp_ratio=4., drop_rate=0., drop_path_rate=0.,
                    use_checkpoint=False, mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8)
    model.layers[2].downsample.conv2.c.stride = (1, 1)
    model.neck = torch.nn.Sequential(
        torch.nn.Conv2d(embed_dims[-1], neck_dim, kernel_size=1, bias=False), LayerNorm2d(neck_dim),
        torch.nn.Conv2d(neck_dim, neck_dim, kernel_size=3, padding=1, bias=False), LayerNorm2d(neck_dim))
    grid = img_size // 16

    def forward_features(x):
        x = model.patch_embed(x)
        for layer in model.layers:
            x = layer(x)
        b, _, c = x.size()
        return model.neck(x.view(b, grid, grid, c).permute(0, 3, 1, 2))

    model.forward = forward_features
    return model.eval()


def hf_name(key):
    """Original segment-anything key → transformers SamModel key (convert_sam_to_hf.py's mapping)."""
    import re
    k = key
    k = k.replace("image_encoder.", "vision_encoder.")
    k = k.replace("patch_embed.proj", "patch_embed.projection")
    k = re.sub(r"vision_encoder\.blocks\.", "vision_encoder.layers.", k)
    k = re.sub(r"(vision_encoder\.layers\.\d+)\.norm(\d)", r"\1.layer_norm\2", k)
    for i, n in enumerate(["conv1", "layer_norm1", "conv2", "layer_norm2"]):
        k = k.replace(f"vision_encoder.neck.{i}.", f"vision_encoder.neck.{n}.")
    k = k.replace("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                  "prompt_encoder.shared_embedding.positional_embedding")
    k = k.replace("prompt_encoder.point_embeddings.", "prompt_encoder.point_embed.")
    for i, n in zip([0, 1, 3, 4, 6], ["conv1", "layer_norm1", "conv2", "layer_norm2", "conv3"]):
        k = k.replace(f"prompt_encoder.mask_downscaling.{i}.", f"prompt_encoder.mask_embed.{n}.")
    k = re.sub(r"(transformer\.layers\.\d+)\.norm(\d)", r"\1.layer_norm\2", k)
    k = k.replace("transformer.norm_final_attn", "transformer.layer_norm_final_attn")
    for i, n in zip([0, 1, 3], ["upscale_conv1", "upscale_layer_norm", "upscale_conv2"]):
        k = k.replace(f"mask_decoder.output_upscaling.{i}.", f"mask_decoder.{n}.")
    for i, n in enumerate(["proj_in", "layers.0", "proj_out"]):
        k = re.sub(rf"(output_hypernetworks_mlps\.\d+|iou_prediction_head)\.layers\.{i}\.", rf"\1.{n}.", k)
    return k


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(np.asarray(array, dtype=np.float32)))


def sam_state(model):
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


@torch.no_grad()
def run_vit_fixture(out):
    torch.manual_seed(0)
    sam = vit_sam(img_size=128, patch=16, embed=32, depth=2, heads=2, global_idx=(1,), window=5, prompt_dim=32)
    randomize(sam, seed=1)
    state = sam_state(sam)
    save_file(state, os.path.join(out, "vit_tiny.safetensors"))
    hf = {hf_name(k): v for k, v in state.items()}
    save_file(hf, os.path.join(out, "vit_tiny_hf.safetensors"))

    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(75, 100, 3), dtype=np.uint8)
    predictor = SamPredictor(sam)
    predictor.set_image(image)
    save_npy(os.path.join(out, "vit_image.npy"), image)
    resized = predictor.transform.apply_image(image)
    save_npy(os.path.join(out, "vit_resized.npy"), resized)
    pixels = sam.preprocess(torch.as_tensor(resized).permute(2, 0, 1)[None].float())
    save_npy(os.path.join(out, "vit_pixels.npy"), pixels[0])
    save_npy(os.path.join(out, "vit_embedding.npy"), predictor.features[0])

    boxes = np.array([[5, 10, 60, 70], [0, 0, 99, 74], [75.5, 15.25, 95, 30], [30, 35, 31, 36],
                      [-3, 50, 40, 80]], dtype=np.float32)
    save_npy(os.path.join(out, "vit_boxes.npy"), boxes)
    decode(sam, predictor, out, "vit", boxes=boxes)

    # Points (no box): sparse embeddings get the padding point appended.
    points = np.array([[[15, 20], [50, 45], [3, 70]]], dtype=np.float32)
    labels = np.array([[1, 0, -1]], dtype=np.float32)
    save_npy(os.path.join(out, "vit_points.npy"), points)
    save_npy(os.path.join(out, "vit_point_labels.npy"), labels)
    decode(sam, predictor, out, "vit_points", points=(points, labels))


@torch.no_grad()
def run_patch8_fixture(out):
    """A patch-8 ViT, the demo encoder's shape: its embedding grid (and so the prompt encoder's
    positional grid) is img_size / 8, not the released models' img_size / 16."""
    torch.manual_seed(0)
    sam = vit_sam(img_size=64, patch=8, embed=32, depth=2, heads=2, global_idx=(0, 1), window=0, prompt_dim=32)
    randomize(sam, seed=3)
    save_file(sam_state(sam), os.path.join(out, "vit_patch8.safetensors"))
    image = np.random.default_rng(4).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    predictor = SamPredictor(sam)
    predictor.set_image(image)
    save_npy(os.path.join(out, "vit_patch8_image.npy"), image)
    resized = predictor.transform.apply_image(image)
    pixels = sam.preprocess(torch.as_tensor(resized).permute(2, 0, 1)[None].float())
    save_npy(os.path.join(out, "vit_patch8_pixels.npy"), pixels[0])
    boxes = np.array([[5, 6, 40, 30], [0, 0, 63, 47], [30.5, 20.25, 50, 44]], dtype=np.float32)
    save_npy(os.path.join(out, "vit_patch8_boxes.npy"), boxes)
    decode(sam, predictor, out, "vit_patch8", boxes=boxes)


def decode(sam, predictor, out, prefix, boxes=None, points=None):
    tfm = predictor.transform
    box_t = tfm.apply_boxes_torch(torch.as_tensor(boxes), predictor.original_size) if boxes is not None else None
    pts = None
    if points is not None:
        coords = tfm.apply_coords_torch(torch.as_tensor(points[0]), predictor.original_size)
        pts = (coords, torch.as_tensor(points[1]).int())
    sparse, dense = sam.prompt_encoder(points=pts, boxes=box_t, masks=None)
    save_npy(os.path.join(out, f"{prefix}_sparse.npy"), sparse)
    captured = {}
    handle = sam.mask_decoder.transformer.register_forward_hook(lambda m, i, o: captured.update(hs=o[0]))
    masks, iou = sam.mask_decoder.predict_masks(
        image_embeddings=predictor.features, image_pe=sam.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense)
    handle.remove()
    n_mask = sam.mask_decoder.num_mask_tokens
    save_npy(os.path.join(out, f"{prefix}_mask_tokens.npy"), captured["hs"][:, 1:1 + n_mask])
    save_npy(os.path.join(out, f"{prefix}_iou.npy"), iou)
    save_npy(os.path.join(out, f"{prefix}_low_res.npy"), masks)
    full = sam.postprocess_masks(masks[:, :1], predictor.input_size, predictor.original_size)
    save_npy(os.path.join(out, f"{prefix}_masks.npy"), (full[:, 0] > sam.mask_threshold).float())


@torch.no_grad()
def run_tinyvit_fixture(out):
    torch.manual_seed(0)
    model = tiny_tinyvit(img_size=128, embed_dims=[16, 24, 32, 40], depths=[2, 1, 2, 1], heads=[1, 2, 2, 4],
                         windows=[7, 7, 14, 7], neck_dim=32)
    randomize(model, seed=3)
    model.eval()  # recomputes the cached attention-bias table `ab` from the randomised biases
    state = {"image_encoder." + k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out, "tinyvit_tiny.safetensors"))
    g = torch.Generator().manual_seed(4)
    pixels = torch.randn(1, 3, 128, 128, generator=g)
    save_npy(os.path.join(out, "tinyvit_pixels.npy"), pixels[0])
    save_npy(os.path.join(out, "tinyvit_embedding.npy"), model(pixels)[0])


def full_models(out):
    """Full-size random ViT-B SAM and MobileSAM for the benchmark (not committed)."""
    from segment_anything import sam_model_registry
    from mobile_sam import sam_model_registry as mobile_registry
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    sam = sam_model_registry["vit_b"]().eval()
    randomize(sam, seed=10)
    save_file(sam_state(sam), os.path.join(out, "sam_vit_b_random.safetensors"))
    mobile = mobile_registry["vit_t"]().eval()
    randomize(mobile, seed=11)
    mobile.eval()
    save_file(sam_state(mobile), os.path.join(out, "mobile_sam_random.safetensors"))
    g = torch.Generator().manual_seed(12)
    save_npy(os.path.join(out, "pixels_1024.npy"), torch.randn(3, 1024, 1024, generator=g))
    print("wrote", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", help="write full-size benchmark models into this directory instead")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.full:
        full_models(args.full)
        sys.exit(0)
    out = os.path.join(ROOT, "Tests", "SAMTests", "Fixtures")
    os.makedirs(out, exist_ok=True)
    run_vit_fixture(out)
    run_patch8_fixture(out)
    run_tinyvit_fixture(out)
    print("wrote", out)
