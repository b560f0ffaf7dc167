#!/usr/bin/env python3
"""Development tool: a tiny SD1-layout diffusers folder whose weights come as precision variants and shards, and
diffusers' generations with it.

Writes Tests/DiffusionTests/Golden/pipelines/sd1-variants/:
  unet/          diffusion_pytorch_model.fp16.safetensors and .bf16.safetensors only (no full-precision file)
  vae/           diffusion_pytorch_model.safetensors (fp32) and an fp16 variant in shards
                 (diffusion_pytorch_model.safetensors.index.fp16.json + diffusion_pytorch_model.fp16-0000k-of-0000n…)
  text_encoder/  fp32 in shards (model.safetensors.index.json + model-0000k-of-0000n.safetensors)
  images.safetensors  `latents` and one 10-step DDIM generation per variant (`fp16`, `bf16`) from them, as
                 diffusers' `from_pretrained(folder, variant=…, torch_dtype=torch.float32)` loads the folder:
                 each component's variant where it has one, its full-precision weights otherwise.
Run from the repository root.
"""
import os
import shutil
import sys

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from golden_pipelines import SD_SCHEDULE, perturbed, text_encoder, vae  # noqa: E402
from make_tiny_models import write_tiny_tokenizer  # noqa: E402
from diffusers import DDIMScheduler  # noqa: E402

FOLDER = "Tests/DiffusionTests/Golden/pipelines/sd1-variants"


def main():
    torch.manual_seed(3)
    shutil.rmtree(FOLDER, ignore_errors=True)
    tokenizer, vocab = write_tiny_tokenizer(f"{FOLDER}/tokenizer")
    unet = perturbed(UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=[8, 16],
        down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4))
    pipe = StableDiffusionPipeline(vae=vae(), text_encoder=text_encoder(16, vocab), tokenizer=tokenizer, unet=unet,
                                   scheduler=DDIMScheduler(**SD_SCHEDULE), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    # model_index.json, tokenizer and scheduler as save_pretrained writes them; the weights are written below.
    pipe.save_pretrained(FOLDER, safe_serialization=True)
    for component in ("unet", "vae", "text_encoder"):
        shutil.rmtree(f"{FOLDER}/{component}")
    pipe.unet.to(torch.float16).save_pretrained(f"{FOLDER}/unet", variant="fp16")
    pipe.unet.to(torch.bfloat16).save_pretrained(f"{FOLDER}/unet", variant="bf16")
    pipe.unet.to(torch.float32)
    pipe.vae.save_pretrained(f"{FOLDER}/vae")
    pipe.vae.to(torch.float16).save_pretrained(f"{FOLDER}/vae", variant="fp16", max_shard_size="60KB")
    pipe.text_encoder.save_pretrained(f"{FOLDER}/text_encoder", max_shard_size="40KB")
    for component in ("unet", "vae", "text_encoder"):
        print(component, sorted(os.listdir(f"{FOLDER}/{component}")))

    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(7))
    images = {"latents": latents}
    for variant in ("fp16", "bf16"):
        loaded = StableDiffusionPipeline.from_pretrained(FOLDER, variant=variant, torch_dtype=torch.float32)
        image = loaded("a cat painting", negative_prompt="a dog", num_inference_steps=10, guidance_scale=5.0,
                       height=32, width=32, latents=latents.clone(), output_type="np").images
        images[variant] = torch.from_numpy(image).contiguous()
    print("fp16 vs bf16 images differ by", (images["fp16"] - images["bf16"]).abs().max().item())
    save_file(images, f"{FOLDER}/images.safetensors")


if __name__ == "__main__":
    main()
