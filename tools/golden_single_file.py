#!/usr/bin/env python3
"""Development tool: the tiny SD1 and SDXL pipelines of tools/golden_pipelines.py as single-file checkpoints
(what CivitAI serves): SD1 in LDM naming, SDXL in SGM naming (`conditioner.embedders.0.transformer.` for the
CLIP-L encoder in Hugging Face naming, `conditioner.embedders.1.model.` for the OpenCLIP bigG-style encoder with
fused q/k/v and `text_projection` stored as x @ P), each checked by diffusers' own single-file loader.

The diffusers → LDM/SGM renaming here is written independently of the engine's Swift key map. diffusers'
`from_single_file(config=<the folder>)` must load each file back to the folder's exact tensors, which checks
the file; the Swift tests then load it with our key map and compare against the folder's images.
SD2 goes in LDM naming with its OpenCLIP encoder under `cond_stage_model.model.`, plus the last layer (23) and
text projection real SD2 files carry and diffusers drops.
Writes Tests/DiffusionTests/Golden/pipelines/<sd1|sd2|sdxl>-single-file.safetensors.
Usage: python3 tools/golden_single_file.py [sd1 sd2 sdxl]  (default: all). Run from the repository root.
"""
import sys

import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
from safetensors.torch import load_file, save_file

PIPELINES = "Tests/DiffusionTests/Golden/pipelines"
RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
          "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def unet_name(key, up_attention):
    p = key.split(".")
    if p[0] == "time_embedding":
        return f"time_embed.{ {'linear_1': 0, 'linear_2': 2}[p[1]] }." + ".".join(p[2:])
    if p[0] == "add_embedding":  # SDXL's text_time embedding
        return f"label_emb.0.{ {'linear_1': 0, 'linear_2': 2}[p[1]] }." + ".".join(p[2:])
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


def open_clip_tensors(text):
    """A transformers CLIPTextModel(WithProjection) state dict in OpenCLIP's own naming."""
    out = {}
    layers = sorted({int(k.split(".")[3]) for k in text if k.startswith("text_model.encoder.layers.")})
    for i in layers:
        old, new = f"text_model.encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for leaf in ("weight", "bias"):
            out[new + "attn.in_proj_" + leaf] = torch.cat([text[old + f"self_attn.{x}_proj.{leaf}"] for x in "qkv"])
            for a, b in (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
                         ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
                out[f"{new}{b}.{leaf}"] = text[f"{old}{a}.{leaf}"]
    out["token_embedding.weight"] = text["text_model.embeddings.token_embedding.weight"]
    out["positional_embedding"] = text["text_model.embeddings.position_embedding.weight"]
    for leaf in ("weight", "bias"):
        out["ln_final." + leaf] = text[f"text_model.final_layer_norm.{leaf}"]
    if "text_projection.weight" in text:
        out["text_projection"] = text["text_projection.weight"].T
    out["logit_scale"] = torch.tensor(4.6052)  # CLIP's log(100), present in real files, never used
    return out


def build(name):
    folder, out = f"{PIPELINES}/{name}", f"{PIPELINES}/{name}-single-file.safetensors"
    pipeline_class = StableDiffusionXLPipeline if name == "sdxl" else StableDiffusionPipeline
    pipe = pipeline_class.from_pretrained(folder)
    unet = load_file(f"{folder}/unet/diffusion_pytorch_model.safetensors")
    vae = load_file(f"{folder}/vae/diffusion_pytorch_model.safetensors")
    text = load_file(f"{folder}/text_encoder/model.safetensors")
    text = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in text.items()}
    up_attention = [t.startswith("CrossAttn") for t in pipe.unet.config.up_block_types]
    levels = len(pipe.vae.config.block_out_channels)
    single = {"model.diffusion_model." + unet_name(k, up_attention): v for k, v in unet.items()}
    for key, tensor in vae.items():
        vae_key, value = vae_name(key, tensor, levels)
        single["first_stage_model." + vae_key] = value.contiguous()
    if name == "sd2":
        # SD2's OpenCLIP ViT-H in LDM naming. The diffusers folder holds it without its last layer (the pipeline
        # conditions on OpenCLIP's penultimate layer), so a real file's layer 23 and projection are extra tensors
        # that every loader drops: stand-ins for them are added here.
        generator = torch.Generator().manual_seed(23)
        openclip = open_clip_tensors(text)
        for key in [k for k in openclip if k.startswith("transformer.resblocks.0.")]:
            extra = key.replace("resblocks.0.", "resblocks.23.")
            openclip[extra] = torch.randn(openclip[key].shape, generator=generator)
        width = text["text_model.final_layer_norm.weight"].shape[0]
        openclip["text_projection"] = torch.randn(width, width, generator=generator)
        single.update({"cond_stage_model.model." + k: v.contiguous() for k, v in openclip.items()})
    else:
        first_encoder = "conditioner.embedders.0.transformer." if name == "sdxl" else "cond_stage_model.transformer."
        single.update({first_encoder + k: v for k, v in text.items()})
    if name == "sdxl":
        text2 = load_file(f"{folder}/text_encoder_2/model.safetensors")
        text2 = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v for k, v in text2.items()}
        single.update({"conditioner.embedders.1.model." + k: v.contiguous() for k, v in open_clip_tensors(text2).items()})
    save_file(single, out)

    loaded = pipeline_class.from_single_file(out, config=folder, local_files_only=True,
                                             **({} if name == "sdxl" else {"safety_checker": None}))
    components = ("unet", "vae", "text_encoder") + (("text_encoder_2",) if name == "sdxl" else ())
    for component in components:
        ours, theirs = getattr(pipe, component).state_dict(), getattr(loaded, component).state_dict()
        mismatched = [k for k in ours if k not in theirs or not torch.equal(ours[k], theirs[k])]
        assert not mismatched, f"{component}: diffusers read the single file differently at {mismatched[:3]}"
    print(name, ": diffusers reads", len(single), "tensors back identically")


def main():
    for name in sys.argv[1:] or ("sd1", "sd2", "sdxl"):
        build(name)


if __name__ == "__main__":
    main()
