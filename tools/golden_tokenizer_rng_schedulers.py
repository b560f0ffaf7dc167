#!/usr/bin/env python3
"""Writes the small JSON goldens that Tests/DiffusionTests compare against (development tool only).

Needs torch (CPU), transformers, diffusers and open_clip_torch (only for its bundled BPE file).
Run from the repository root:  python3 tools/golden_tokenizer_rng_schedulers.py

Outputs under Tests/DiffusionTests/Golden/:
  tokenizer.json   token ids from transformers' CLIPTokenizer for tricky prompts, both pad conventions
  tiny_tokenizer/  a diffusers-style tokenizer folder with a cut-down vocabulary (folder loading test)
  random.json      torch.randn / torch.rand / torch.randint bit patterns for several seeds and shapes
  schedulers.json  diffusers scheduler tables and scalar trajectories for SD1.5's scheduler config
"""
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_tiny_models import bytes_to_unicode  # noqa: E402  (CLIP's byte table, one copy)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "Tests" / "DiffusionTests" / "Golden"
BPE_GZ = ROOT / "Sources" / "Diffusion" / "Resources" / "bpe_simple_vocab_16e6.txt.gz"


def write_json(name, value):
    path = GOLDEN / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print("wrote", path.relative_to(ROOT))


# ----------------------------------------------------------------------------------------------- tokenizer

def openai_vocab_and_merges(merge_count):
    """The vocabulary exactly as OpenAI's SimpleTokenizer builds it from the first `merge_count` merges."""
    lines = gzip.open(BPE_GZ).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : merge_count + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}, merges


def tokenizer_folder(directory, merge_count, pad_token):
    vocab, merges = openai_vocab_and_merges(merge_count)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )
    added = lambda s: {"__type": "AddedToken", "content": s, "lstrip": False, "normalized": True,
                       "rstrip": False, "single_word": False}
    config = {"add_prefix_space": False, "bos_token": added("<|startoftext|>"), "do_lower_case": True,
              "eos_token": added("<|endoftext|>"), "errors": "replace", "model_max_length": 77,
              "pad_token": pad_token, "tokenizer_class": "CLIPTokenizer", "unk_token": added("<|endoftext|>")}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token,
               "unk_token": "<|endoftext|>"}
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


PROMPTS = [
    "",
    "a photo of a cat",
    "A Photo Of A CAT",
    "  leading and   trailing\twhitespace \n ",
    "score_9, score_8_up, score_7_up, 1girl, solo",
    "masterpiece, best quality, (cinematic lighting:1.2), [blurry]",
    "it's the dog's bone; they're here, we've won, I'm ok, you'll see, he'd go",
    "IT'S SHOUTING'S APOSTROPHES'",
    "don't can't won't",
    "numbers 1234567890 and 3.14159 and 1,000,000 and -42",
    "2024-05-01T12:34:56Z",
    "café naïve résumé crème brûlée Ångström",
    "e\u0301 decomposed accent (NFC)",
    "Straße ΣΊΣΥΦΟΣ Ολυμπος İstanbul",
    "emoji 🐱🚀 and 👍🏽 and family 👨‍👩‍👧",
    "日本語のテキスト and 中文 mixed",
    "Ünïcödé €100 £50 ¥3000 © ® ™ … — – •",
    "punctuation!!! ??? ... ;;; ::: --- ___ *** ### @@@",
    "<|startoftext|>explicit specials<|endoftext|> inside",
    "a <|ENDOFTEXT|> in capitals",
    "http://example.com/path?query=1&x=y#frag",
    "snake_case camelCase kebab-case PascalCase",
    "tab\there\nnewline\r\ncrlf",
    "zero\u200bwidth\u00a0nbsp\u3000ideographic space",
    "control\u0001char\u007f del",
    "mathematical 𝒜𝓁𝓅𝒽𝒶 and ① ② ③ ½ ²",
    "an extremely long prompt " + " ".join(f"word{i}" for i in range(90)),
    " ".join(["photograph"] * 80),
    "x" * 300,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


def tokenizer_goldens():
    from transformers import CLIPTokenizer

    vocab, merges = openai_vocab_and_merges(49152 - 256 - 2)
    assert len(vocab) == 49408
    with tempfile.TemporaryDirectory() as tmp:
        eos_dir, bang_dir = Path(tmp) / "eos", Path(tmp) / "bang"
        tokenizer_folder(eos_dir, 49152 - 256 - 2, "<|endoftext|>")
        tokenizer_folder(bang_dir, 49152 - 256 - 2, "!")
        eos_tok = CLIPTokenizer.from_pretrained(str(eos_dir))
        bang_tok = CLIPTokenizer.from_pretrained(str(bang_dir))
        cases = []
        for prompt in PROMPTS:
            padded_eos = eos_tok(prompt, padding="max_length", max_length=77, truncation=True)
            padded_bang = bang_tok(prompt, padding="max_length", max_length=77, truncation=True)
            plain = eos_tok(prompt, add_special_tokens=False)["input_ids"]
            cases.append({
                "prompt": prompt,
                "tokens": plain,
                "ids_pad_eos": padded_eos["input_ids"],
                "mask_pad_eos": padded_eos["attention_mask"],
                "ids_pad_bang": padded_bang["input_ids"],
                "mask_pad_bang": padded_bang["attention_mask"],
            })
    write_json("tokenizer.json", {
        "source": "transformers CLIPTokenizer (tokenizers backend), vocabulary built from bpe_simple_vocab_16e6",
        "vocab_size": len(vocab),
        "cases": cases,
    })

    # A small folder: the first 2,000 merges only, pad "!" given as an AddedToken-free string.
    tiny = GOLDEN / "tiny_tokenizer"
    tokenizer_folder(tiny, 2000, "!")
    tiny_tok = CLIPTokenizer.from_pretrained(str(tiny))
    tiny_cases = []
    for prompt in ["a photo of a cat", "score_9, score_8_up", "café 🐱 naïve", "antidisestablishmentarianism"]:
        out = tiny_tok(prompt, padding="max_length", max_length=77, truncation=True)
        tiny_cases.append({"prompt": prompt, "ids": out["input_ids"]})
    write_json("tiny_tokenizer_cases.json", {"vocab_size": 256 * 2 + 2000 + 2, "cases": tiny_cases})


# ----------------------------------------------------------------------------------------------- random

def bits(t):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in t.reshape(-1).tolist()]


