"""The paper's settings as presets: the MobileNetV2 student beside ResNet-18 on CIFAR-10, and CIFAR-100 with the
paper's robust teacher; each stops before any work when a teacher's weight file is missing, naming every file and
the folder it goes in."""
from __future__ import annotations

import numpy as np
import pytest

from art_bmtad import cli
from art_bmtad.recipes.presets import list_presets
from art_bmtad.recipes.recipe import check_pretrained_teachers, load_recipe
from art_bmtad.registry import model_cfg
from art_bmtad.utils.errors import ConfigError


def test_the_paper_presets_load_and_differ_only_where_the_paper_does():
    assert {"cifar10-paper", "cifar10-paper-mobilenetv2", "cifar100-paper"} <= set(list_presets())
    resnet = load_recipe("cifar10-paper", overrides={"data.path": "cifar10.npz"})  # CIFAR-10 is never assumed
    mobilenet = load_recipe("cifar10-paper-mobilenetv2", overrides={"data.path": "cifar10.npz"})
    assert mobilenet.student.model == "cifar/cifar10_mobilenetv2_x1_0"
    assert model_cfg(mobilenet.student.model).num_classes == 10
    assert resnet.student.model == "resnet18" and resnet.student.cifar_stem
    for group in ("data", "teachers", "threat", "schedule", "balancing", "evaluation"):
        assert getattr(mobilenet, group) == getattr(resnet, group), group
    assert mobilenet.schedule.epochs == 300 and mobilenet.schedule.milestones == [215, 260, 285]

    cifar100 = load_recipe("cifar100-paper")
    assert cifar100.data.source == "cifar100" and cifar100.data.path is None  # no default path: --data-path
    assert cifar100.teachers.robust.model == "robustbench/cifar100/Linf/Gowal2020Uncovering"
    assert cifar100.teachers.clean.model == "cifar/cifar100_resnet56"
    assert cifar100.teachers.robust.pretrained and cifar100.teachers.clean.pretrained
    for role in ("robust", "clean"):
        assert model_cfg(getattr(cifar100.teachers, role).model).num_classes == 100
    assert cifar100.balancing.kl_scale == 10.0  # the released CIFAR-100 scripts
    assert cifar100.schedule == resnet.schedule and cifar100.student == resnet.student


def test_every_missing_weight_file_is_named_with_its_folder(tmp_path):
    weights = tmp_path / "weights"
    recipe = load_recipe("cifar100-paper", None, {"teachers.weights_dir": str(weights)})
    with pytest.raises(ConfigError) as caught:
        check_pretrained_teachers(recipe, ["robust", "clean"])
    message = str(caught.value)
    assert f"teachers.robust.model: robustbench/cifar100/Linf/Gowal2020Uncovering: weight file not found: " \
           f"{weights}/cifar100/Linf/Gowal2020Uncovering.pt" in message
    assert f"in the folder {weights}/cifar100/Linf" in message
    assert f"teachers.clean.model: cifar/cifar100_resnet56: weight file not found: " \
           f"{weights}/cifar100_resnet56-f2eff4c8.pt" in message
    assert "lets the zoo fetch them" in message


@pytest.mark.parametrize("preset, files", [
    ("cifar10-paper-mobilenetv2", ["cifar10/Linf/Zhang2019Theoretically.pt", "cifar10_resnet56-187c023a.pt"]),
    ("cifar100-paper", ["cifar100/Linf/Gowal2020Uncovering.pt", "cifar100_resnet56-f2eff4c8.pt"]),
])
def test_train_and_bench_stop_before_any_work_without_the_weights(preset, files, tmp_path, capsys):
    weights, data = tmp_path / "weights", tmp_path / "no-data-here"
    for command, out in (("train", tmp_path / "run"), ("bench", tmp_path / "bench")):
        status = cli.main(["--quiet", command, "--preset", preset, "--data-path", str(data), "--weights-dir",
                           str(weights), "--out", str(out)])
        assert status == 2
        err = capsys.readouterr().err
        for name in files:
            assert str(weights / name) in err, (command, err)
        assert "Traceback" not in err
        assert not out.exists()  # nothing was started: no run folder
        assert not data.exists()  # the data were not touched


class _FakeCIFAR100:
    """torchvision.datasets.CIFAR100's interface (data NHWC uint8, targets, classes) without its files."""

    base_folder = "cifar-100-python"

    def __init__(self, root: str, train: bool, download: bool) -> None:
        n = 300 if train else 200
        self.data = np.random.default_rng(int(train)).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.targets = list(np.arange(n) % 100)
        self.classes = [f"class{k}" for k in range(100)]


def test_cifar100_loads_from_torchvision_and_from_an_npz_with_its_statistics(tmp_path, monkeypatch):
    import torchvision

    from art_bmtad.data.catalog import KNOWN_DATASETS
    from art_bmtad.pipeline.components import open_dataset

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", _FakeCIFAR100)
    data = open_dataset("cifar100", str(tmp_path), val_size=100, seed=0)
    assert data.nb_classes == 100 and data.input_shape == (3, 32, 32)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (200, 100, 200)
    assert data.mean == KNOWN_DATASETS["cifar100"].mean and data.class_names[7] == "class7"

    fake = _FakeCIFAR100("", True, False)
    np.savez(tmp_path / "cifar100.npz", x_train=fake.data, y_train=np.array(fake.targets), x_test=fake.data[:100],
             y_test=np.array(fake.targets[:100]))
    from_npz = open_dataset("npz", str(tmp_path / "cifar100.npz"), val_size=0.2, seed=0)
    assert from_npz.nb_classes == 100 and from_npz.mean == KNOWN_DATASETS["cifar100"].mean  # the file's stem
