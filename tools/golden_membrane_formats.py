#!/usr/bin/env python3
"""Development tool: files in the original SPM research code's format (SPMNetwork.save_weights: a `lora_unet_<path>`
down/up/alpha triple for every Linear and Conv2d inside each Transformer2DModel; metadata exactly `prompts`, `rank`,
`alpha`) for the tiny SD1 and SDXL pipelines of tools/golden_pipelines.py, and diffusers' generations with them
(load_lora_weights + set_adapters at strength 1 and 0.6, the gate facilitated transport would give).

Writes Tests/DiffusionTests/Golden/pipelines/<sd1|sdxl>-research-membrane.safetensors (SD1 stored in fp16, as the
research code does with `save.precision: float16`; SDXL in fp32) and membrane-format-images.safetensors (float
images [1, H, W, 3], keys `<sd1|sdxl>-strength-<s>`). Run from the repository root after tools/golden_pipelines.py.
"""
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from safetensors.torch import save_file

GOLDEN = "Tests/DiffusionTests/Golden/pipelines"
IMAGES = f"{GOLDEN}/membrane-format-images.safetensors"


def research_file(unet, seed, dtype):
    """What SPMNetwork.save_weights writes for a rank-1, alpha-1 membrane (random, nonzero up)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, module in unet.named_modules():
        if not isinstance(module, Transformer2DModel):
            continue
        for child_name, child in module.named_modules():
            if not isinstance(child, (torch.nn.Linear, torch.nn.Conv2d)):
                continue
            key = ("lora_unet." + name + "." + child_name).replace(".", "_")
            weight = child.weight
            trailing = tuple(weight.shape[2:])
            tensors[key + ".lora_down.weight"] = (torch.randn((1, weight.shape[1]) + trailing, generator=generator) * 0.3).to(dtype)
            tensors[key + ".lora_up.weight"] = (torch.randn((weight.shape[0], 1) + (1,) * len(trailing), generator=generator) * 0.3).to(dtype)
            tensors[key + ".alpha"] = torch.tensor(1.0).to(dtype)
    return tensors


def main():
    images = {}
    for name, pipeline_class, dtype, negative in (("sd1", StableDiffusionPipeline, torch.float16, "a dog"),
                                                  ("sdxl", StableDiffusionXLPipeline, torch.float32, None)):
        pipe = pipeline_class.from_pretrained(f"{GOLDEN}/{name}")
        pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
        path = f"{GOLDEN}/{name}-research-membrane.safetensors"
        tensors = research_file(pipe.unet, 11, dtype)
        save_file(tensors, path, metadata={"prompts": "Van Gogh,Picasso", "rank": "1", "alpha": "1.0"})
        pipe.load_lora_weights(path, adapter_name="spm")
        for strength in (1.0, 0.6):
            pipe.set_adapters(["spm"], adapter_weights=[strength])
            image = pipe("a cat painting", negative_prompt=negative, num_inference_steps=10, guidance_scale=5.0,
                         height=32, width=32, generator=torch.Generator().manual_seed(42), output_type="np").images
            images[f"{name}-strength-{strength}"] = torch.from_numpy(image).contiguous()
        print(f"{path}: {len(tensors) // 3} layers")
    save_file(images, IMAGES)
    print(f"wrote {IMAGES}")


if __name__ == "__main__":
    main()
