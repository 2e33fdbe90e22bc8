#!/usr/bin/env python3
"""Reference fixtures for training RegionSpot's fusion module (Sources/Training).

The module is built as Surrey-UP-Lab/RegionSpot builds it (regionspot/modeling/regionspot.py,
decoder.py): to_clip Linear(256, D), projector Linear(D, text), and build_decoder's 3 post-norm
decoder layers (nn.MultiheadAttention self/cross, batch_first, FFN with relu, dropout 0.1) plus a
final LayerNorm, which is nn.TransformerDecoder(norm_first=False) with the same keys. Modules are
created in the reference's order under a seed, with PyTorch's default initialisation (upstream
calls no custom init), then rounded to fp16 so the committed file is half the size; the reference
computes with exactly those values in fp32.

The batch is three images of cached features (SAM mask tokens, CLIP token maps) with 2/5/3
regions, padded to 5 by repetition as util/preprocessing.py prepare_prompt_train does
(repeat_interleave; repeats take part in self-attention and in the loss). A masked variant pads
with zero rows instead, masks them out of self-attention (tgt_key_padding_mask) and out of the loss.

Losses over logits = logit_scale * region/(|region|+1e-7) @ class_embeddings.T (get_logits):
  focal: RegionSpot.sigmoid_focal_loss (alpha 0.25, gamma 2) on one-hot targets over the whole
         vocabulary, loss.mean(1).sum() / n_box * n_box: the sum over (image, region, class)
         divided by the padded region count;
  cross_entropy: softmax cross-entropy with the same reduction (per image: mean over its padded
         regions; summed over images). Masked variants divide by each image's real region count.

Training as train_net.py sets it up: AdamW (betas 0.9/0.999, eps 1e-8, weight decay on every
parameter), torch.nn.utils.clip_grad_norm_ over all parameters at 1.0 before each step (active:
the gradients' norm is far above 1), detectron2's WarmupParamScheduler (linear from 0.01x) over
MultiStepParamScheduler (x0.1 per milestone) through LRMultiplier. Dropout is off (eval mode,
gradients on) so that PyTorch and Swift compute the same function.

The learning rates are larger than RegionSpot's 2.5e-5 so that a step is far larger than the
tolerance (1e-5 after one step, 1e-4 after ten). One exception to the reference: the gradient of the
attention key biases (in_proj_bias[D:2D]) is zeroed before clipping. It is exactly zero in exact
arithmetic (softmax ignores a constant added to a query's scores), so PyTorch's value is
rounding noise that Adam's normalisation turns into steps of up to ~1% of lr, differing between
any two implementations; our MultiheadAttention backward (Sources/Layers) computes it as exactly zero.

Every parameter-sized result is stored as fp16 *differences* from the initial weights (or raw
gradients in fp16) to keep the fixtures under 2 MB: a difference of one step (≤ ~1e-4) is then
exact to ~5e-8, of ten steps to ~2e-6. Also written: a small AdamW/clipping/schedule case with
large weight decay, so that the decay itself is visible.

Usage: .venv-ref/bin/python Tools/make_training_fixtures.py
"""
import copy
import json
import os

import torch
import torch.nn.functional as F
from fvcore.common.param_scheduler import CompositeParamScheduler, LinearParamScheduler, MultiStepParamScheduler
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures")

TOKEN_DIM, D_MODEL, HEADS, FEED_FORWARD, TEXT_DIM = 256, 64, 8, 128, 32
MAP_TOKENS = 1 + 4 * 4
REGION_COUNTS = [2, 5, 3]
CLASSES = 20
LOGIT_SCALE = 100.0  # CLIP's logit_scale.exp() (ln 100 = 4.6052), fixed, not trained
ALPHA, GAMMA = 0.25, 2.0
WEIGHT_DECAY, MAX_NORM = 1e-4, 1.0
ONE_STEP_LR = 1e-4
TEN_STEPS = dict(base_lr=1e-3, warmup_factor=0.01, warmup_iters=3, milestones=[6, 8], gamma=0.1, max_iter=10)


def build_module(seed):
    """The trainable part of RegionSpot, created in the reference's order (to_clip, ln_clip, projector, decoder)."""
    torch.manual_seed(seed)
    module = torch.nn.Module()
    module.to_clip = torch.nn.Linear(TOKEN_DIM, D_MODEL)
    module.projector = torch.nn.Linear(D_MODEL, TEXT_DIM)
    layer = torch.nn.TransformerDecoderLayer(D_MODEL, HEADS, FEED_FORWARD, dropout=0.1, activation="relu",
                                             batch_first=True, norm_first=False)
    module.decoder = torch.nn.TransformerDecoder(layer, 3, norm=torch.nn.LayerNorm(D_MODEL))
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())
    return module.eval()  # dropout off; gradients stay on


def repeat_counts(count, padded):
    """prepare_prompt_train's repeats: the last (padded % count) regions once more than the others."""
    base = padded // count
    return [base] * (count - padded % count) + [base + 1] * (padded % count)


