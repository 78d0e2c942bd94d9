"""Helpers for the tests of zoo adapters (like timm's and pluggy's test utilities): import them into a test module.

- :func:`one_thread`: an autouse, module-scoped fixture that pins torch to one intra-op thread while the module runs.
- ``hub`` (:func:`torch_hub_fixture`): an empty torch hub cache ``$TORCH_HOME/hub/checkpoints`` under ``tmp_path``.
- :func:`randomised`: random weights *and* batch-norm statistics, to write a file in a zoo's published format.
- :class:`WritesEvidence`: a pickle payload that must never run (unpickling it would create a file).
- :func:`outputs_equal`: a loaded model computes exactly what the reference does.
- :func:`assert_takes_raw_pixels`: the front door put the zoo's normalisation inside the ART classifier.

Usage in an adapter's tests::

    from art_bmtad.testing import WritesEvidence, one_thread, randomised, torch_hub_fixture  # noqa: F401

A fixture imported into a test module is that module's (``torch_hub_fixture`` as ``hub``, its fixture name).
Imported only by tests: torch is imported when a helper runs, pytest when this module is imported.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import pytest
except ImportError as err:  # pragma: no cover - only without the test extras
    raise ImportError("art_bmtad.testing holds pytest fixtures; install pytest to use it") from err

if TYPE_CHECKING:
    from torch import nn


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Small models on a loaded CPU: one intra-op thread is many times faster than contended ones."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(name="hub")
def torch_hub_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache: ``$TORCH_HOME/hub/checkpoints``."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def randomised(network: nn.Module, std: float = 0.1) -> nn.Module:
    """Random weights *and* batch-norm statistics, so that a wrong or missing key changes the outputs.

    Args:
        network: the module to fill in place (seeded: the same values every time).
        std: standard deviation of the normal values of the weights of two or more dimensions; the vectors
            (biases, batch-norm weights and statistics) are uniform in [0.5, 1).

    Returns:
        ``network`` in eval mode.
    """
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        for value in network.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) * 0.5 + 0.5 if value.dim() == 1 else torch.randn_like(value) * std)
    return network.eval()


def outputs_equal(loaded: nn.Module, reference: nn.Module, size: int = 32) -> None:
    """Assert that ``loaded`` (put in eval mode) gives exactly ``reference``'s outputs on two random RGB images.

    Args:
        loaded: the model the zoo built.
        reference: the model whose weights were written.
        size: height and width of the images.
    """
    import torch

    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), reference(x), rtol=0, atol=0)


def assert_takes_raw_pixels(classifier: Any, mean: Sequence[float], std: Sequence[float], label: int,
                            size: int = 32) -> None:
    """Assert that an ART classifier built by the front door takes raw [0, 1] RGB pixels.

    Its predictions are its network's on the normalised pixels, and d(logit)/d(pixel) = d(logit)/d(input) / std.

    Args:
        classifier: the ART ``PyTorchClassifier`` (its ``model`` takes normalised inputs).
        mean: the zoo's per-channel mean.
        std: the zoo's per-channel standard deviation.
        label: the class whose gradient is compared.
        size: height and width of the two random images.
    """
    import torch

    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (mean, std))
    x = torch.rand(2, 3, size, size)
    normalised = ((x - mean) / std).requires_grad_()
    network = classifier.model.eval()
    network(normalised)[:, label].sum().backward()
    pixel_gradient = classifier.class_gradient(x.numpy(), label=label)[:, 0]
    torch.testing.assert_close(torch.from_numpy(pixel_gradient), normalised.grad / std, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.from_numpy(classifier.predict(x.numpy())), network(normalised).detach(),
                               rtol=1e-5, atol=1e-5)


class WritesEvidence:
    """A pickle payload: unpickling it unsafely would create the file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


__all__ = ["WritesEvidence", "assert_takes_raw_pixels", "one_thread", "outputs_equal", "randomised",
           "torch_hub_fixture"]