def summary(t):
    """Short record of a large float32 tensor: first/last 16 bit patterns and a checksum of all bits."""
    b = t.reshape(-1).contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    flat = bits(t)
    weights = torch.arange(1, b.numel() + 1, dtype=torch.int64)
    return {
        "count": t.numel(),
        "first": flat[:16],
        "last": flat[-16:],
        # sum of bit patterns, and a position-weighted sum mod 2^61-1 (catches permutations)
        "bit_sum": int(b.sum().item()),
        "weighted_bit_sum_mod": int(((b % 2305843009213693951) * weights % 2305843009213693951).sum().item()
                                    % 2305843009213693951),
    }


def random_goldens():
    assert torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"), "goldens need the AVX2 normal path"
    cases = []
    for seed in [0, 1, 42, 1234, 2**32 + 7, 4294967295, 987654321]:
        for shape in [(1,), (7,), (15,), (16,), (17,), (100,), (4, 64, 64)]:
            g = torch.Generator().manual_seed(seed)
            x = torch.randn(shape, generator=g)
            entry = {"seed": seed, "shape": list(shape), "kind": "randn"}
            entry.update(summary(x) if x.numel() > 100 else {"bits": bits(x)})
            cases.append(entry)
        for shape in [(5,), (100,)]:
            g = torch.Generator().manual_seed(seed)
            cases.append({"seed": seed, "shape": list(shape), "kind": "rand", "bits": bits(torch.rand(shape, generator=g))})
    # Draws continue across calls, including the cached second Box-Muller value of the small-size path.
    g = torch.Generator().manual_seed(7)
    sequence = []
    for count in [3, 20, 1, 1, 5, 16, 2]:
        sequence.append({"kind": "randn", "count": count, "bits": bits(torch.randn(count, generator=g))})
    sequence.append({"kind": "rand", "count": 3, "bits": bits(torch.rand(3, generator=g))})
    sequence.append({"kind": "randn", "count": 1, "bits": bits(torch.randn(1, generator=g))})
    sequence.append({"kind": "randint", "count": 6, "low": 0, "high": 10,
                     "values": torch.randint(0, 10, (6,), generator=g).tolist()})
    sequence.append({"kind": "randint", "count": 4, "low": -5, "high": 2**40,
                     "values": torch.randint(-5, 2**40, (4,), generator=g).tolist()})
    sequence.append({"kind": "randn", "count": 33, "bits": bits(torch.randn(33, generator=g))})
    # float64 draws exercise random64()
    sequence.append({"kind": "rand64", "count": 3,
                     "hex": [v.hex() for v in torch.rand(3, generator=g, dtype=torch.float64).tolist()]})
    # The portable kernel PyTorch uses without AVX2 (forced here through ATEN_CPU_CAPABILITY in a child process).
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    scalar = json.loads(subprocess.run([sys.executable, __file__, "--scalar-randn"], env=env, check=True,
                                       capture_output=True, text=True).stdout)
    write_json("random.json", {"torch": torch.__version__, "cases": cases, "sequence_seed": 7, "sequence": sequence,
                               "scalar_kernel_cases": scalar})


