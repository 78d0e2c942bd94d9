"""Datasets as float32 NCHW arrays in [0, 1], with a seeded held-out validation split.

Sources:

* ``"digits"``: scikit-learn's 8x8 digits (1,797 images, no download), as 1x8x8 images;
  the test split (20 %) is drawn here, seeded and stratified.
* ``"cifar10"`` / ``"cifar100"``: torchvision's layout under ``root``
  (``torchvision.datasets.CIFAR10(root, download=download)``).
* ``"npz"`` (or a source ending in ``.npz``): arrays ``x_train``, ``y_train``, ``x_test``,
  ``y_test`` as uint8 NHWC images (optional ``class_names``),
  e.g. ``data/cifar10.npz`` (the docs' CLI page writes it with torchvision).
* ``"imagefolder"``: ``root/train/<class>/**/image`` plus an evaluation split in ``root/val``
  (class sub-folders, or Tiny-ImageNet's ``images/`` + ``val_annotations.txt``) or ``root/test``;
  every image is converted to RGB and resized to ``image_size`` x ``image_size``.

Normalisation statistics come from :data:`KNOWN_DATASETS` when the dataset's name (the source, the
npz file's stem or the image folder's name) is a preset, and are otherwise computed per
channel from the training split.
"""
from __future__ import annotations

import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.model_selection import train_test_split

from art_bmtad.data.catalog import KNOWN_DATASETS, SOURCES, DatasetPreset


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
DIGITS_TEST_FRACTION = 0.2


@dataclass
class Dataset:
    """Train / validation / test arrays (float32 NCHW in [0, 1], int64 labels) and their metadata."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image, (C, H, W)."""
        return tuple(self.x_train.shape[1:])

    @property
    def nb_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


@dataclass
class _Split:
    """Labels of one split and a function that materialises the images at given indices."""

    labels: np.ndarray
    images: Callable[[np.ndarray], np.ndarray]


@dataclass
class _Source:
    name: str
    train: _Split
    test: _Split
    class_names: tuple[str, ...]


def get_preset(name: str) -> DatasetPreset:
    """The preset of a known dataset.

    Args:
        name: One of :data:`KNOWN_DATASETS`.

    Returns:
        The preset.

    Raises:
        ValueError: Unknown name.
    """
    if name not in KNOWN_DATASETS:
        raise ValueError(f"unknown dataset preset {name!r}; known presets: {sorted(KNOWN_DATASETS)}")
    return KNOWN_DATASETS[name]


def load_dataset(
    source: str = "digits",
    *,
    root: str | Path | None = None,
    path: str | Path | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    val_size: float | int = 0.1,
    seed: int = 0,
    download: bool = False,
    image_size: int = 64,
) -> Dataset:
    """Load a dataset, take optional seeded subsets and split a validation set off the training data.

    ``n_train`` caps the training pool first; the validation set is then split off that pool
    (never off the test data), so ``len(x_train) + len(x_val) == n_train``. Subsets and the split
    are stratified by class whenever every class can contribute, and deterministic in ``seed``.

    Args:
        source: ``"digits"``, ``"cifar10"``, ``"cifar100"``, ``"npz"``, ``"imagefolder"``, or a path
            ending in ``.npz``.
        root: Folder of the torchvision CIFAR layout or of the image-folder tree.
        path: The ``.npz`` file for ``source="npz"``.
        n_train: Size of the training pool (train + validation); ``None`` keeps all.
        n_test: Size of the test subset; ``None`` keeps all.
        val_size: Validation set as a fraction of the training pool (``0 <= f < 1``) or a count.
        seed: Seed of the subsets and of the splits.
        download: Passed to torchvision for CIFAR (only works on a machine that is online).
        image_size: Side length that image-folder images are resized to.

    Returns:
        The dataset.

    Raises:
        FileNotFoundError: The file or folder is missing.
        ValueError: Unknown source, wrong npz keys or dtypes, or subset sizes out of range.
    """
    src = _read_source(source, root=root, path=path, download=download, image_size=image_size, seed=seed)
    pool = _subset(src.train.labels, n_train, seed, what="n_train")
    fit, val = _split_off(src.train.labels[pool], _val_count(val_size, len(pool)), seed)
    test = _subset(src.test.labels, n_test, seed, what="n_test")
    x_train = src.train.images(pool[fit])
    mean, std = _statistics(src.name, x_train)
    return Dataset(
        name=src.name,
        x_train=x_train,
        y_train=src.train.labels[pool[fit]],
        x_val=src.train.images(pool[val]),
        y_val=src.train.labels[pool[val]],
        x_test=src.test.images(test),
        y_test=src.test.labels[test],
        class_names=src.class_names,
        mean=mean,
        std=std,
    )


