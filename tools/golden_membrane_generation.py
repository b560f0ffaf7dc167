#!/usr/bin/env python3
"""Development tool: a random kohya-format rank-2 LoRA (membrane) for the tiny SD1 pipeline of
tools/golden_pipelines.py, and diffusers' generations with it (load_lora_weights) at strength 1 and 0.5.

Writes Tests/DiffusionTests/Golden/pipelines/sd1-membrane.safetensors (the LoRA: every transformer linear and 1×1
projection, diffusers names, alpha 1) and sd1-membrane-images.safetensors (float images [1, H, W, 3]).
Run from the repository root after tools/golden_pipelines.py.
"""
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
from safetensors.torch import save_file

FOLDER = "Tests/DiffusionTests/Golden/pipelines/sd1"
LORA = "Tests/DiffusionTests/Golden/pipelines/sd1-membrane.safetensors"
IMAGES = "Tests/DiffusionTests/Golden/pipelines/sd1-membrane-images.safetensors"
TARGETS = ("proj_in", "proj_out", "to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")


def main():
    pipe = StableDiffusionPipeline.from_pretrained(FOLDER)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    generator = torch.Generator().manual_seed(3)
    rank, tensors = 2, {}
    for name, module in pipe.unet.named_modules():
        if "attentions" not in name or not name.endswith(TARGETS) or not hasattr(module, "weight"):
            continue
        weight = module.weight
        key = "lora_unet_" + name.replace(".", "_")
        shape_in = (rank, weight.shape[1]) + tuple(weight.shape[2:])
        shape_up = (weight.shape[0], rank) + (1, 1) * (weight.dim() == 4)
        tensors[f"{key}.lora_down.weight"] = torch.randn(shape_in, generator=generator) * 0.3
        tensors[f"{key}.lora_up.weight"] = torch.randn(shape_up, generator=generator) * 0.3
        tensors[f"{key}.alpha"] = torch.tensor(1.0)
    save_file(tensors, LORA, metadata={"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1",
                                       "ss_network_dim": str(rank), "ss_network_alpha": "1.0"})
    pipe.load_lora_weights(LORA, adapter_name="membrane")
    images = {}
    for strength in (1.0, 0.5):
        pipe.set_adapters(["membrane"], adapter_weights=[strength])
        image = pipe("a cat painting", negative_prompt="a dog", num_inference_steps=10, guidance_scale=5.0,
                     height=32, width=32, generator=torch.Generator().manual_seed(42), output_type="np").images
        images[f"strength-{strength}"] = torch.from_numpy(image).contiguous()
    save_file(images, IMAGES)
    print(len(tensors) // 3, "layers")


if __name__ == "__main__":
    main()
