#!/usr/bin/env python3
"""Development tool: a tiny random transformers CLIPModel (image + text towers) and its outputs (parity goldens
for CLIP score / CLIP accuracy).

Writes Tests/DiffusionTests/Golden/clip-model/:
  config.json, model.safetensors   CLIPModel.save_pretrained (weights stored as fp16, see below)
  preprocessor_config.json         CLIPImageProcessorPil (PIL bicubic resize, centre crop, rescale, normalise)
  vocab.json, merges.txt           the tiny BPE vocabulary of make_tiny_models.write_tiny_tokenizer
  open_clip_model.safetensors      the same weights in OpenCLIP's naming (fused q/k/v, projections as x @ P)
  outputs.safetensors              image0, image1 (U8 [height, width, 3]: one larger than the crop, one smaller),
                                   pixel_values [2, 3, 32, 32], input_ids (I64 [3, 77]), image_embeds [2, 16],
                                   text_embeds [3, 16] (both L2-normalised), logits_per_image [2, 3]
Every parameter is rounded to fp16 before the outputs are computed, so the fp16 files (half the size) hold the
exact weights the goldens come from. Seeded: rerunning reproduces the tensors. Run from the repository root.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

sys.path.insert(0, os.path.dirname(__file__))
from make_tiny_models import write_tiny_tokenizer  # noqa: E402

OUT = "Tests/DiffusionTests/Golden/clip-model"
IMAGE_SIZE = 32
TEXTS = ["a cat", "a dog painting", "van gogh"]
# (width, height): the first is downsampled to the crop (antialiased bicubic), the second upsampled.
IMAGE_SIZES = [(45, 38), (20, 13)]


def tiny_model(vocab_size):
    torch.manual_seed(0)
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_attention_heads=4,
                num_hidden_layers=2, max_position_embeddings=77, hidden_act="quick_gelu",
                bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1)
    vision = dict(hidden_size=32, intermediate_size=48, num_attention_heads=4, num_hidden_layers=2,
                  image_size=IMAGE_SIZE, patch_size=8, hidden_act="quick_gelu")
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).eval()
    # Random init leaves LayerNorm at 1/0: perturb every parameter so norms and biases are really tested.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
            parameter.copy_(parameter.half().float())
    return model


def images():
    """Seeded test images: a colour gradient under noise, so resampling both smooths and clips."""
    generator = np.random.default_rng(1)
    result = []
    for width, height in IMAGE_SIZES:
        y, x = np.mgrid[0:height, 0:width]
        gradient = np.stack([255 * x / width, 255 * y / height, 128 + 0 * x], axis=-1)
        noisy = gradient + generator.normal(0, 60, (height, width, 3))
        result.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    return result


def open_clip_state_dict(model):
    """The weights as OpenCLIP names them: q/k/v fused into `in_proj`, projections stored transposed."""
    state = {name: tensor for name, tensor in model.state_dict().items() if not name.endswith("position_ids")}
    result = {"logit_scale": state["logit_scale"]}

    def tower(source, target, layers):
        for index in range(layers):
            old, new = f"{source}.encoder.layers.{index}", f"{target}transformer.resblocks.{index}"
            for kind in ("weight", "bias"):
                result[f"{new}.attn.in_proj_{kind}"] = torch.cat(
                    [state[f"{old}.self_attn.{part}_proj.{kind}"] for part in "qkv"])
                for old_name, new_name in (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"),
                                           ("mlp.fc2", "mlp.c_proj"), ("self_attn.out_proj", "attn.out_proj")):
                    result[f"{new}.{new_name}.{kind}"] = state[f"{old}.{old_name}.{kind}"]

    config = model.config
    tower("text_model", "", config.text_config.num_hidden_layers)
    tower("vision_model", "visual.", config.vision_config.num_hidden_layers)
    result["token_embedding.weight"] = state["text_model.embeddings.token_embedding.weight"]
    result["positional_embedding"] = state["text_model.embeddings.position_embedding.weight"]
    result["text_projection"] = state["text_projection.weight"].T
    result["visual.conv1.weight"] = state["vision_model.embeddings.patch_embedding.weight"]
    result["visual.class_embedding"] = state["vision_model.embeddings.class_embedding"]
    result["visual.positional_embedding"] = state["vision_model.embeddings.position_embedding.weight"]
    result["visual.proj"] = state["visual_projection.weight"].T
    for kind in ("weight", "bias"):
        result[f"ln_final.{kind}"] = state[f"text_model.final_layer_norm.{kind}"]
        result[f"visual.ln_pre.{kind}"] = state[f"vision_model.pre_layrnorm.{kind}"]
        result[f"visual.ln_post.{kind}"] = state[f"vision_model.post_layernorm.{kind}"]
    layers = config.text_config.num_hidden_layers + config.vision_config.num_hidden_layers
    assert len(result) == len(state) - 4 * layers  # each layer's six q/k/v tensors become one in_proj pair
    return {name: tensor.half().contiguous() for name, tensor in result.items()}


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    tokenizer, vocab_size = write_tiny_tokenizer(OUT)
    model = tiny_model(vocab_size)
    model.half().save_pretrained(OUT, safe_serialization=True)
    model.float()
    save_file(open_clip_state_dict(model), f"{OUT}/open_clip_model.safetensors")

    processor = CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                                      crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor.save_pretrained(OUT)
    pictures = images()
    pixel_values = processor([Image.fromarray(picture) for picture in pictures], return_tensors="pt")["pixel_values"]
    input_ids = tokenizer(TEXTS, padding="max_length", max_length=77, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=input_ids, pixel_values=pixel_values)
    tensors = {f"image{index}": torch.from_numpy(picture) for index, picture in enumerate(pictures)}
    tensors.update(pixel_values=pixel_values, input_ids=input_ids, image_embeds=out.image_embeds,
                   text_embeds=out.text_embeds, logits_per_image=out.logits_per_image)
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, f"{OUT}/outputs.safetensors")
    # The BPE files are what a tokenizer outside Python reads; the rest of save_pretrained's output is not needed.
    for name in ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(f"{OUT}/{name}"):
            os.remove(f"{OUT}/{name}")
    print(json.dumps({name: os.path.getsize(f"{OUT}/{name}") for name in sorted(os.listdir(OUT))}, indent=1))


if __name__ == "__main__":
    main()
