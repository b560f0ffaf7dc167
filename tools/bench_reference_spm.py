#!/usr/bin/env python3
"""Development tool: the reference SPM implementation's work per training iteration, replayed in PyTorch on a
model built from a diffusers config folder with random weights, so that `spm-bench train` can be compared with
it on the same model, on the same machine, in the same window (REFERENCE.md's figures come from another machine
and, for the tiny models, from a model whose exact shape it does not give).

What one iteration runs, as METHOD.md counts the reference's erase_with_la (rank 1, 4 anchors, 30 DDIM steps):
  - k drawn from 1…29; k guided DDIM steps (CFG 3, adapter on, no grad), one UNet call over 2 samples each;
  - three frozen calls (adapter off, no grad): positive as a CFG pair (2 samples), neutral as a pair (2), the
    anchors interleaved with the empty prompt (8);
  - two calls with the adapter on and gradients: the target as a pair (2), the interleaved anchors (8);
  - the loss over those 10 samples, one backward, one AdamW step —
k + 5 UNet calls over 2k + 22 samples and a backward over 10. Prompt embeddings are random tensors of the right
shape (the reference encodes its prompts once, before training); the rank-1 adapters sit on every linear layer
and 1×1 convolution inside the transformer blocks, as in the reference.

Usage: python3 tools/bench_reference_spm.py CONFIG_FOLDER [resolution_px | MIN-MAX] [iterations] [threads] [seed]
       → JSON on stdout (seconds per timed iteration after one warm-up, UNet samples per iteration, peak RSS).
       MIN-MAX: the reference's dynamic resolution, a side drawn per iteration from MIN…MAX in steps of 64.
"""
import json
import math
import resource
import sys
import time

import torch
from diffusers import DDIMScheduler, UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from diffusers.models.transformers.transformer_2d import Transformer2DModel

DENOISING_STEPS = 30
GUIDANCE = 3.0
ANCHORS = 4


class RankOneAdapter(torch.nn.Module):
    """ΔW = U·D on one layer's input, zero-initialised up as in the reference; added by a forward hook."""

    def __init__(self, layer):
        super().__init__()
        conv = isinstance(layer, torch.nn.Conv2d)
        features_in = layer.in_channels if conv else layer.in_features
        features_out = layer.out_channels if conv else layer.out_features
        make = (lambda i, o: torch.nn.Conv2d(i, o, 1, bias=False)) if conv else \
            (lambda i, o: torch.nn.Linear(i, o, bias=False))
        self.down, self.up = make(features_in, 1), make(1, features_out)
        torch.nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        torch.nn.init.zeros_(self.up.weight)
        self.enabled = True
        layer.register_forward_hook(self.hook)

    def hook(self, _layer, inputs, output):
        return output + self.up(self.down(inputs[0])) if self.enabled else output


def attach_adapters(unet):
    adapters = []
    for block in unet.modules():
        if isinstance(block, Transformer2DModel):
            for layer in block.modules():
                if isinstance(layer, torch.nn.Linear) or \
                        (isinstance(layer, torch.nn.Conv2d) and layer.kernel_size == (1, 1)):
                    adapters.append(RankOneAdapter(layer))
    return torch.nn.ModuleList(adapters)


def main():
    folder = sys.argv[1]
    resolution, iterations, threads, seed = (sys.argv[2:] + ["64", 5, 2, 1][len(sys.argv) - 2:])[:4]
    iterations, threads, seed = int(iterations), int(threads), int(seed)
    bounds = list(map(int, resolution.split("-")))
    sides = list(range(bounds[0], bounds[-1] + 1, 64))
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    config = json.load(open(f"{folder}/unet/config.json"))
    vae = json.load(open(f"{folder}/vae/config.json"))
    factor = 2 ** (len(vae["block_out_channels"]) - 1)
    unet = UNet2DConditionModel.from_config(config)
    unet.set_attn_processor(AttnProcessor2_0())
    unet.requires_grad_(False)
    adapters = attach_adapters(unet)
    optimizer = torch.optim.AdamW(adapters.parameters(), lr=1e-4)
    scheduler = DDIMScheduler.from_config(json.load(open(f"{folder}/scheduler/scheduler_config.json")))
    scheduler.set_timesteps(DENOISING_STEPS)

    width = config["cross_attention_dim"]
    uncond, target, positive, neutral = (torch.randn(1, 77, width) for _ in range(4))
    anchors = [torch.randn(1, 77, width) for _ in range(ANCHORS)]
    interleaved = torch.cat([e for anchor in anchors for e in (uncond, anchor)])
    sdxl = config.get("addition_embed_type") == "text_time"

    def predict(latents, timestep, context, side):
        batch = context.shape[0]
        kwargs = {}
        if sdxl:
            pooled = config["projection_class_embeddings_input_dim"] - 6 * config["addition_time_embed_dim"]
            kwargs["added_cond_kwargs"] = {
                "text_embeds": torch.randn(batch, pooled),
                "time_ids": torch.tensor([[side, side, 0, 0, side, side]] * batch,
                                         dtype=torch.float32)}
        return unet(latents.expand(batch, -1, -1, -1), timestep, context, **kwargs).sample

    def set_adapters(enabled):
        for adapter in adapters:
            adapter.enabled = enabled

    def iteration():
        k = int(torch.randint(1, DENOISING_STEPS, ()).item())
        side = sides[int(torch.randint(0, len(sides), ()).item())]
        latents = torch.randn(1, config["in_channels"], side // factor, side // factor)
        with torch.no_grad():
            set_adapters(True)
            for t in scheduler.timesteps[:k]:
                unconditional, conditional = predict(latents, t, torch.cat([uncond, target]), side).chunk(2)
                noise = unconditional + GUIDANCE * (conditional - unconditional)
                latents = scheduler.step(noise, t, latents).prev_sample
            t = scheduler.timesteps[k]
            set_adapters(False)
            frozen_positive = predict(latents, t, torch.cat([uncond, positive]), side)[1:]
            frozen_neutral = predict(latents, t, torch.cat([uncond, neutral]), side)[1:]
            frozen_anchors = predict(latents, t, interleaved, side)
        set_adapters(True)
        erased = predict(latents, t, torch.cat([uncond, target]), side)[1:]
        anchored = predict(latents, t, interleaved, side)
        loss = torch.nn.functional.mse_loss(erased, frozen_neutral - (frozen_positive - frozen_neutral)) + \
            torch.nn.functional.mse_loss(anchored, frozen_anchors)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return 2 * k + 22

    iteration()  # warm-up
    seconds, samples = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        samples.append(iteration())
        seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "benchmark": "reference spm iteration (pytorch)", "torch": torch.__version__, "model": folder,
        "unetParameters": sum(p.numel() for p in unet.parameters()),
        "sides": sides, "latentFactor": factor, "threads": threads, "iterations": iterations,
        "meanSeconds": sum(seconds) / len(seconds),
        "secondsPerIteration": [round(s, 3) for s in seconds],
        "meanUNetSamples": sum(samples) / len(samples),
        "peakRSSGiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}, indent=2))


if __name__ == "__main__":
    main()
