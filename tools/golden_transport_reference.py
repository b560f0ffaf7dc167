#!/usr/bin/env python3
"""Development tool: facilitated transport's `reference` similarity on the tiny SD1 pipeline, computed the way the
original SPM code computes it (infer_spm.py `calculate_matching_score` with matching_metric "clipcos_tokenuni":
cosine of the flattened [77, width] last hidden states; share of the concept's token ids found in the prompt, special
tokens of `tokenizer.special_tokens_map` removed; the max of the two).

Writes Tests/Fixtures/transport-reference-scores.json. Run from the repository root.
"""
import json

import torch
from transformers import CLIPTextModel, CLIPTokenizer

FOLDER = "Tests/DiffusionTests/Golden/pipelines/sd1"
OUT = "Tests/Fixtures/transport-reference-scores.json"
PROMPTS = ["a cat painting", "a photo of a dog", "cat", "an oil painting of a house by the sea", ""]
CONCEPTS = ["cat", "a dog", "painting of a cat", "sea house"]


def encode(tokenizer, encoder, texts):
    tokens = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt").input_ids
    with torch.no_grad():
        return encoder(tokens)[0], tokens


def main():
    tokenizer = CLIPTokenizer.from_pretrained(FOLDER, subfolder="tokenizer")
    encoder = CLIPTextModel.from_pretrained(FOLDER, subfolder="text_encoder").eval()
    special = set(tokenizer.convert_tokens_to_ids(list(tokenizer.special_tokens_map.values())))
    concept_embeds, concept_tokens = encode(tokenizer, encoder, CONCEPTS)
    cases = []
    for prompt in PROMPTS:
        prompt_embeds, prompt_tokens = encode(tokenizer, encoder, [prompt])
        clipcos = torch.cosine_similarity(prompt_embeds.flatten(1, 2), concept_embeds.flatten(1, 2), dim=-1)
        prompt_set = set(prompt_tokens[0].tolist()) - special
        for index, concept in enumerate(CONCEPTS):
            concept_set = set(concept_tokens[index].tolist()) - special
            tokenuni = len(prompt_set & concept_set) / len(concept_set)
            cases.append({"prompt": prompt, "concept": concept, "clipcos": clipcos[index].item(),
                          "tokenuni": tokenuni, "score": max(clipcos[index].item(), tokenuni)})
    with open(OUT, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
