"""Content preservation between each input image and its output: VGG-19 content distance and LPIPS.

- VGG content distance (Gatys et al.): for each pair, the mean over channels and positions of the
  squared difference of the VGG-19 ``conv4_2`` feature maps of output and input,
  ``mean_{c,h,w} (F_out[c,h,w] - F_in[c,h,w])^2``, with the feature maps exactly as ``VGGTaps`` returns
  them (torchvision VGG-19, ImageNet mean/std normalisation inside, float32 maps, difference in float64).
- LPIPS (AlexNet trunk, v0.1 linear layers): the distance ``LPIPS`` returns per pair.

Both are per image, so callers can bootstrap and show galleries; lower means better preserved content.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from gan_core.metrics.errors import MetricError

CONTENT_LAYER = "conv4_2"


def content_distance(
    output_taps: Mapping[str, torch.Tensor], input_taps: Mapping[str, torch.Tensor], *, layer: str = CONTENT_LAYER
) -> torch.Tensor:
    """Per-pair VGG content distance from two ``VGGTaps`` results -> ``(N,)`` float64 on CPU.

    ``output_taps[layer]`` and ``input_taps[layer]``: ``(N, C, H, W)`` feature maps of the same shape.
    """
    if layer not in output_taps or layer not in input_taps:
        raise MetricError(f"the VGG taps do not include {layer!r}; build them with vgg19_taps()")
    out, inp = output_taps[layer], input_taps[layer]
    if out.shape != inp.shape:
        raise MetricError(
            f"content distance needs outputs of the same size as their inputs; {layer} maps are "
            f"{tuple(out.shape)} and {tuple(inp.shape)}"
        )
    difference = out.detach().to("cpu", torch.float64) - inp.detach().to("cpu", torch.float64)
    return difference.pow(2).flatten(1).mean(dim=1)


def check_pairs(outputs: torch.Tensor, inputs: torch.Tensor) -> None:
    """Refuse paired batches that are not ``(N, 3, H, W)`` uint8 of the same shape."""
    if outputs.shape != inputs.shape or outputs.ndim != 4 or outputs.shape[1] != 3:
        raise MetricError(
            f"paired metrics need (N, 3, H, W) outputs and inputs of the same size, got {tuple(outputs.shape)} "
            f"and {tuple(inputs.shape)}; the generator must keep the input's height and width"
        )
    if outputs.dtype != torch.uint8 or inputs.dtype != torch.uint8:
        raise MetricError(f"paired metrics take uint8 images, got {outputs.dtype} and {inputs.dtype}")