def make_batch(generator):
    padded = max(REGION_COUNTS)
    tokens = torch.randn(sum(REGION_COUNTS), TOKEN_DIM, generator=generator)
    labels = torch.randint(0, CLASSES, (sum(REGION_COUNTS),), generator=generator)
    maps = torch.randn(len(REGION_COUNTS), MAP_TOKENS, D_MODEL, generator=generator)
    classes = torch.randn(CLASSES, TEXT_DIM, generator=generator)
    classes = classes / classes.norm(dim=-1, keepdim=True)
    starts = [sum(REGION_COUNTS[:i]) for i in range(len(REGION_COUNTS))]
    source = torch.stack([torch.repeat_interleave(torch.arange(s, s + n), torch.tensor(repeat_counts(n, padded)))
                          for s, n in zip(starts, REGION_COUNTS)])
    masked_source = torch.full((len(REGION_COUNTS), padded), -1, dtype=torch.int64)
    for i, (s, n) in enumerate(zip(starts, REGION_COUNTS)):
        masked_source[i, :n] = torch.arange(s, s + n)
    return dict(mask_tokens=tokens, labels=labels, token_maps=maps, class_embeddings=classes,
                region_counts=torch.tensor(REGION_COUNTS), padded_source=source, masked_source=masked_source)


def gather(rows, source, fill=0.0):
    """rows [R, ...] at indices source [B, N] (-1: a padding row of `fill`)."""
    out = rows[source.clamp(min=0)]
    out[source < 0] = fill
    return out


def focal_terms(logits, targets):
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    return (ALPHA * targets + (1 - ALPHA) * (1 - targets)) * ce * (1 - p_t) ** GAMMA


def loss_of(logits, labels, valid, kind):
    """logits [B, N, C], labels [B, N]; valid [B, N] or None (repeat padding: every slot counts)."""
    n_box = logits.shape[1]
    if kind == "focal":
        per_region = focal_terms(logits, F.one_hot(labels.clamp(min=0), CLASSES).to(logits.dtype))
        if valid is None:
            # RegionSpot.ce_loss: sigmoid_focal_loss(...) = loss.mean(1).sum() / n_box, times n_box.
            return per_region.mean(1).sum() / n_box * n_box
        per_region = per_region.sum(-1)
    else:
        per_region = F.cross_entropy(logits.flatten(0, 1), labels.clamp(min=0).flatten(), reduction="none").view(labels.shape)
        if valid is None:
            return (per_region.sum(1) / n_box).sum()
    return ((per_region * valid).sum(1) / valid.sum(1)).sum()


def forward(module, batch, masked):
    source = batch["masked_source" if masked else "padded_source"]
    tokens = gather(batch["mask_tokens"], source)
    labels = gather(batch["labels"], source, fill=-1)
    padding = source < 0 if masked else None
    hidden = module.decoder(module.to_clip(tokens), batch["token_maps"], tgt_key_padding_mask=padding)
    region = module.projector(hidden)
    logits = LOGIT_SCALE * (region / (region.norm(dim=-1, keepdim=True) + 1e-7)) @ batch["class_embeddings"].T
    return logits, labels, (~padding).float() if masked else None


def zero_key_bias_gradients(module):
    for name, p in module.named_parameters():
        if name.endswith("in_proj_bias"):
            p.grad[D_MODEL:2 * D_MODEL] = 0


def warmup_multistep(base_lr, warmup_factor, warmup_iters, milestones, gamma, max_iter):
    """detectron2 build_lr_scheduler (WarmupMultiStepLR, linear warm-up) as an lr per iteration."""
    steps = MultiStepParamScheduler([gamma ** k for k in range(len(milestones) + 1)], num_updates=max_iter,
                                    milestones=milestones)
    length = warmup_iters / max_iter
    # WarmupParamScheduler: linear from warmup_factor * steps(0) to steps(length), rescaled over the warm-up.
    warm = LinearParamScheduler(warmup_factor * steps(0.0), steps(length))
    multiplier = CompositeParamScheduler([warm, steps], lengths=[length, 1 - length], interval_scaling=["rescaled", "fixed"])
    return lambda iteration: base_lr * multiplier(iteration / max_iter)  # LRMultiplier.get_lr


def train(initial, batch, kind, masked, learning_rates):
    module = copy.deepcopy(initial)
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rates[0], betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=WEIGHT_DECAY)
    record = dict(losses=[], norms=[])
    for step, lr in enumerate(learning_rates):
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        logits, labels, valid = forward(module, batch, masked)
        logits.retain_grad()
        loss = loss_of(logits, labels, valid, kind)
        loss.backward()
        if step == 0:
            record["logits"] = logits.detach().clone()
            record["dlogits"] = logits.grad.clone()
            record["grads"] = {k: p.grad.clone() for k, p in module.named_parameters()}
        zero_key_bias_gradients(module)
        record["norms"].append(torch.nn.utils.clip_grad_norm_(module.parameters(), MAX_NORM).item())
        record["losses"].append(loss.item())
        optimizer.step()
    record["weights"] = {k: p.detach().clone() for k, p in module.named_parameters()}
    return record


