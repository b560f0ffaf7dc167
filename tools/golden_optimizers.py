#!/usr/bin/env python3
"""Development tool: PyTorch's optimizer updates and diffusers' learning-rate schedules, for the trainer's tests.

Writes Tests/Fixtures/optimizer-golden.json:
- "optimizers": for AdamW, Adam and SGD (weight decay 0.01): initial parameters (two tensors), five steps of
  seeded gradients with their learning rates, and the parameters after each step;
- "schedules": diffusers' get_scheduler factors for constant, cosine and cosine_with_restarts (warm-up 3,
  20 steps, 2 restarts for the last), as rates for base 1e-3 at steps 0…19.
Run from the repository root.
"""
import json

import torch
from diffusers.optimization import get_scheduler


def main():
    generator = torch.Generator().manual_seed(3)
    initial = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    gradients = [[torch.randn(p.shape, generator=generator) for p in initial] for _ in range(5)]
    rates = [1e-3, 2e-3, 5e-4, 1e-2, 3e-3]
    optimizers = {}
    for name, make in {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}.items():
        parameters = [p.clone().requires_grad_() for p in initial]
        optimizer = make(parameters, lr=rates[0], weight_decay=0.01)
        after = []
        for step, grads in enumerate(gradients):
            for group in optimizer.param_groups:
                group["lr"] = rates[step]
            for p, g in zip(parameters, grads):
                p.grad = g.clone()
            optimizer.step()
            after.append([p.detach().flatten().tolist() for p in parameters])
        optimizers[name] = {"after": after}
    schedules = {}
    for kind, extra in [("constant_with_warmup", {}), ("cosine", {}), ("cosine_with_restarts", {"num_cycles": 3})]:
        parameter = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.SGD([parameter], lr=1e-3)
        scheduler = get_scheduler(kind, optimizer, num_warmup_steps=3, num_training_steps=20,
                                  **extra)
        values = []
        for _ in range(20):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        schedules[kind] = values
    result = {"initial": [p.flatten().tolist() for p in initial], "shapes": [list(p.shape) for p in initial],
              "gradients": [[g.flatten().tolist() for g in grads] for grads in gradients], "rates": rates,
              "optimizers": optimizers, "schedules": schedules}
    with open("Tests/Fixtures/optimizer-golden.json", "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