def scalar_randn_cases():
    assert torch.backends.cpu.get_cpu_capability() == "DEFAULT"
    cases = []
    for seed in [0, 42, 987654321]:
        for shape in [(16,), (17,), (100,), (4, 64, 64)]:
            x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
            entry = {"seed": seed, "shape": list(shape), "kind": "randn"}
            entry.update(summary(x) if x.numel() > 100 else {"bits": bits(x)})
            cases.append(entry)
    return cases


# ----------------------------------------------------------------------------------------------- schedulers

SD15_SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}


def scalar_model(x, t):
    """A smooth scalar stand-in for the UNet: the same function is written in the Swift test."""
    return 0.3 * x + 0.2 * math.sin(0.01 * float(t)) + 0.05


def trajectory(scheduler, steps, seed=None):
    """Runs the scheduler on a one-element 'latent' with the scalar model, as a pipeline would."""
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    x = torch.tensor([0.8], dtype=torch.float32) * scheduler.init_noise_sigma
    xs = [float(x[0])]
    for t in scheduler.timesteps:
        model_in = scheduler.scale_model_input(x, t)
        eps = torch.tensor([scalar_model(float(model_in[0]), float(t))], dtype=torch.float32)
        kwargs = {"generator": generator} if generator is not None else {}
        x = scheduler.step(eps, t, x, **kwargs).prev_sample
        xs.append(float(x[0]))
    return xs


def scheduler_goldens():
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

    write_json("sd15_scheduler_config.json", SD15_SCHEDULER_CONFIG)
    tables = {}
    for schedule in ["linear", "scaled_linear", "squaredcos_cap_v2"]:
        s = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=schedule)
        # every 10th entry and the last keep the file small; errors accumulate along ᾱ, so these see them
        indices = list(range(0, 1000, 10)) + [999]
        tables[schedule] = {"indices": indices, "betas": [s.betas[i].item() for i in indices],
                            "alphas_cumprod": [s.alphas_cumprod[i].item() for i in indices]}

    classes = {
        "ddim": DDIMScheduler,
        "euler": EulerDiscreteScheduler,
        "euler_ancestral": EulerAncestralDiscreteScheduler,
        "dpmpp_2m": DPMSolverMultistepScheduler,
    }
    cases = []
    for name, cls in classes.items():
        for spacing in ["leading", "trailing", "linspace"]:
            for karras in ([False, True] if name in ("euler", "dpmpp_2m") else [False]):
                for steps in [10, 25, 50]:
                    overrides = {"timestep_spacing": spacing}
                    if karras:
                        overrides["use_karras_sigmas"] = True
                    config = {k: v for k, v in SD15_SCHEDULER_CONFIG.items() if not k.startswith("_")}
                    config.update(overrides)
                    s = cls.from_config(config)
                    s.set_timesteps(steps)
                    entry = {
                        "scheduler": name, "spacing": spacing, "karras": karras, "steps": steps,
                        "timesteps": [float(v) for v in s.timesteps.tolist()],
                        "init_noise_sigma": float(s.init_noise_sigma),
                    }
                    if hasattr(s, "sigmas") and name != "ddim":
                        entry["sigmas"] = [float(v) for v in s.sigmas.tolist()]
                    seed = 11 if name == "euler_ancestral" else None
                    entry["trajectory"] = trajectory(cls.from_config(config), steps, seed)
                    if seed is not None:
                        entry["trajectory_seed"] = seed
                    cases.append(entry)
    # final_sigmas_type / set_alpha_to_one variants
    extra = []
    for name, cls, overrides in [
        ("ddim", DDIMScheduler, {"set_alpha_to_one": True}),
        ("euler", EulerDiscreteScheduler, {"final_sigmas_type": "sigma_min"}),
        ("dpmpp_2m", DPMSolverMultistepScheduler, {"final_sigmas_type": "sigma_min"}),
        ("dpmpp_2m", DPMSolverMultistepScheduler, {"final_sigmas_type": "sigma_min", "use_karras_sigmas": True}),
        ("ddim", DDIMScheduler, {"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "trailing"}),
        ("euler", EulerDiscreteScheduler, {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
                                           "timestep_spacing": "linspace"}),
    ]:
        config = {k: v for k, v in SD15_SCHEDULER_CONFIG.items() if not k.startswith("_")}
        config.update(overrides)
        s = cls.from_config(config)
        s.set_timesteps(20)
        entry = {"scheduler": name, "overrides": overrides, "steps": 20,
                 "timesteps": [float(v) for v in s.timesteps.tolist()],
                 "init_noise_sigma": float(s.init_noise_sigma),
                 "trajectory": trajectory(cls.from_config(config), 20)}
        if name != "ddim":
            entry["sigmas"] = [float(v) for v in s.sigmas.tolist()]
        extra.append(entry)
    write_json("schedulers.json", {"tables": tables, "cases": cases, "variants": extra})


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--scalar-randn"]:
        print(json.dumps(scalar_randn_cases()))
        sys.exit(0)
    tokenizer_goldens()
    random_goldens()
    scheduler_goldens()
