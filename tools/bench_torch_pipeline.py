#!/usr/bin/env python3
"""Development tool: PyTorch's time for the whole text-to-image generation `spm-bench generate` measures —
diffusers' StableDiffusionPipeline built from the bundled real configs with random weights (prompt encoding,
Euler steps with classifier-free guidance, VAE decode), so BENCHMARKS.md can give ratios measured in one window.

Usage: python3 tools/bench_torch_pipeline.py [sd15|sd21] [resolution] [steps] [guidance] [threads] [repeats]
                                             [fp32|bf16]
       → JSON on stdout. bf16: every component in bfloat16 (`.to(torch.bfloat16)`).
"""
import json
import resource
import sys
import time

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer


def main():
    model, resolution, steps, guidance, threads, repeats, precision = \
        (sys.argv[1:] + ["sd15", "512", "4", "7.5", "2", "1", "fp32"][len(sys.argv) - 1:])[:7]
    resolution, steps, guidance = int(resolution), int(steps), float(guidance)
    threads, repeats = int(threads), int(repeats)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    folder = f"Sources/Diffusion/Resources/ModelConfigs/{model}"
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL.from_config(json.load(open(f"{folder}/vae/config.json"))),
        text_encoder=CLIPTextModel(CLIPTextConfig.from_json_file(f"{folder}/text_encoder/config.json")),
        tokenizer=_tokenizer(),
        unet=UNet2DConditionModel.from_config(json.load(open(f"{folder}/unet/config.json"))),
        scheduler=EulerDiscreteScheduler.from_config(json.load(open(f"{folder}/scheduler/scheduler_config.json"))),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False).to(dtype)
    pipe.set_progress_bar_config(disable=True)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            pipe("a photograph of an astronaut riding a horse", height=resolution, width=resolution,
                 num_inference_steps=steps, guidance_scale=guidance, output_type="np")
            times.append(time.perf_counter() - start)
    times = sorted(times[1:])
    print(json.dumps({"benchmark": f"pytorch text to image {precision}", "torch": torch.__version__, "model": model,
                      "resolution": resolution, "steps": steps, "guidance": guidance, "threads": threads,
                      "medianSeconds": times[len(times) // 2],
                      "peakRSSGiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}, indent=2))


def _tokenizer():
    """CLIP's tokenizer from the vocabulary the engine bundles (no hub here): its full 49,408 tokens."""
    import tempfile
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from golden_tokenizer_rng_schedulers import tokenizer_folder
    folder = Path(tempfile.mkdtemp())
    tokenizer_folder(folder, 49152 - 256 - 2, "<|endoftext|>")
    return CLIPTokenizer.from_pretrained(folder)


if __name__ == "__main__":
    main()
