#!/usr/bin/env python3
"""Development tool: a tiny random AutoencoderKL (the SD VAE's layout) and diffusers' encode/decode outputs.

Writes Tests/DiffusionTests/Golden/vae/{config.json, diffusion_pytorch_model.safetensors, io.safetensors}:
image [2, 3, 32, 32] in [-1, 1], its latent mean and log-variance, latents [2, 4, 8, 8] and their decode.
Run from the repository root.
"""
import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

OUT = "Tests/DiffusionTests/Golden/vae"


def main():
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[8, 16, 16], down_block_types=["DownEncoderBlock2D"] * 3,
                        up_block_types=["UpDecoderBlock2D"] * 3, layers_per_block=1, norm_num_groups=4,
                        latent_channels=4, sample_size=32).eval()
    with torch.no_grad():
        for parameter in vae.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    vae.save_pretrained(OUT, safe_serialization=True)
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1
    latents = torch.randn(2, 4, 8, 8, generator=generator)
    with torch.no_grad():
        posterior = vae.encode(image).latent_dist
        decoded = vae.decode(latents).sample
    save_file({"image": image, "mean": posterior.mean.contiguous(), "logvar": posterior.logvar.contiguous(),
               "latents": latents, "decoded": decoded.contiguous()}, f"{OUT}/io.safetensors")


if __name__ == "__main__":
    main()
