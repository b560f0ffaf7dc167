#!/usr/bin/env python3
"""Development tool: PyTorch's time for the same UNet forward `spm-bench unet` measures (random weights from
the bundled real config), so BENCHMARKS.md can give ratios measured in one window.

Usage: python3 tools/bench_torch_unet.py [sd15|sd21|sdxl] [latent] [batch] [threads] [repeats] [fp32|bf16]
                                         [forward|backward]
       → JSON on stdout. bf16: weights and inputs in bfloat16, as PyTorch runs `unet.to(torch.bfloat16)`.
       backward: forward and the gradient of Σ seed ⊙ output with respect to the sample and the text context,
       weights frozen — the gradients membrane training needs past its adapters (`spm-bench unet --backward`).
"""
import json
import resource
import sys
import time

import torch
from diffusers import UNet2DConditionModel


def main():
    model, latent, batch, threads, repeats, precision, passes = \
        (sys.argv[1:] + ["sd15", "64", "1", "2", "2", "fp32", "forward"][len(sys.argv) - 1:])[:7]
    latent, batch, threads, repeats = int(latent), int(batch), int(threads), int(repeats)
    torch.set_num_threads(threads)
    config = json.load(open(f"Sources/Diffusion/Resources/ModelConfigs/{model}/unet/config.json"))
    unet = UNet2DConditionModel.from_config(config).eval()
    unet.set_attn_processor(__import__("diffusers").models.attention_processor.AttnProcessor2_0())  # SDPA
    sample = torch.randn(batch, 4, latent, latent)
    context = torch.randn(batch, 77, config["cross_attention_dim"])
    kwargs = {}
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    unet = unet.to(dtype)
    sample, context = sample.to(dtype), context.to(dtype)
    if config.get("addition_embed_type") == "text_time":
        kwargs["added_cond_kwargs"] = {"text_embeds": torch.randn(batch, 1280).to(dtype),
                                       "time_ids": torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024]] * batch).to(dtype)}
    times = []
    if passes == "backward":
        unet.requires_grad_(False)
        sample.requires_grad_(True)
        context.requires_grad_(True)
        seed = torch.randn(batch, 4, latent, latent).to(dtype)
        for _ in range(repeats + 1):
            start = time.perf_counter()
            (unet(sample, torch.tensor([500.0] * batch), context, **kwargs).sample * seed).sum().backward()
            times.append(time.perf_counter() - start)
    else:
        with torch.no_grad():
            for _ in range(repeats + 1):
                start = time.perf_counter()
                unet(sample, torch.tensor([500.0] * batch), context, **kwargs)
                times.append(time.perf_counter() - start)
    times = sorted(times[1:])
    print(json.dumps({"benchmark": f"pytorch unet {passes} {precision}", "torch": torch.__version__, "model": model,
                      "latent": [batch, 4, latent, latent], "threads": threads,
                      "medianSeconds": times[len(times) // 2],
                      "peakRSSGiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}, indent=2))


if __name__ == "__main__":
    main()
