"""End to end through the CLI: a B-MTARD student distilled from a clean teacher of a non-timm zoo (``cifar/resnet20``,
its published file in the torch hub layout), and a missing weight file stopping the run before any work."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from art_bmtad import cli
from art_bmtad.testing import torch_hub_fixture  # noqa: F401  (the fixture hub)

pytest.importorskip("art_bmtad_cifar", reason="the cifar zoo adapter (adapters/cifar) is not installed")

from art_bmtad_cifar import architectures  # noqa: E402  (after the skip)

HUB_FILE = "cifar10_resnet20-4118986f.pt"


@pytest.fixture(scope="module")
def synthetic_npz(tmp_path_factory) -> Path:
    """A tiny 10-class 32x32x3 dataset in the npz layout: a colour per class plus noise."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 120), ("test", 40)):
        labels = np.arange(n) % 10
        colour = (labels[:, None] * np.array([25, 11, 7]) % 256)[:, None, None, :]
        images = np.clip(colour + rng.normal(0, 20, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels.astype(np.int64)
    path = tmp_path_factory.mktemp("data") / "synthetic.npz"
    np.savez(path, **arrays)
    return path


def train_args(data: Path, run: Path, cache: Path) -> list[str]:
    """A smoke-sized B-MTARD run on the synthetic data; the robust teacher (timm) trained here for one epoch."""
    return ["--quiet", "train", "--preset", "smoke", "--data", str(data), "--out", str(run), "--cache-dir", str(cache),
            "--epochs", "1", "--n-examples", "10", "--set", "teachers.robust.epochs=1", "--set", "threat.max_iter=2",
            "--set", "schedule.batch_size=60", "--clean-teacher", "cifar/resnet20"]


@pytest.mark.slow
def test_train_distils_from_a_cifar_zoo_teacher_in_the_hub_layout(synthetic_npz, hub, tmp_path):
    torch.manual_seed(0)
    torch.save(architectures.build("resnet20", 10).state_dict(), hub / HUB_FILE)  # published format: a plain state dict
    run = tmp_path / "run"
    assert cli.main(train_args(synthetic_npz, run, tmp_path / "cache")) == 0
    assert (run / "student.safetensors").is_file()
    sidecar = json.loads((run / "student.json").read_text())
    assert sidecar["input_shape"] == [3, 32, 32] and sidecar["num_classes"] == 10
    recipe = (run / "config.yaml").read_text()
    assert "model: cifar/resnet20" in recipe and "pretrained: true" in recipe


def test_a_missing_zoo_file_stops_before_any_work_naming_the_file(synthetic_npz, hub, tmp_path, capsys):
    run, cache = tmp_path / "run", tmp_path / "cache"
    assert cli.main(train_args(synthetic_npz, run, cache)) == 2
    error = capsys.readouterr().err
    assert f"weight file not found: {hub / HUB_FILE}." in error and f"in the folder {hub} " in error
    assert "Traceback" not in error
    assert not cache.exists() and not (run / "student.safetensors").exists()  # no teacher trained, no student
