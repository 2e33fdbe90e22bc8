#!/usr/bin/env python3
"""PyTorch training of RegionSpot's fusion module on fixed features, the shapes and settings of
`RegionSpotBench train`: to_clip Linear(256, D), nn.TransformerDecoder (3 post-norm layers, 8 heads,
FFN 2048, dropout 0.1, batch_first) with a final LayerNorm, projector Linear(D, text); logits
logit_scale * cos(region, class); RegionSpot's sigmoid focal loss; clip_grad_norm_ 1.0; AdamW.
Prints regions/s. Usage: .venv-ref/bin/python Benchmarks/train_reference.py D TEXT TOKENS [THREADS]
"""
import sys
import time

import torch
import torch.nn.functional as F

d_model, text_dim, tokens = (int(a) for a in sys.argv[1:4])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
images, regions, classes, seconds = 8, 32, 365, 5.0
torch.set_num_threads(threads)
torch.manual_seed(0)

module = torch.nn.Module()
module.to_clip = torch.nn.Linear(256, d_model)
module.projector = torch.nn.Linear(d_model, text_dim)
layer = torch.nn.TransformerDecoderLayer(d_model, 8, 2048, dropout=0.1, activation="relu", batch_first=True, norm_first=False)
module.decoder = torch.nn.TransformerDecoder(layer, 3, norm=torch.nn.LayerNorm(d_model))
module.train()
optimizer = torch.optim.AdamW(module.parameters(), lr=2.5e-5, weight_decay=1e-4)

mask_tokens = torch.rand(images, regions, 256) * 2 - 1
token_maps = torch.rand(images, tokens, d_model) * 2 - 1
labels = torch.randint(0, classes, (images, regions))
class_embeddings = F.normalize(torch.rand(classes, text_dim) * 2 - 1, dim=-1)
targets = F.one_hot(labels, classes).float()


def step():
    features = module.projector(module.decoder(module.to_clip(mask_tokens), token_maps))
    logits = 100.0 * (features / (features.norm(dim=-1, keepdim=True) + 1e-7)) @ class_embeddings.t()
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ((0.25 * targets + 0.75 * (1 - targets)) * ce * (1 - p_t) ** 2).mean(1).sum()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    optimizer.step()


for _ in range(2):
    step()
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    step()
    steps += 1
elapsed = time.perf_counter() - start
print(f"pytorch {torch.__version__} train D={d_model} text={text_dim}: {elapsed / steps * 1e3:.1f} ms/step, "
      f"{steps * images * regions / elapsed:.0f} regions/s ({threads} threads)")