def _read_source(source: str, *, root, path, download: bool, image_size: int, seed: int) -> _Source:
    if source.endswith(".npz"):
        return _read_npz(Path(source))
    if source == "digits":
        return _read_digits(seed)
    if source in ("cifar10", "cifar100"):
        return _read_torchvision_cifar(source, _required(root, "root", source), download)
    if source == "npz":
        return _read_npz(Path(_required(path, "path", source)))
    if source == "imagefolder":
        return _read_image_folder(Path(_required(root, "root", source)), image_size)
    raise ValueError(f"unknown dataset source {source!r}; use one of {SOURCES} or a path ending in .npz")


def _required(value, option: str, source: str):
    if value is None:
        raise ValueError(f"dataset source {source!r} needs {option}=")
    return value


def _array_split(images: np.ndarray, labels: np.ndarray, scale: float) -> _Split:
    """A split over in-memory NHWC (or NHW) arrays with pixel values in [0, scale]."""
    return _Split(labels.astype(np.int64), lambda idx: _to_nchw(images[idx], scale))


def _to_nchw(images: np.ndarray, scale: float) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., None]
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(scale)


def _read_digits(seed: int) -> _Source:
    from sklearn.datasets import load_digits

    digits = load_digits()
    labels = digits.target.astype(np.int64)
    train, test = _split_off(labels, round(DIGITS_TEST_FRACTION * len(labels)), seed)
    return _Source(
        name="digits",
        train=_array_split(digits.images[train], labels[train], 16.0),
        test=_array_split(digits.images[test], labels[test], 16.0),
        class_names=tuple(str(name) for name in digits.target_names),
    )


def _read_torchvision_cifar(name: str, root, download: bool) -> _Source:
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    try:
        train, test = (cls(str(root), train=flag, download=download) for flag in (True, False))
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{name} not found under {root} in torchvision's layout ({cls.base_folder}/); pass "
            f"download=True on a machine that is online, or use source='npz' with path=: {err}"
        ) from err
    return _Source(
        name=name,
        train=_array_split(np.asarray(train.data), np.asarray(train.targets), 255.0),
        test=_array_split(np.asarray(test.data), np.asarray(test.targets), 255.0),
        class_names=tuple(train.classes),
    )


