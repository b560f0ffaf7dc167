#!/usr/bin/env python3
"""Development tool: the tiny SD1 pipeline of tools/golden_pipelines.py as a single-file LDM checkpoint (what
CivitAI serves), checked by diffusers' own single-file loader.

The diffusers → LDM renaming here is written independently of the engine's Swift key map. diffusers'
`from_single_file(config=<the folder>)` must load the file back to the same images as the folder, which
checks this file; the Swift tests then load it with our key map and compare against the same images.
Writes Tests/DiffusionTests/Golden/pipelines/sd1-single-file.safetensors. Run from the repository root.
"""
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from safetensors.torch import load_file, save_file

FOLDER = "Tests/DiffusionTests/Golden/pipelines/sd1"
OUT = "Tests/DiffusionTests/Golden/pipelines/sd1-single-file.safetensors"
RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
          "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def unet_name(key, up_attention):
    p = key.split(".")
    if p[0] == "time_embedding":
        return f"time_embed.{ {'linear_1': 0, 'linear_2': 2}[p[1]] }." + ".".join(p[2:])
    if p[0] == "conv_in":
        return "input_blocks.0.0." + ".".join(p[1:])
    if p[0] in ("conv_norm_out", "conv_out"):
        return f"out.{0 if p[0] == 'conv_norm_out' else 2}." + ".".join(p[1:])
    if p[0] == "mid_block":
        j = int(p[2])
        if p[1] == "attentions":
            return "middle_block.1." + ".".join(p[3:])
        return f"middle_block.{2 * j}.{RESNET[p[3]]}." + ".".join(p[4:])
    i, kind = int(p[1]), p[2]
    if p[0] == "down_blocks":
        if kind == "downsamplers":
            return f"input_blocks.{3 + 3 * i}.0.op." + ".".join(p[5:])
        j = int(p[3])
        if kind == "attentions":
            return f"input_blocks.{1 + 3 * i + j}.1." + ".".join(p[4:])
        return f"input_blocks.{1 + 3 * i + j}.0.{RESNET[p[4]]}." + ".".join(p[5:])
    if kind == "upsamplers":
        return f"output_blocks.{3 * i + 2}.{2 if up_attention[i] else 1}.conv." + ".".join(p[5:])
    j = int(p[3])
    if kind == "attentions":
        return f"output_blocks.{3 * i + j}.1." + ".".join(p[4:])
    return f"output_blocks.{3 * i + j}.0.{RESNET[p[4]]}." + ".".join(p[5:])


def vae_name(key, tensor, levels):
    p = key.split(".")
    side, rest = p[0], p[1:]
    if side in ("quant_conv", "post_quant_conv"):
        return key, tensor
    if rest[0] == "mid_block":
        if rest[1] == "attentions":
            name = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}[rest[3]]
            leaf = rest[-1]
            if leaf == "weight" and tensor.dim() == 2:
                tensor = tensor[:, :, None, None]
            return f"{side}.mid.attn_1.{name}.{leaf}", tensor
        return f"{side}.mid.block_{int(rest[2]) + 1}." + ".".join(rest[3:]).replace("conv_shortcut", "nin_shortcut"), tensor
    if rest[0] in ("down_blocks", "up_blocks"):
        i = int(rest[1])
        level = i if side == "encoder" else levels - 1 - i
        stage = "down" if side == "encoder" else "up"
        if rest[2] in ("downsamplers", "upsamplers"):
            return f"{side}.{stage}.{level}.{rest[2][:-2]}.conv." + ".".join(rest[5:]), tensor  # downsamplers → downsample
        return (f"{side}.{stage}.{level}.block.{rest[3]}." + ".".join(rest[4:]).replace("conv_shortcut", "nin_shortcut"),
                tensor)
    if rest[0] == "conv_norm_out":
        return f"{side}.norm_out." + ".".join(rest[1:]), tensor
    return key, tensor


def main():
    pipe = StableDiffusionPipeline.from_pretrained(FOLDER)
    unet = load_file(f"{FOLDER}/unet/diffusion_pytorch_model.safetensors")
    vae = load_file(f"{FOLDER}/vae/diffusion_pytorch_model.safetensors")
    text = load_file(f"{FOLDER}/text_encoder/model.safetensors")
    up_attention = [t.startswith("CrossAttn") for t in pipe.unet.config.up_block_types]
    levels = len(pipe.vae.config.block_out_channels)
    single = {"model.diffusion_model." + unet_name(k, up_attention): v for k, v in unet.items()}
    for key, tensor in vae.items():
        name, value = vae_name(key, tensor, levels)
        single["first_stage_model." + name] = value.contiguous()
    for key, tensor in text.items():
        name = key if key.startswith("text_model.") else "text_model." + key
        single["cond_stage_model.transformer." + name] = tensor
    save_file(single, OUT)

    loaded = StableDiffusionPipeline.from_single_file(OUT, config=FOLDER, local_files_only=True, safety_checker=None)
    for name in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        mismatched = [k for k in ours if k not in theirs or not torch.equal(ours[k], theirs[k])]
        assert not mismatched, f"{name}: diffusers read the single file differently at {mismatched[:3]}"
    print("diffusers reads", len(single), "tensors back identically")


if __name__ == "__main__":
    main()
