#!/usr/bin/env python3
"""Development tool: PyTorch gradients through the tiny SD1/SD2/SDXL UNets of tools/golden_unet.py, with a
rank-2 adapter on every layer a membrane adapts (METHOD.md §1) and per-sample gates.

For each model in Tests/DiffusionTests/Golden/unet/<name>/ it writes gradients.safetensors holding
- the inputs: sample [2, 4, 16, 16], timesteps [2], context, (SDXL) pooled and time_ids, gates [2], seed
  (the output gradient: the differentiated quantity is sum(seed * unet(...)));
- every adapter as adapter.<diffusers path>.down [2, in] / .up [out, 2] and its gradients grad.adapter.<path>.down/.up;
- the gradients of the sample, the context and a selection of frozen weights (grad.sample, grad.context,
  grad.weight.<key>), which the testbed's from-scratch training needs.
Run from the repository root after tools/golden_unet.py.
"""
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor
from safetensors.torch import load_file, save_file

ROOT = "Tests/DiffusionTests/Golden/unet"
RANK = 2
TARGET_SUFFIXES = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k",
                   "attn2.to_v", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2")
WEIGHTS = ["conv_in.weight", "time_embedding.linear_1.weight", "conv_out.bias", "conv_norm_out.weight",
           "down_blocks.0.resnets.0.norm1.weight", "down_blocks.0.resnets.0.conv1.weight",
           "down_blocks.1.resnets.0.conv_shortcut.weight", "down_blocks.1.attentions.0.norm.bias",
           "down_blocks.1.attentions.0.transformer_blocks.0.norm2.weight",
           "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
           "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
           "mid_block.attentions.0.proj_out.weight", "up_blocks.1.upsamplers.0.conv.weight",
           "up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_v.weight", "add_embedding.linear_1.weight"]


def is_target(name):
    """The layers METHOD.md §1 adapts: inside each Transformer2DModel, its projections and its blocks' linears."""
    if ".transformer_blocks." in name:
        return name.endswith(TARGET_SUFFIXES)
    return "attentions." in name and name.endswith((".proj_in", ".proj_out"))


def main():
    for name in ["sd1", "sd2", "sdxl"]:
        folder = f"{ROOT}/{name}"
        unet = UNet2DConditionModel.from_pretrained(folder).eval()
        unet.set_attn_processor(AttnProcessor())  # plain attention math, as the engine's
        io = load_file(f"{folder}/io.safetensors")
        generator = torch.Generator().manual_seed(7)
        gates = torch.tensor([1.0, 0.5])
        adapters = {}
        for module_name, module in unet.named_modules():
            if not is_target(module_name):
                continue
            conv = isinstance(module, torch.nn.Conv2d)
            features_in = module.in_channels if conv else module.in_features
            features_out = module.out_channels if conv else module.out_features
            down = (0.3 * torch.randn(RANK, features_in, generator=generator)).requires_grad_()
            up = (0.3 * torch.randn(features_out, RANK, generator=generator)).requires_grad_()
            adapters[module_name] = (down, up)

            def hook(module, inputs, output, down=down, up=up, conv=conv):
                x = inputs[0]
                if conv:
                    projected = F.conv2d(x, down[:, :, None, None]) * gates[:, None, None, None]
                    return output + F.conv2d(projected, up[:, :, None, None])
                shape = [x.shape[0]] + [1] * (x.dim() - 2) + [1]
                return output + F.linear(F.linear(x, down) * gates.reshape(shape), up)
            module.register_forward_hook(hook)
        parameters = dict(unet.named_parameters())
        wanted = {key: parameters[key] for key in WEIGHTS if key in parameters}
        for parameter in unet.parameters():
            parameter.requires_grad_(False)
        for parameter in wanted.values():
            parameter.requires_grad_(True)
        sample = io["sample"].clone().requires_grad_()
        context = io["context"].clone().requires_grad_()
        kwargs = {}
        if "pooled" in io:
            kwargs["added_cond_kwargs"] = {"text_embeds": io["pooled"], "time_ids": io["time_ids"]}
        out = unet(sample, io["timesteps"], context, **kwargs).sample
        seed = torch.randn(out.shape, generator=generator)
        (out * seed).sum().backward()
        result = {"sample": io["sample"], "timesteps": io["timesteps"], "context": io["context"], "gates": gates,
                  "seed": seed, "grad.sample": sample.grad, "grad.context": context.grad}
        for key in ("pooled", "time_ids"):
            if key in io:
                result[key] = io[key]
        for module_name, (down, up) in adapters.items():
            result[f"adapter.{module_name}.down"] = down.detach()
            result[f"adapter.{module_name}.up"] = up.detach()
            result[f"grad.adapter.{module_name}.down"] = down.grad
            result[f"grad.adapter.{module_name}.up"] = up.grad
        for key, parameter in wanted.items():
            result[f"grad.weight.{key}"] = parameter.grad
        save_file({k: v.contiguous() for k, v in result.items()}, f"{folder}/gradients.safetensors")
        print(name, len(adapters), "adapters,", len(wanted), "weights")


if __name__ == "__main__":
    main()
