"""Shared fixtures: scikit-learn's digits as 1x8x8 images in [0, 1] and tiny students/teachers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from art.estimators.classification import PyTorchClassifier
from sklearn.datasets import load_digits


class TinyConvNet(torch.nn.Module):
    """Conv-BN-ReLU x2 + linear head for 1x8x8 inputs (not a Sequential: ART's wrapper treats those specially)."""

    def __init__(self, width: int = 8, n_classes: int = 10) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1),
            torch.nn.BatchNorm2d(width),
            torch.nn.ReLU(),
            torch.nn.Conv2d(width, 2 * width, 3, padding=1, stride=2),
            torch.nn.BatchNorm2d(2 * width),
            torch.nn.ReLU(),
        )
        self.head = torch.nn.Linear(2 * width * 16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def make_classifier(
    model: torch.nn.Module, *, lr: float = 0.05, momentum: float = 0.9, preprocessing=(0.0, 1.0), n_classes: int = 10
) -> PyTorchClassifier:
    return PyTorchClassifier(
        model,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum),
        input_shape=(1, 8, 8),
        nb_classes=n_classes,
        clip_values=(0.0, 1.0),
        preprocessing=preprocessing,
    )


@pytest.fixture(scope="session", autouse=True)
def private_teacher_cache(tmp_path_factory: pytest.TempPathFactory):
    """The suite's own teacher cache (``ART_BMTAD_CACHE``), never the user's: teachers cached by an earlier run, or
    by another run at the same time, would change what a test trains and reads. Tests that need a cache of their
    own still pass ``cache_dir`` / ``--cache-dir``; subprocesses inherit this one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ART_BMTAD_CACHE", str(tmp_path_factory.mktemp("art-bmtad-cache")))
        yield


@pytest.fixture(scope="session")
def digits():
    """(x, y) of all 1,797 digits: float32 (N, 1, 8, 8) in [0, 1], int64 labels."""
    data = load_digits()
    return (data.images / 16.0).astype(np.float32)[:, None], data.target.astype(np.int64)


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models and tensors: one intra-op thread is far faster than two on a shared 2-core machine (and a
    subprocess started by the test uses the same). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY_BENCH = [  # the smoke preset, smaller still: a few seconds per defence
    "--n-train", "300", "--epochs", "1", "--n-examples", "30",
    "--set", "teachers.robust.epochs=1", "--set", "teachers.clean.epochs=1",
    "--set", "evaluation.apgd_steps=3", "--set", "evaluation.square_queries=10",
    "--set", "evaluation.sanity_examples=10",
]