def differences(after, before):
    return {k: (after[k].double() - before[k].double()).to(torch.float16) for k in before}


def write(name, tensors, settings=None):
    """Settings go in as one JSON entry: safetensors orders several metadata entries at random."""
    path = os.path.join(OUT, name)
    metadata = {"settings": json.dumps(settings, sort_keys=True)} if settings else None
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=metadata)
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) / 1e3:.0f} kB)")


def make_module_fixtures():
    initial = build_module(seed=14)
    batch = make_batch(torch.Generator().manual_seed(1414))
    weights = {k: p.detach().clone() for k, p in initial.named_parameters()}
    write("training_model.safetensors", {k: v.half() for k, v in weights.items()})  # sizes follow from shapes
    write("training_batch.safetensors", dict(batch, logit_scale=torch.tensor([LOGIT_SCALE])),
          dict(alpha=ALPHA, gamma=GAMMA, weight_decay=WEIGHT_DECAY, max_norm=MAX_NORM, one_step_lr=ONE_STEP_LR,
               ten_steps=TEN_STEPS))

    schedule = warmup_multistep(**TEN_STEPS)
    ten_rates = [schedule(i) for i in range(10)]
    for kind in ["focal", "cross_entropy"]:
        one = train(initial, batch, kind, False, [ONE_STEP_LR])
        ten = train(initial, batch, kind, False, ten_rates)
        out = dict(logits=one["logits"], dlogits=one["dlogits"], loss=torch.tensor(one["losses"][:1]),
                   total_norm=torch.tensor(one["norms"][:1]),
                   ten_losses=torch.tensor(ten["losses"]), ten_norms=torch.tensor(ten["norms"]),
                   ten_learning_rates=torch.tensor(ten_rates, dtype=torch.float64))
        out.update({f"ten_steps.{k}": v for k, v in differences(ten["weights"], weights).items()})
        if kind == "focal":
            # Past the logits the cross-entropy's backward and step are the same code: to stay under 2 MB
            # its one-step check is the loss, the logits' gradient and the gradient norm.
            out.update({f"one_step.{k}": v for k, v in differences(one["weights"], weights).items()})
            out.update({f"grad.{k}": v.half() for k, v in one["grads"].items()})
        write(f"training_{kind}.safetensors", out)
        print(f"  {kind}: loss {one['losses'][0]:.6f}, gradient norm {one['norms'][0]:.3f}, "
              f"ten losses {[round(x, 4) for x in ten['losses']]}")

        # The key-padding mask acts first in layer 0's self-attention: its in-projection's gradient, the loss, the norm.
        masked = train(initial, batch, kind, True, [ONE_STEP_LR])
        write(f"training_{kind}_masked.safetensors",
              dict(logits=masked["logits"], dlogits=masked["dlogits"], loss=torch.tensor(masked["losses"][:1]),
                   total_norm=torch.tensor(masked["norms"][:1]),
                   **{f"grad.{k}": v.half() for k, v in masked["grads"].items() if k.startswith("decoder.layers.0.self_attn.in_proj")}))


def make_optimizer_fixture():
    """AdamW + full-model clipping + warm-up/multi-step schedule on two small tensors, weight decay 0.1."""
    g = torch.Generator().manual_seed(7)
    params = [torch.nn.Parameter(torch.randn(4, 3, generator=g)), torch.nn.Parameter(torch.randn(5, generator=g))]
    out = {"initial.0": params[0].detach().clone(), "initial.1": params[1].detach().clone()}
    schedule = dict(base_lr=0.05, warmup_factor=0.01, warmup_iters=2, milestones=[4], gamma=0.1, max_iter=6)
    rates = warmup_multistep(**schedule)
    optimizer = torch.optim.AdamW(params, lr=rates(0), weight_decay=0.1)
    for step in range(6):
        for group in optimizer.param_groups:
            group["lr"] = rates(step)
        # Large gradients on most steps (clipping active), small ones on others (clipping idle).
        scale = 0.05 if step % 3 == 2 else 3.0
        for i, p in enumerate(params):
            p.grad = scale * torch.randn(p.shape, generator=g)
            out[f"grad.{step}.{i}"] = p.grad.clone()
        out[f"norm.{step}"] = torch.nn.utils.clip_grad_norm_(params, MAX_NORM).reshape(1)
        out[f"lr.{step}"] = torch.tensor([rates(step)], dtype=torch.float64)
        optimizer.step()
        for i, p in enumerate(params):
            out[f"after.{step}.{i}"] = p.detach().clone()
    write("training_adamw.safetensors", out, dict(steps=6, weight_decay=0.1, schedule=schedule))


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    make_module_fixtures()
    make_optimizer_fixture()


if __name__ == "__main__":
    main()
