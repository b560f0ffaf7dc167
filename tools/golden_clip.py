#!/usr/bin/env python3
"""Development tool: tiny random CLIP text models and transformers' outputs for them (parity goldens).

Writes Tests/DiffusionTests/Golden/clip/<name>/{config.json, model.safetensors, outputs.safetensors}:
  quickgelu   — CLIPTextModel with OpenAI CLIP's activation (SD1.x, SDXL's first encoder)
  gelu-proj   — CLIPTextModelWithProjection with GELU (OpenCLIP: SD2.x, SDXL's second encoder)
outputs: input_ids (I64 [2, 77]), hidden_states (every layer, [layers+1, 2, 77, width]), last_hidden_state,
pooled (pooler_output), and text_embeds for the projection model. Run from the repository root.
"""
import os

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

OUT = "Tests/DiffusionTests/Golden/clip"
VOCAB = 1000  # small, so the fixture stays small; id 999 plays CLIP's end-of-text token (the largest id)


def token_ids(generator):
    rows = []
    for length in (5, 30):
        ids = [998] + torch.randint(0, 990, (length,), generator=generator).tolist() + [999]
        rows.append(ids + [999] * (77 - len(ids)))  # SD1 pads with the end-of-text id
    return torch.tensor(rows)


def build(name, model_class, **overrides):
    torch.manual_seed(0)
    config = CLIPTextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                            num_hidden_layers=3, max_position_embeddings=77, projection_dim=24,
                            eos_token_id=2, bos_token_id=0, pad_token_id=1, **overrides)
    model = model_class(config).eval()
    # Random init leaves LayerNorm at 1/0: perturb every parameter so norms and biases are really tested.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    folder = f"{OUT}/{name}"
    model.save_pretrained(folder, safe_serialization=True)
    ids = token_ids(torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    tensors = {"input_ids": ids, "hidden_states": torch.stack(out.hidden_states).contiguous(),
               "last_hidden_state": out.last_hidden_state.contiguous()}
    if model_class is CLIPTextModelWithProjection:
        tensors["text_embeds"] = out.text_embeds.contiguous()
        # pooler output is not returned by the projection model; recompute it as transformers does
        tensors["pooled"] = out.last_hidden_state[torch.arange(2), ids.argmax(dim=-1)].contiguous()
    else:
        tensors["pooled"] = out.pooler_output.contiguous()
    save_file(tensors, f"{folder}/outputs.safetensors")
    for extra in ("generation_config.json",):
        if os.path.exists(f"{folder}/{extra}"):
            os.remove(f"{folder}/{extra}")


def main():
    build("quickgelu", CLIPTextModel, hidden_act="quick_gelu")
    build("gelu-proj", CLIPTextModelWithProjection, hidden_act="gelu")


if __name__ == "__main__":
    main()
