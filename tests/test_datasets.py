"""Dataset sources, splits and subsets, and the batched crop/flip augmentation."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from art_bmtad.algorithm.augment import random_crop_flip
from art_bmtad.data.datasets import KNOWN_DATASETS, load_dataset

CIFAR10_NPZ = os.environ.get("ART_BMTAD_CIFAR10")
"""The real CIFAR-10 as one .npz file, where the environment has it (.ci/run sets it when the file exists)."""


def _rows(x: np.ndarray) -> list[bytes]:
    return sorted(image.tobytes() for image in x)


def test_digits_default_source():
    data = load_dataset()
    assert data.name == "digits" and data.nb_classes == 10 and data.input_shape == (1, 8, 8)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (1294, 144, 359)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64 and len(x) == len(y)
        assert x.min() == 0.0 and x.max() == 1.0
    assert (data.mean, data.std) == (KNOWN_DATASETS["digits"].mean, KNOWN_DATASETS["digits"].std)
    assert set(np.bincount(data.y_val)) <= {14, 15}  # stratified: ~10 % of each class

    from sklearn.datasets import load_digits

    everything = np.concatenate([data.x_train, data.x_val, data.x_test])
    assert _rows(everything) == _rows((load_digits().images / 16.0).astype(np.float32)[:, None])


def test_splits_are_seeded():
    first, again, other = load_dataset(seed=3), load_dataset(seed=3), load_dataset(seed=4)
    np.testing.assert_array_equal(first.x_val, again.x_val)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_val, other.x_val)


def test_subsets_and_validation_count():
    data = load_dataset(n_train=200, n_test=50, val_size=30, seed=1)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (170, 30, 50)
    assert np.bincount(data.y_val, minlength=10).min() == 3
    assert len(load_dataset(val_size=0).x_val) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_size": 1.5}, r"val_size=1\.5 must be a fraction in \[0, 1\)"),
        ({"n_train": 10, "val_size": 10}, "leaves no training data"),
        ({"n_train": 5000}, "n_train=5000 is out of range: the split has 1438 examples"),
        ({"n_test": 0}, "n_test=0 is out of range"),
        ({"source": "mnist"}, "unknown dataset source 'mnist'"),
        ({"source": "cifar10"}, "needs root="),
        ({"source": "npz"}, "needs path="),
    ],
)
def test_dataset_errors_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(**kwargs)


@pytest.fixture
def small_npz(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8),
        "y_train": np.repeat(np.arange(4), 10),
        "x_test": rng.integers(0, 256, (12, 6, 6, 3), dtype=np.uint8),
        "y_test": np.repeat(np.arange(4), 3),
        "class_names": np.array(["a", "b", "c", "d"]),
    }
    path = tmp_path / "toy.npz"
    np.savez(path, **arrays)
    return path, arrays


def test_npz_source(small_npz):
    path, arrays = small_npz
    data = load_dataset("npz", path=path, val_size=0)
    assert data.name == "toy" and data.class_names == ("a", "b", "c", "d") and data.input_shape == (3, 6, 6)
    np.testing.assert_array_equal(data.x_train, arrays["x_train"].transpose(0, 3, 1, 2).astype(np.float32) / 255)
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    np.testing.assert_allclose(data.mean, data.x_train.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(data.std, data.x_train.std(axis=(0, 2, 3)), rtol=1e-6)

    by_path = load_dataset(str(path), val_size=8, n_test=4)
    assert (len(by_path.x_train), len(by_path.x_val), len(by_path.x_test)) == (32, 8, 4)
    assert np.bincount(by_path.y_val).tolist() == [2, 2, 2, 2]


def test_npz_errors(tmp_path, small_npz):
    path, arrays = small_npz
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_dataset("npz", path=tmp_path / "missing.npz")
    np.savez(tmp_path / "nokeys.npz", x_train=arrays["x_train"], y_train=arrays["y_train"])
    with pytest.raises(ValueError, match=r"lacks the keys \['x_test', 'y_test'\]"):
        load_dataset(str(tmp_path / "nokeys.npz"))
    np.savez(tmp_path / "floats.npz", **dict(arrays, x_train=arrays["x_train"] / 255.0))
    with pytest.raises(ValueError, match="x_train must be uint8 images"):
        load_dataset(str(tmp_path / "floats.npz"))


@pytest.mark.skipif(not (CIFAR10_NPZ and Path(CIFAR10_NPZ).is_file()),
                    reason="set ART_BMTAD_CIFAR10 to the CIFAR-10 .npz file to run this test")
def test_real_cifar10_npz():
    data = load_dataset(CIFAR10_NPZ, n_train=100, n_test=50, val_size=10)
    assert data.name == "cifar10" and data.input_shape == (3, 32, 32) and data.nb_classes == 10
    assert data.class_names[:3] == ("airplane", "automobile", "bird")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (90, 10, 50)
    assert np.bincount(data.y_test).tolist() == [5] * 10
    assert (data.mean, data.std) == (KNOWN_DATASETS["cifar10"].mean, KNOWN_DATASETS["cifar10"].std)
    assert 0.3 < data.x_train.mean() < 0.6 and data.x_train.max() <= 1.0


def test_torchvision_cifar_layout(tmp_path, monkeypatch):
    import torchvision

    with pytest.raises(FileNotFoundError, match=r"cifar10 not found under .* download=True"):
        load_dataset("cifar10", root=tmp_path)

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            n = 20 if train else 10
            self.data = np.full((n, 32, 32, 3), 51 if train else 204, dtype=np.uint8)
            self.targets = [i % 10 for i in range(n)]
            self.classes = [f"class{i}" for i in range(10)]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    data = load_dataset("cifar10", root=tmp_path, val_size=0)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
    assert np.allclose(data.x_train, 0.2) and np.allclose(data.x_test, 0.8)
    assert data.class_names[0] == "class0" and data.mean == KNOWN_DATASETS["cifar10"].mean


COLOURS = {"cat": (255, 0, 0), "dog": (0, 0, 255)}


def _image(path: Path, colour, size=(10, 12)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_tree(tmp_path):
    for name, colour in COLOURS.items():
        for i in range(3):
            _image(tmp_path / "pets" / "train" / name / f"{i}.png", colour)
        _image(tmp_path / "pets" / "val" / name / "0.png", colour)
    data = load_dataset("imagefolder", root=tmp_path / "pets", image_size=8, val_size=2)
    assert data.name == "pets" and data.class_names == ("cat", "dog") and data.input_shape == (3, 8, 8)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (4, 2, 2)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        red, blue = x[:, 0].mean(axis=(1, 2)), x[:, 2].mean(axis=(1, 2))
        np.testing.assert_array_equal(y, (blue > red).astype(np.int64))  # cat = red = 0, dog = blue = 1


def test_image_folder_tiny_imagenet_val_layout(tmp_path):
    for name, colour in COLOURS.items():
        _image(tmp_path / "train" / name / "images" / f"{name}_0.JPEG", colour)
        _image(tmp_path / "train" / name / "images" / f"{name}_1.JPEG", colour)
    _image(tmp_path / "val" / "images" / "val_0.JPEG", COLOURS["dog"])
    _image(tmp_path / "val" / "images" / "val_1.JPEG", COLOURS["cat"])
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tdog\t0\t0\t8\t8\nval_1.JPEG\tcat\t0\t0\t8\t8\n")
    data = load_dataset("imagefolder", root=tmp_path, image_size=4, val_size=0)
    assert data.y_test.tolist() == [1, 0] and data.x_test[0, 2].mean() > 0.9 and data.x_test[1, 0].mean() > 0.9


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train"):
        load_dataset("imagefolder", root=tmp_path)
    _image(tmp_path / "train" / "cat" / "0.png", COLOURS["cat"])
    with pytest.raises(FileNotFoundError, match="evaluation split"):
        load_dataset("imagefolder", root=tmp_path)
    _image(tmp_path / "test" / "cow" / "0.png", COLOURS["cat"])
    with pytest.raises(ValueError, match=r"class folders \['cow'\]"):
        load_dataset("imagefolder", root=tmp_path)


# --- augmentation ---------------------------------------------------------------------------


def _batch(b: int = 16, c: int = 3, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(0)) + 0.5  # no zeros inside


def test_augment_without_crop_or_flip_is_identity():
    x = _batch()
    assert torch.equal(random_crop_flip(x, padding=0, flip=False), x)


def test_flip_only_mirrors_some_images_and_is_its_own_inverse():
    x = _batch(64)
    once = random_crop_flip(x, padding=0, generator=torch.Generator().manual_seed(5))
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(once, x)]
    kept = [torch.equal(o, i) for o, i in zip(once, x)]
    assert all(m != k for m, k in zip(mirrored, kept)) and 16 < sum(mirrored) < 48
    twice = random_crop_flip(once, padding=0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(twice, x)


def test_crop_is_a_window_of_the_zero_padded_image():
    x, padding = _batch(), 2
    out = random_crop_flip(x, padding=padding, flip=False, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    padded = F.pad(x, (padding,) * 4)
    offsets = []
    for image, source in zip(out, padded):
        matches = [
            (top, left)
            for top in range(2 * padding + 1)
            for left in range(2 * padding + 1)
            if torch.equal(image, source[:, top : top + 8, left : left + 8])
        ]
        assert len(matches) == 1
        offsets.append(matches[0])
    assert len(set(offsets)) > 5  # offsets vary over the batch


def test_augment_is_reproducible_and_keeps_memory_format_working():
    x = _batch().to(memory_format=torch.channels_last)
    first = random_crop_flip(x, generator=torch.Generator().manual_seed(9))
    second = random_crop_flip(x, generator=torch.Generator().manual_seed(9))
    assert torch.equal(first, second) and not torch.equal(first, x)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) batch, got shape \(3, 8, 8\)"):
        random_crop_flip(x[0])