def _read_npz(path: Path) -> _Source:
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    arrays, names = _load_npz_arrays(path)
    for key in ("x_train", "x_test"):
        _check_npz_images(path, key, arrays[key])
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(f"{path}: x_train images are {arrays['x_train'].shape[1:]} but x_test images are "
                         f"{arrays['x_test'].shape[1:]}; both splits need the same image shape")
    for split in ("train", "test"):
        _check_npz_labels(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"])
    nb_classes = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    if names is not None:
        if names.ndim != 1 or not np.issubdtype(names.dtype, np.str_):
            raise ValueError(f"{path}: class_names must be a 1-D array of strings, got {names.dtype} {names.shape}")
        if len(names) < nb_classes:
            raise ValueError(f"{path}: class_names has {len(names)} names but the labels go up to {nb_classes - 1}, "
                             f"so at least {nb_classes} names are needed")
    return _Source(
        name=path.stem,
        train=_array_split(arrays["x_train"], arrays["y_train"], 255.0),
        test=_array_split(arrays["x_test"], arrays["y_test"], 255.0),
        class_names=tuple(str(n) for n in names) if names is not None else tuple(map(str, range(nb_classes))),
    )


def _load_npz_arrays(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The four arrays (and ``class_names``) of an npz file, every reading failure named by file and key."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a readable .npz archive (truncated or damaged?): {err}") from err
    except ValueError as err:
        if "pickle" not in str(err):
            raise
        raise ValueError(f"{path} is not an .npz archive of numeric arrays (a text file, or a pickle, which is "
                         "never loaded); write it with numpy.savez") from None
    if not hasattr(npz, "files"):
        raise ValueError(f"{path} holds a single .npy array, not an .npz archive")
    with npz:
        missing = [key for key in NPZ_KEYS if key not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks the keys {missing}; expected {list(NPZ_KEYS)}, found {npz.files}")
        wanted = [*NPZ_KEYS, *(["class_names"] if "class_names" in npz.files else [])]
        arrays = {key: _npz_member(npz, key, path) for key in wanted}
    return arrays, arrays.pop("class_names", None)


def _npz_member(npz: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as err:
        if "pickle" not in str(err):
            raise
        raise ValueError(f"{path}: {key} is an array of Python objects, which is never unpickled; store numbers "
                         "(and class_names as a numpy string array)") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ValueError(f"{path}: {key} cannot be read (truncated or damaged archive?): {err}") from err


def _check_npz_images(path: Path, key: str, images: np.ndarray) -> None:
    """uint8 NHWC (or NHW) images with 1 or 3 channels, at least one."""
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"{path}: {key} must be uint8 images NHWC (or NHW), got {images.dtype} {images.shape}")
    if len(images) == 0:
        raise ValueError(f"{path}: {key} holds no images")
    if images.ndim == 4 and images.shape[-1] not in (1, 3):
        looks_nchw = images.shape[1] in (1, 3)
        hint = (f"; it looks like NCHW (channels first): store NHWC, e.g. numpy.transpose({key}, (0, 2, 3, 1))"
                if looks_nchw else "")
        raise ValueError(f"{path}: {key} has shape {images.shape}: the last axis must be the 1 or 3 colour "
                         f"channels (NHWC){hint}")


def _check_npz_labels(path: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Integer class indices, one per image, none negative."""
    key = f"y_{split}"
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise ValueError(f"{path}: {key} has shape {labels.shape}, which looks like one-hot labels; store class "
                         f"indices instead ({key}.argmax(axis=1))")
    if labels.ndim != 1:
        raise ValueError(f"{path}: {key} must be a 1-D array of class indices, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: {key} must hold integer class indices, got dtype {labels.dtype} (for names, "
                         "store indices in y_* and the names in class_names)")
    if len(labels) != len(images):
        raise ValueError(f"{path}: {key} has {len(labels)} labels but x_{split} has {len(images)} images")
    if labels.min() < 0:
        raise ValueError(f"{path}: {key} holds the negative label {labels.min()}; class indices start at 0")


def _read_image_folder(root: Path, image_size: int) -> _Source:
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise FileNotFoundError(f"image folder tree needs {train_dir}/<class>/ sub-folders")
    eval_dir = next((root / name for name in ("val", "test") if (root / name).is_dir()), None)
    if eval_dir is None:
        raise FileNotFoundError(f"image folder tree needs an evaluation split in {root / 'val'} or {root / 'test'}")
    class_names = tuple(sorted(entry.name for entry in train_dir.iterdir() if entry.is_dir()))
    if not class_names:
        raise FileNotFoundError(f"no class sub-folders in {train_dir}")
    index = {name: i for i, name in enumerate(class_names)}
    return _Source(
        name=root.name,
        train=_file_split(*_list_class_folders(train_dir, index), image_size),
        test=_file_split(*_list_eval_folder(eval_dir, index), image_size),
        class_names=class_names,
    )


def _list_class_folders(folder: Path, index: dict[str, int]) -> tuple[list[Path], np.ndarray]:
    unknown = sorted(e.name for e in folder.iterdir() if e.is_dir() and e.name not in index)
    if unknown:
        raise ValueError(f"{folder} has class folders {unknown} that the training split does not have")
    pairs = [
        (file, label)
        for name, label in index.items()
        if (folder / name).is_dir()
        for file in sorted((folder / name).rglob("*"))
        if file.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not pairs:
        raise FileNotFoundError(f"no images ({sorted(IMAGE_SUFFIXES)}) under {folder}")
    empty = sorted(name for name, label in index.items()
                   if (folder / name).is_dir() and not any(found == label for _, found in pairs))
    if empty:
        raise ValueError(f"{folder}: the class folders {empty} hold no images ({sorted(IMAGE_SUFFIXES)}); remove "
                         "them or add images")
    files, labels = zip(*pairs)
    return list(files), np.array(labels, dtype=np.int64)


def _list_eval_folder(folder: Path, index: dict[str, int]) -> tuple[list[Path], np.ndarray]:
    """Class sub-folders, or Tiny-ImageNet's ``images/`` with ``val_annotations.txt``."""
    annotations = folder / "val_annotations.txt"
    if not annotations.is_file():
        return _list_class_folders(folder, index)
    rows = [line.split("\t")[:2] for line in annotations.read_text().splitlines() if line.strip()]
    if not rows or any(len(row) < 2 for row in rows):
        raise ValueError(f"{annotations} must list one 'image<TAB>class' line per image of {folder / 'images'}")
    unknown = sorted({wnid for _, wnid in rows if wnid not in index})
    if unknown:
        raise ValueError(f"{annotations} names classes {unknown[:5]} that the training split does not have")
    return [folder / "images" / name for name, _ in rows], np.array([index[w] for _, w in rows], dtype=np.int64)


def _file_split(files: list[Path], labels: np.ndarray, image_size: int) -> _Split:
    return _Split(labels, lambda idx: _to_nchw(_decode([files[i] for i in idx], image_size), 255.0))


def _decode(files: list[Path], image_size: int) -> np.ndarray:
    from PIL import Image

    def read(file: Path) -> np.ndarray:
        try:
            with Image.open(file) as image:
                return np.asarray(image.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
        except (OSError, SyntaxError, ValueError) as err:  # PIL: unidentified, truncated or damaged image files
            raise ValueError(f"cannot read the image {file}: {err}; remove or replace it") from err

    return np.stack([read(file) for file in files]) if files else np.zeros((0, image_size, image_size, 3), np.uint8)


def _statistics(name: str, x_train: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if name in KNOWN_DATASETS:
        return KNOWN_DATASETS[name].mean, KNOWN_DATASETS[name].std
    if len(x_train) == 0:
        raise ValueError(f"dataset {name!r} has no training images to compute mean and std from")
    axes = (0, 2, 3)
    return tuple(x_train.mean(axis=axes).tolist()), tuple(x_train.std(axis=axes).tolist())


def _val_count(val_size: float | int, pool: int) -> int:
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise ValueError(f"val_size must be a fraction or a count, got {val_size!r}")
    if isinstance(val_size, float) and not 0 <= val_size < 1:
        raise ValueError(f"val_size={val_size} must be a fraction in [0, 1) or an integer count")
    count = round(val_size * pool) if isinstance(val_size, float) else val_size
    if val_size and count == 0:
        raise ValueError(f"val_size={val_size} of a training pool of {pool} examples rounds to no validation example; "
                         f"use a larger fraction or a count, or val_size 0 (and no checkpoint selection)")
    if not 0 <= count < pool:
        raise ValueError(f"val_size={val_size!r} leaves no training data: the training pool has {pool} examples")
    return count


def _subset(labels: np.ndarray, size: int | None, seed: int, *, what: str) -> np.ndarray:
    everything = np.arange(len(labels))
    if size is None:
        return everything
    if not 0 < size <= len(labels):
        raise ValueError(f"{what}={size} is out of range: the split has {len(labels)} examples")
    return _split_off(labels, len(labels) - size, seed)[0]


def _split_off(labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``count`` indices off ``labels`` (seeded, stratified when each class can contribute).

    Returns:
        ``(kept, split_off)``, both sorted.
    """
    indices = np.arange(len(labels))
    if count == 0:
        return indices, indices[:0]
    present = np.bincount(labels)
    present = present[present > 0]
    stratifiable = present.min() >= 2 and len(present) <= count <= len(labels) - len(present)
    kept, split = train_test_split(
        indices, test_size=count, random_state=seed, stratify=labels if stratifiable else None
    )
    return np.sort(kept), np.sort(split)


def check_dataset(data: Dataset, *, source: str | None = None) -> Dataset:
    """Check a dataset from any source (a plugin's included) before anything trains on it.

    Args:
        data: the dataset.
        source: where it came from, for messages (default: its name).

    Returns:
        ``data``.

    Raises:
        ValueError: naming the split and what is wrong: not float32 NCHW images in [0, 1] with 1 or 3 channels
            (or finite values), splits of different image shapes, an empty training or test split, labels that
            are not integer indices in range or do not match the images in number, too few class names.
    """
    if not isinstance(data, Dataset):
        raise ValueError(f"dataset source {source!r} gave a {type(data).__name__}, not an art_bmtad.data.datasets.Dataset; "
                         "its plugin is broken")
    where = f"dataset {source or data.name!r}"
    shape = data.x_train.shape[1:]
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[1:] != shape:
            raise ValueError(f"{where}: x_{split} has shape {x.shape}; expected N x C x H x W images (C = 1 or 3) "
                             f"of the training shape {shape}")
        if x.dtype != np.float32:
            raise ValueError(f"{where}: x_{split} must be float32 in [0, 1], got {x.dtype}")
        if len(x) and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise ValueError(f"{where}: x_{split} values must be finite and in [0, 1], got [{np.nanmin(x):.4g}, "
                             f"{np.nanmax(x):.4g}]")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{where}: y_{split} must hold one integer class index per image, got {y.dtype} "
                             f"{y.shape} for {len(x)} images")
        if len(y) and (y.min() < 0 or y.max() >= data.nb_classes):
            raise ValueError(f"{where}: y_{split} labels lie in [{y.min()}, {y.max()}], outside the "
                             f"{data.nb_classes} classes [0, {data.nb_classes - 1}] its class_names define")
    for split in ("train", "test"):
        if len(getattr(data, f"x_{split}")) == 0:
            raise ValueError(f"{where}: the {split} split is empty")
    return data


def dataset_digest(data: Dataset) -> str:
    """SHA-256 of a dataset's splits (images and labels of train, validation and test) and class names: a
    resumed run compares it with the digest its checkpoints recorded."""
    digest = hashlib.sha256(repr(data.class_names).encode())
    for split in ("train", "val", "test"):
        for array in (getattr(data, f"x_{split}"), getattr(data, f"y_{split}")):
            digest.update(f"{split}{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
