#!/usr/bin/env python3
"""Development tool: tiny random UNets with the block structure of SD1.5, SD2.1 and SDXL, and diffusers'
noise predictions for them (parity goldens).

Writes Tests/DiffusionTests/Golden/unet/<sd1|sd2|sdxl>/{config.json, diffusion_pytorch_model.safetensors,
io.safetensors}; io holds sample [2, 4, 16, 16], timesteps [2], context [2, 77, cross], for SDXL pooled [2, 32]
and time_ids [2, 6], and the prediction `out`. Run from the repository root.
"""
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

OUT = "Tests/DiffusionTests/Golden/unet"

COMMON = {"in_channels": 4, "out_channels": 4, "layers_per_block": 2, "norm_num_groups": 4, "sample_size": 16}
CONFIGS = {
    # SD1.5's layout: three cross-attention levels then a plain one, 1×1 conv projections, heads from
    # attention_head_dim.
    "sd1": {**COMMON, "block_out_channels": [8, 16, 16, 24], "cross_attention_dim": 16, "attention_head_dim": 4,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3},
    # SD2.1's: per-level heads, linear projections, upcast attention.
    "sd2": {**COMMON, "block_out_channels": [8, 16, 16, 24], "cross_attention_dim": 24,
            "attention_head_dim": [2, 4, 4, 8], "use_linear_projection": True, "upcast_attention": True,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3},
    # SDXL's: a plain first level, transformer depth per level, text_time added conditioning.
    "sdxl": {**COMMON, "block_out_channels": [8, 16, 24], "cross_attention_dim": 24,
             "attention_head_dim": [2, 4, 6], "transformer_layers_per_block": [1, 2, 2],
             "use_linear_projection": True, "addition_embed_type": "text_time", "addition_time_embed_dim": 8,
             "projection_class_embeddings_input_dim": 32 + 6 * 8,
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]},
}


def main():
    for name, config in CONFIGS.items():
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**config).eval()
        with torch.no_grad():  # zero-initialised layers (conv_out …) would hide errors: perturb everything
            for parameter in unet.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
        folder = f"{OUT}/{name}"
        unet.save_pretrained(folder, safe_serialization=True)
        generator = torch.Generator().manual_seed(1)
        io = {"sample": torch.randn(2, 4, 16, 16, generator=generator),
              "timesteps": torch.tensor([981.0, 37.0]),
              "context": torch.randn(2, 77, config["cross_attention_dim"], generator=generator)}
        kwargs = {}
        if "addition_embed_type" in config:
            io["pooled"] = torch.randn(2, 32, generator=generator)
            io["time_ids"] = torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024], [768, 1344, 16, 32, 896, 1152]])
            kwargs["added_cond_kwargs"] = {"text_embeds": io["pooled"], "time_ids": io["time_ids"]}
        with torch.no_grad():
            io["out"] = unet(io["sample"], io["timesteps"], io["context"], **kwargs).sample
        save_file({k: v.contiguous() for k, v in io.items()}, f"{folder}/io.safetensors")
        print(name, sum(p.numel() for p in unet.parameters()))


if __name__ == "__main__":
    main()
