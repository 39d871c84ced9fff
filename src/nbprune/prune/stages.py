"""Network stages by feature-map size, which the per-stage methods (guided pruning) read."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["resolution_stages"]


def resolution_stages(model: nn.Module, picks: dict[str, tuple[str, bool]],
                      input_size=(3, 32, 32)) -> dict[str, int]:
    """Stages by feature-map size, from one batch-1 forward pass: ``picks`` maps a module name to
    ``(key, use_input)``; each key gets the index (largest first) of the spatial size of that module's output
    (or input, with ``use_input``) among the distinct sizes seen."""
    sizes: dict[str, int] = {}

    def hook(key: str, use_input: bool):
        def record(module, inputs, output) -> None:
            sizes[key] = (inputs[0] if use_input else output).shape[-1]
        return record

    hooks = [m.register_forward_hook(hook(*picks[name])) for name, m in model.named_modules() if name in picks]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    resolutions = sorted(set(sizes.values()), reverse=True)
    return {k: resolutions.index(v) for k, v in sizes.items()}
