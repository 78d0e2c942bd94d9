"""Standard CIFAR augmentation as batched tensor operations on the batch's own device."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(
    x: torch.Tensor,
    padding: int = 4,
    flip: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip of a whole batch at once.

    Equivalent, per image, to torchvision's ``RandomCrop(size, padding=padding)`` (zero fill)
    followed by ``RandomHorizontalFlip(0.5)``: each image is zero-padded by ``padding`` pixels
    on every side, a window of the original size is cut at a uniformly drawn offset, and the
    result is mirrored left-right with probability 1/2. No per-sample Python loop, no numpy.

    Args:
        x: Batch of images, shape (B, C, H, W).
        padding: Zero padding on each side, in pixels; 0 disables the crop.
        flip: Whether to flip images horizontally with probability 1/2.
        generator: Random generator on ``x.device``, for reproducible draws.

    Returns:
        The augmented batch, same shape, dtype and device as ``x``.

    Raises:
        ValueError: ``x`` is not 4-D or ``padding`` is negative.
    """
    if x.ndim != 4:
        raise ValueError(f"random_crop_flip expects a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding:
        x = _random_crop(x, padding, generator)
    if flip:
        mirror = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    return x


def _random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None) -> torch.Tensor:
    batch, channels, height, width = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top, left = torch.randint(0, 2 * padding + 1, (2, batch, 1), device=x.device, generator=generator)
    rows = top + torch.arange(height, device=x.device)
    cols = left + torch.arange(width, device=x.device)
    padded = padded.gather(2, rows[:, None, :, None].expand(batch, channels, height, padded.shape[3]))
    return padded.gather(3, cols[:, None, None, :].expand(batch, channels, height, width))
