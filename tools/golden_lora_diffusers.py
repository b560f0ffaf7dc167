"""Checks that diffusers loads membrane files the workbench writes, and applies the ΔW we intend.

Development-only (tests never run Python). Writes, with the built `spm-workbench`, a merged membrane of the tiny SD1
fixtures (kohya format) and its diffusers-format export, then for each file:
  - `StableDiffusionPipeline.lora_state_dict` must accept it (no unconverted keys),
  - `load_lora_weights` + `fuse_lora` on the tiny pipeline must change every adapted UNet weight by exactly
    scale · up · down as read from the file (max abs difference printed; expect ~1e-8).
Then the same for a random research-code style SDXL file (diffusers paths) rewritten by `export --format kohya` in
kohya's SGM names, on the tiny SDXL pipeline.
Usage: swift build && python3 tools/golden_lora_diffusers.py [path/to/spm-workbench]
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "spm-workbench")


def run(*arguments):
    subprocess.run([BINARY, *arguments], check=True, stdout=subprocess.DEVNULL)


def expected_deltas(path):
    """kohya layer path (diffusers names) → ΔW from a kohya file."""
    deltas = {}
    with safe_open(path, "pt") as f:
        keys = set(f.keys())
        for key in keys:
            if not key.endswith(".lora_down.weight"):
                continue
            name = key[: -len(".lora_down.weight")]
            down = f.get_tensor(key).double()
            up = f.get_tensor(name + ".lora_up.weight").double()
            rank = down.shape[0]
            alpha = f.get_tensor(name + ".alpha").double().item() if name + ".alpha" in keys else rank
            delta = (alpha / rank) * (up.flatten(1) @ down.flatten(1))
            deltas[name[len("lora_unet_"):]] = delta
    return deltas


def module_for(unet, kohya_path):
    for name, _ in unet.named_modules():
        if name.replace(".", "_") == kohya_path:
            return name
    raise KeyError(kohya_path)


def check(lora_file, deltas, pipeline=StableDiffusionPipeline, model=os.path.join(FIXTURES, "tiny-sd1")):
    state_dict, alphas = pipeline.lora_state_dict(lora_file)
    print(f"{os.path.basename(lora_file)}: lora_state_dict accepted {len(state_dict)} tensors")
    pipe = pipeline.from_pretrained(model)
    before = {k: v.clone().double() for k, v in pipe.unet.state_dict().items()}
    pipe.load_lora_weights(lora_file)
    pipe.fuse_lora(lora_scale=1.0)
    after = pipe.unet.state_dict()
    worst = 0.0
    for kohya_path, delta in deltas.items():
        module = module_for(pipe.unet, kohya_path)
        key = module + ".weight"
        if key not in after:
            key = module + ".base_layer.weight"
        change = after[key].double() - before[module + ".weight"]
        worst = max(worst, (change.flatten(1) - delta).abs().max().item())
    largest = max(d.abs().max().item() for d in deltas.values())
    print(f"  fused ΔW vs file: {len(deltas)} layers, max abs difference {worst:.3e} (largest |ΔW| {largest:.3e})")
    assert worst < 1e-5, worst


def main():
    with tempfile.TemporaryDirectory() as directory:
        config = os.path.join(FIXTURES, "tiny-sd1")
        merged = os.path.join(directory, "merged.safetensors")
        run("merge", os.path.join(FIXTURES, "tiny-sd1-spm-original.safetensors"),
            os.path.join(FIXTURES, "tiny-sd1-lora-kohya.safetensors"), "-o", merged, "--weights", "1,-0.5",
            "--unet-config", config)
        exported = os.path.join(directory, "pytorch_lora_weights.safetensors")
        run("export", "--format", "diffusers", merged, "-o", exported, "--unet-config", config)
        deltas = expected_deltas(merged)
        check(merged, deltas)
        check(exported, deltas)

        # SDXL: a research-code style file (diffusers paths, `prompts` metadata) on the tiny SDXL UNet, rewritten by
        # `export --format kohya` in kohya's SGM names, must fuse to the same ΔW.
        sdxl_model = os.path.join(ROOT, "Tests", "DiffusionTests", "Golden", "pipelines", "sdxl")
        unet = StableDiffusionXLPipeline.from_pretrained(sdxl_model).unet
        generator = torch.Generator().manual_seed(0)
        tensors = {}
        targets = (".proj_in", ".proj_out", ".to_q", ".to_k", ".to_v", ".to_out.0", ".ff.net.0.proj", ".ff.net.2")
        for name, module in unet.named_modules():
            if ".attentions." in name and name.endswith(targets) and isinstance(module, torch.nn.Linear):
                kohya = "lora_unet_" + name.replace(".", "_")
                tensors[kohya + ".lora_down.weight"] = torch.randn(1, module.in_features, generator=generator)
                tensors[kohya + ".lora_up.weight"] = torch.randn(module.out_features, 1, generator=generator) * 0.01
                tensors[kohya + ".alpha"] = torch.tensor(1.0)
        research = os.path.join(directory, "research-sdxl.safetensors")
        save_file(tensors, research, metadata={"prompts": "Van Gogh", "rank": "1", "alpha": "1.0"})
        sgm = os.path.join(directory, "sdxl-kohya.safetensors")
        run("export", "--format", "kohya", research, "-o", sgm, "--unet-config", sdxl_model)
        with safe_open(sgm, "pt") as f:
            names = list(f.keys())
            assert all(n.startswith(("lora_unet_input_blocks_", "lora_unet_middle_block_", "lora_unet_output_blocks_")) for n in names), names[:3]
            print(f"{os.path.basename(sgm)}: {len(names) // 3} layers in SGM names, base model {f.metadata()['ss_base_model_version']}")
        check(sgm, expected_deltas(research), StableDiffusionXLPipeline, sdxl_model)
        print("diffusers accepts and applies every file")


if __name__ == "__main__":
    main()
