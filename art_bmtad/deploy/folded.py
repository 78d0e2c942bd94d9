"""A classifier's normalisation folded into its network: one ``nn.Module`` that takes [0, 1] pixels.

ART keeps the normalisation outside the network (``PyTorchClassifier(preprocessing=(mean, std))``), so the
bare ``classifier.model`` expects normalised inputs. What is measured (:mod:`~art_bmtad.deploy.cost`) and what
ships (:mod:`~art_bmtad.deploy.export`) is :class:`FoldedClassifier`: ``(x - mean) / std`` as its first layer,
then the network, so ``FoldedClassifier(x) == classifier.predict(x)`` on raw pixels.

The normalisation is kept as a layer, not merged into the first convolution's weights: with zero padding a
merged convolution would differ at the image borders.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from art.preprocessing.standardisation_mean_std import StandardisationMeanStdPyTorch
from torch import nn

MEAN_KEY, STD_KEY = "normalize.mean", "normalize.std"
"""State-dict keys of the folded normalisation (the network's own keys follow under ``network.``)."""


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with ``mean`` and ``std`` as buffers (saved with the weights)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - torch API
        return (x - self.mean) / self.std


class FoldedClassifier(nn.Module):
    """A network with its input normalisation as the first layer: logits from [0, 1] pixels (NCHW)."""

    def __init__(self, network: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - torch API
        return self.network(self.normalize(x))


def fold_normalisation(classifier: PyTorchClassifier, *, copy_network: bool = True) -> FoldedClassifier:
    """The classifier's network with its ART normalisation folded in, in eval mode, on the classifier's device.

    Args:
        classifier: an ART ``PyTorchClassifier`` whose only preprocessing is a mean/std standardisation (or none).
        copy_network: work on a deep copy (the classifier is left untouched); ``False`` shares the network.

    Returns:
        The folded module; ``folded(x)`` equals ``classifier.predict(x)`` for pixels ``x`` in [0, 1].

    Raises:
        ValueError: the classifier has preprocessing other than one standardisation, which cannot be folded.
    """
    mean, std = _standardisation(classifier)
    channels = classifier.input_shape[0]
    network = copy.deepcopy(classifier.model) if copy_network else classifier.model
    folded = FoldedClassifier(network, _per_channel(mean, channels), _per_channel(std, channels))
    return folded.to(classifier.device).eval()


def _standardisation(classifier: PyTorchClassifier) -> tuple[np.ndarray, np.ndarray]:
    operations = classifier.preprocessing_operations or []
    if not operations:
        return np.zeros(1, dtype=np.float32), np.ones(1, dtype=np.float32)
    if len(operations) != 1 or not isinstance(operations[0], StandardisationMeanStdPyTorch):
        names = ", ".join(type(operation).__name__ for operation in operations)
        raise ValueError(f"only a mean/std standardisation can be folded into the model, not: {names}")
    return np.asarray(operations[0].mean, dtype=np.float32), np.asarray(operations[0].std, dtype=np.float32)


def _per_channel(values: np.ndarray, channels: int) -> torch.Tensor:
    """A scalar or per-channel array as a (1, C, 1, 1) tensor."""
    flat = values.reshape(-1)
    if flat.size not in (1, channels):
        raise ValueError(f"normalisation {flat.tolist()} has neither 1 nor {channels} values")
    return torch.from_numpy(np.broadcast_to(flat, (channels,)).copy()).reshape(1, channels, 1, 1)
