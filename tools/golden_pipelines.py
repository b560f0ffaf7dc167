#!/usr/bin/env python3
"""Development tool: tiny random SD1-, SD2.1- and SDXL-layout pipelines and diffusers' generations with them.

Writes Tests/DiffusionTests/Golden/pipelines/<sd1|sd2|sdxl>/ (a diffusers folder) plus images.safetensors there,
each image diffusers' float image [1, H, W, 3] in [0, 1]:
  sd1, sdxl  one 10-step generation per scheduler (DDIM, Euler, Euler ancestral, DPM++ 2M) from a seed, and one
             from given latents;
  sd2        SD2.1's layout as it ships (OpenCLIP-style GELU text encoder stored without its last layer, so the
             pipeline's last hidden state is OpenCLIP's penultimate; "!" padding; linear projections, per-level
             heads, upcast attention; DDIM with v-prediction) and one 10-step generation per scheduler from
             given latents (`latents`; ancestral noise from seed 42).
Usage: python3 tools/golden_pipelines.py [sd1 sd2 sdxl]  (default: all). Run from the repository root.
"""
import os
import sys

import torch
from diffusers import (AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline,
                       UNet2DConditionModel)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

sys.path.insert(0, os.path.dirname(__file__))
from golden_unet import CONFIGS as UNET_CONFIGS  # noqa: E402
from make_tiny_models import write_tiny_tokenizer  # noqa: E402

OUT = "Tests/DiffusionTests/Golden/pipelines"
SCHEDULERS = {"ddim": DDIMScheduler, "euler": EulerDiscreteScheduler, "euler-a": EulerAncestralDiscreteScheduler,
              "dpmpp-2m": DPMSolverMultistepScheduler}
SD_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1,
               "clip_sample": False, "set_alpha_to_one": False, "num_train_timesteps": 1000}


def perturbed(module):
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return module.eval()


def text_encoder(hidden, vocab, projection=None, activation=None):
    config = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_attention_heads=2,
                            num_hidden_layers=2, max_position_embeddings=77, projection_dim=projection or hidden,
                            hidden_act=activation or ("gelu" if projection else "quick_gelu"), eos_token_id=2,
                            bos_token_id=0, pad_token_id=1)
    return perturbed(CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config))


def vae():
    return perturbed(AutoencoderKL(block_out_channels=[8, 16], down_block_types=["DownEncoderBlock2D"] * 2,
                                   up_block_types=["UpDecoderBlock2D"] * 2, layers_per_block=1, norm_num_groups=4,
                                   latent_channels=4, sample_size=32))


def build(name):
    torch.manual_seed(0)
    folder = f"{OUT}/{name}"
    tokenizer, vocab = write_tiny_tokenizer(f"{folder}/tokenizer")
    scheduler = DDIMScheduler(**SD_SCHEDULE, prediction_type="v_prediction" if name == "sd2" else "epsilon")
    if name == "sd2":
        tokenizer.pad_token = "!"  # SD2.1's tokenizer pads with "!", SD1's with the end token
        unet = perturbed(UNet2DConditionModel(**UNET_CONFIGS["sd2"]))
        pipe = StableDiffusionPipeline(vae=vae(), text_encoder=text_encoder(24, vocab, activation="gelu"),
                                       tokenizer=tokenizer, unet=unet, scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    elif name == "sd1":
        unet = perturbed(UNet2DConditionModel(**UNET_CONFIGS["sd1"]))
        pipe = StableDiffusionPipeline(vae=vae(), text_encoder=text_encoder(16, vocab), tokenizer=tokenizer,
                                       unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    else:
        tokenizer2, _ = write_tiny_tokenizer(f"{folder}/tokenizer_2")
        tokenizer2.pad_token = "!"
        unet = perturbed(UNet2DConditionModel(**{**UNET_CONFIGS["sdxl"], "cross_attention_dim": 24,
                                                 "projection_class_embeddings_input_dim": 32 + 6 * 8}))
        pipe = StableDiffusionXLPipeline(vae=vae(), text_encoder=text_encoder(8, vocab), tokenizer=tokenizer,
                                         text_encoder_2=text_encoder(16, vocab, projection=32), tokenizer_2=tokenizer2,
                                         unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    # Generate with the pipeline as loaded from the folder, as a user would: an in-memory scheduler config
    # passes only explicitly set keys on to `from_config`, a saved one passes them all (timestep_spacing …).
    pipe = type(pipe).from_pretrained(folder)
    if name == "sd2":
        save_file(given_latent_generations(pipe), f"{folder}/images.safetensors")
        return
    images = {}
    for key, scheduler_class in SCHEDULERS.items():
        pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
        negative = "a dog" if (name == "sd1" or key == "euler") else None
        image = pipe("a cat painting", negative_prompt=negative, num_inference_steps=10, guidance_scale=5.0,
                     height=32, width=32, generator=torch.Generator().manual_seed(42), output_type="np").images
        images[key] = torch.from_numpy(image).contiguous()
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(7))
    image = pipe("van gogh", num_inference_steps=10, guidance_scale=5.0, height=32, width=32, latents=latents.clone(),
                 output_type="np").images
    images["ddim-latents"] = torch.from_numpy(image).contiguous()
    images["latents"] = latents
    save_file(images, f"{folder}/images.safetensors")


def given_latent_generations(pipe):
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(7))
    images = {"latents": latents}
    for key, scheduler_class in SCHEDULERS.items():
        pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
        negative = "a dog" if key in ("ddim", "dpmpp-2m") else None
        image = pipe("a cat painting", negative_prompt=negative, num_inference_steps=10, guidance_scale=5.0,
                     height=32, width=32, latents=latents.clone(), generator=torch.Generator().manual_seed(42),
                     output_type="np").images
        images[key] = torch.from_numpy(image).contiguous()
    return images


def main():
    for name in sys.argv[1:] or ("sd1", "sd2", "sdxl"):
        build(name)


if __name__ == "__main__":
    main()
