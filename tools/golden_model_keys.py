#!/usr/bin/env python3
"""Development tool: the real SD1.5 / SD2.1 / SDXL configs, and the key sets our key mapping is tested against.

Writes
  Sources/Diffusion/Resources/ModelConfigs/<sd15|sd21|sdxl>/…   diffusers config JSONs (bundled, so single-file
                                                                 checkpoints load with no hub)
  Tests/DiffusionTests/Golden/model-keys/<sd15|sdxl>.json       every key and shape of a real single-file
      checkpoint (from sd-mecha's MIT-licensed model configs) and of the diffusers components built from the
      configs above (on the meta device: no weights, no memory).

Needs: torch, diffusers, transformers, sd-mecha's YAML files (pip download --no-deps sd-mecha; unzip; pass the
model_configs folder). Run from the repository root:
  python3 tools/golden_model_keys.py /path/to/sd_mecha/extensions/builtin/model_configs
"""
import json
import os
import sys

import torch
import yaml
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

SCALED_LINEAR = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "num_train_timesteps": 1000, "steps_offset": 1, "clip_sample": False, "set_alpha_to_one": False,
                 "trained_betas": None}

SD_VAE = {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
          "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
          "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
          "norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215}

CLIP_L = {"architectures": ["CLIPTextModel"], "hidden_size": 768, "intermediate_size": 3072,
          "num_attention_heads": 12, "num_hidden_layers": 12, "max_position_embeddings": 77, "vocab_size": 49408,
          "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": 768, "model_type": "clip_text_model",
          "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}

MODELS = {
    "sd15": {
        "model_index.json": {"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "PNDMScheduler"],
                             "text_encoder": ["transformers", "CLIPTextModel"],
                             "tokenizer": ["transformers", "CLIPTokenizer"],
                             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]},
        "unet": {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8,
                 "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False,
                 "cross_attention_dim": 768,
                 "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                 "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                 "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
                 "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-5, "norm_num_groups": 32,
                 "out_channels": 4, "sample_size": 64},
        "vae": SD_VAE,
        "text_encoder": CLIP_L,
        "scheduler": {"_class_name": "PNDMScheduler", "skip_prk_steps": True, "prediction_type": "epsilon",
                      **SCALED_LINEAR},
    },
    "sd21": {
        "model_index.json": {"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "DDIMScheduler"],
                             "text_encoder": ["transformers", "CLIPTextModel"],
                             "tokenizer": ["transformers", "CLIPTokenizer"],
                             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]},
        "unet": {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20],
                 "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False,
                 "cross_attention_dim": 1024,
                 "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                 "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                 "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
                 "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-5, "norm_num_groups": 32,
                 "out_channels": 4, "sample_size": 96, "use_linear_projection": True, "upcast_attention": True},
        "vae": {**SD_VAE, "sample_size": 768},
        # SD 2.x uses OpenCLIP ViT-H's penultimate layer; diffusers stores 23 of its 24 layers.
        "text_encoder": {**CLIP_L, "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                         "num_hidden_layers": 23, "hidden_act": "gelu", "projection_dim": 512},
        "scheduler": {"_class_name": "DDIMScheduler", "prediction_type": "v_prediction", **SCALED_LINEAR},
    },
    "sdxl": {
        "model_index.json": {"_class_name": "StableDiffusionXLPipeline",
                             "scheduler": ["diffusers", "EulerDiscreteScheduler"],
                             "text_encoder": ["transformers", "CLIPTextModel"],
                             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                             "tokenizer": ["transformers", "CLIPTokenizer"],
                             "tokenizer_2": ["transformers", "CLIPTokenizer"],
                             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]},
        "unet": {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
                 "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
                 "block_out_channels": [320, 640, 1280], "center_input_sample": False,
                 "cross_attention_dim": 2048,
                 "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                 "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                 "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
                 "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-5, "norm_num_groups": 32,
                 "out_channels": 4, "projection_class_embeddings_input_dim": 2816, "sample_size": 128,
                 "transformer_layers_per_block": [1, 2, 10], "use_linear_projection": True},
        "vae": {**SD_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
        "text_encoder": CLIP_L,
        "text_encoder_2": {**CLIP_L, "architectures": ["CLIPTextModelWithProjection"], "hidden_size": 1280,
                           "intermediate_size": 5120, "num_attention_heads": 20, "num_hidden_layers": 32,
                           "hidden_act": "gelu", "projection_dim": 1280},
        "scheduler": {"_class_name": "EulerDiscreteScheduler", "prediction_type": "epsilon",
                      "interpolation_type": "linear", "timestep_spacing": "leading", "use_karras_sigmas": False,
                      "skip_prk_steps": True, "sample_max_value": 1.0, **SCALED_LINEAR},
    },
}


def build(component, config):
    with torch.device("meta"):
        if component == "unet":
            return UNet2DConditionModel.from_config(config)
        if component == "vae":
            return AutoencoderKL.from_config(config)
        text_config = CLIPTextConfig(**{k: v for k, v in config.items() if k != "architectures"})
        if config["architectures"] == ["CLIPTextModelWithProjection"]:
            return CLIPTextModelWithProjection(text_config)
        return CLIPTextModel(text_config)


def key_shapes(module):
    shapes = {k: list(v.shape) for k, v in module.state_dict().items()}
    if isinstance(module, CLIPTextModel):
        # transformers 5 flattened CLIPTextModel's module tree; the files on the hub (and every checkpoint we load)
        # still name its tensors `text_model.…`, as CLIPTextModelWithProjection does.
        shapes = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in shapes.items()}
    return shapes


def mecha_keys(path):
    with open(path) as f:
        spec = yaml.safe_load(f)
    keys, optional = {}, []
    for component, entries in spec["components"].items():
        if component in ("ema", "scheduler"):  # EMA copies and the LDM schedule buffers are never loaded
            continue
        for key, info in entries.items():
            keys[key] = list(info["shape"])
            if info.get("optional"):
                optional.append(key)
    return keys, sorted(optional)


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    mecha_dir = sys.argv[1]
    for name, model in MODELS.items():
        components = {}
        for component, config in model.items():
            out = f"Sources/Diffusion/Resources/ModelConfigs/{name}"
            if component == "model_index.json":
                write_json(f"{out}/model_index.json", config)
                continue
            file = "scheduler_config.json" if component == "scheduler" else "config.json"
            write_json(f"{out}/{component}/{file}", config)
            if component != "scheduler":
                components[component] = key_shapes(build(component, config))
        mecha = {"sd15": ("sd1-ldm.yaml", "sd1-kohya.yaml"), "sdxl": ("sdxl-sgm.yaml", "sdxl-kohya.yaml")}.get(name)
        if mecha:
            ldm, optional = mecha_keys(os.path.join(mecha_dir, mecha[0]))
            # kohya's own full-model naming: diffusers paths for SD1, SGM paths for SDXL — the paths its LoRA
            # names are built from (`lora_unet_` + path with '.' → '_').
            kohya, _ = mecha_keys(os.path.join(mecha_dir, mecha[1]))
            kohya_unet = {k[len("unet."):]: v for k, v in kohya.items() if k.startswith("unet.")}
            write_json(f"Tests/DiffusionTests/Golden/model-keys/{name}.json",
                       {"single_file": ldm, "single_file_optional": optional, "diffusers": components,
                        "kohya_unet": kohya_unet})
        print(name, {c: len(k) for c, k in components.items()})


if __name__ == "__main__":
    main()
