"""The student as a timm model folder, the layout timm loads from the Hugging Face hub or a local folder.

``art-bmtad export RUN --format timm --out DIR`` writes::

    DIR/config.json          architecture, num_classes, label_names, model_args (in_chans, the zoo options) and a
                             pretrained_cfg with the student's input_size, mean, std and label names
    DIR/model.safetensors    the network's weights (timm's own parameter names)
    DIR/README.md            the model card (:mod:`~art_bmtad.deploy.model_card`)

and ``timm.create_model("local-dir:DIR", pretrained=True)`` (timm 1.0 or later) rebuilds the student's network.

Normalisation: art-bmtad keeps ``(x - mean) / std`` inside its classifier (ART preprocessing) and the network
takes normalised inputs; a timm model does the same split, with the normalisation in its data config
(``timm.data.resolve_model_data_config``, applied by ``timm.data.create_transform``). So the folder holds the bare
network and ``pretrained_cfg`` carries the student's own mean and std: ``model((x - mean) / std)`` equals the
student's logits for [0, 1] pixels ``x``. ``crop_pct`` is 1, so timm's evaluation transform leaves images of the
input size as they are.

Verification: the folder is written beside its destination, loaded back with ``timm.create_model("local-dir:...",
pretrained=True)`` and run on real test images of the student's dataset; its logits must equal the student's
within ``1e-4 x max(1, max |logit|)`` (on the CPU they are identical), else nothing is written.

Only a student whose architecture timm can rebuild by name qualifies: a ``timm/...`` model without art-bmtad's
CIFAR stem (which replaces timm's stem, so ``timm.create_model`` would build a different network). Any other
student is refused with the formats it can take instead.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from art_bmtad.deploy.export import RELATIVE_TOLERANCE, VERIFY_BATCH, VERIFY_IMAGES, verification_images
from art_bmtad.deploy.model_card import Evaluation, find_evaluation, model_card
from art_bmtad.deploy.sources import ModelSource, load_source, student_weights
from art_bmtad.models.classifier import model_spec
from art_bmtad.models.spec import ModelSpec
from art_bmtad.run import check_creatable_folder, write_atomic

CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"
FOLDER_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
DEFAULT_FOLDER = "timm"
"""The folder written into the run folder when no ``--out`` is given."""
OTHER_FORMATS = ("safetensors", "onnx", "torchscript")
"""What a student that timm cannot rebuild can be exported as instead."""
ART_BMTAD_OPTIONS = ("cifar_stem",)
"""Model options of art-bmtad's timm zoo that ``timm.create_model`` does not know."""
DROPPED_CFG_KEYS = ("url", "hf_hub_id", "hf_hub_filename", "file", "state_dict", "source", "tag", "license",
                    "test_input_size", "test_crop_pct", "min_input_size", "label_offset", "origin_url", "paper_ids",
                    "paper_name", "notes", "custom_load")
"""Keys of timm's default ``pretrained_cfg`` that describe its published weights, not the student's."""


class NotATimmModelError(ValueError):
    """The student's architecture is not one ``timm.create_model`` rebuilds by name."""


@dataclass(frozen=True)
class TimmFolder:
    """What :func:`export_timm_folder` wrote.

    Attributes:
        path: the folder.
        architecture: the timm architecture in ``config.json``.
        evaluation: the report whose numbers the card holds (``None``: the card says the student is not evaluated).
        n_verified: test images the folder was checked on.
        max_abs_diff: the largest logit difference between the folder loaded by timm and the student.
    """

    path: Path
    architecture: str
    evaluation: Path | None
    n_verified: int
    max_abs_diff: float

    def describe(self) -> str:
        """One line, for the CLI."""
        card = f"card numbers from {self.evaluation}" if self.evaluation else "card without evaluation numbers"
        return (f"wrote {self.path} (timm {self.architecture}: {', '.join(FOLDER_FILES)}); loaded back with "
                f"timm.create_model('local-dir:...') on {self.n_verified} test images: max |logit diff| "
                f"{self.max_abs_diff:.2e}; {card}")


def timm_architecture(spec: ModelSpec | None, label: str) -> tuple[str, dict[str, Any]]:
    """The timm architecture of a student and the ``model_args`` that rebuild it with ``timm.create_model``.

    Args:
        spec: the student's :class:`ModelSpec` (``None`` for a module art-bmtad cannot rebuild).
        label: the student, for messages.

    Raises:
        NotATimmModelError: not a timm model, or one with an art-bmtad option; names the formats to use instead.
    """
    name = spec.name if spec is not None else None
    instead = (f"; export it with --format {', '.join(OTHER_FORMATS[:-1])} or {OTHER_FORMATS[-1]} instead "
               "(normalisation folded in)")
    if name is None or not name.startswith("timm/"):
        raise NotATimmModelError(f"{label}: the student is {name or 'a module without a registry name'}, not a timm "
                                 f"architecture, so timm cannot load it from a model folder{instead}")
    options = {key: value for key, value in spec.model_kwargs.items() if key not in ART_BMTAD_OPTIONS}
    added = [key for key in ART_BMTAD_OPTIONS if spec.model_kwargs.get(key)]
    if added:
        raise NotATimmModelError(f"{label}: the student {name} has art-bmtad's {', '.join(added)}, which changes "
                                 f"timm's architecture, so timm.create_model({name[5:]!r}) cannot rebuild it{instead}")
    return name.removeprefix("timm/"), {"in_chans": spec.input_shape[0], **options}


def export_timm_folder(
    run: str | Path,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    evaluation: str | Path | None = None,
    data: str | None = None,
    data_path: str | Path | None = None,
    n_verify: int = VERIFY_IMAGES,
) -> TimmFolder:
    """Write the student of ``run`` as a timm model folder with its model card, verified (module docstring).

    Args:
        run: a run folder or a saved student.
        out: the folder to write (default: ``timm/`` in the student's folder). It must be new or empty, or, with
            ``overwrite``, a timm folder written earlier (replaced as a whole once the new one is verified).
        overwrite: replace an earlier timm folder.
        evaluation: the evaluation report for the card (default: found in the run, see
            :func:`~art_bmtad.deploy.model_card.find_evaluation`).
        data: the dataset of the verification images (default: the run's).
        data_path: its file or folder, for sources that read files.
        n_verify: test images to verify on.

    Returns:
        What was written.

    Raises:
        FileNotFoundError: no student, or no such evaluation file.
        NotATimmModelError: a student timm cannot rebuild.
        ValueError: an output folder that holds something else (or an earlier export, without ``overwrite``), a
            bad evaluation file, no data to verify on; the folder loaded by timm does not reproduce the student.
    """
    weights = student_weights(run)
    path = Path(out) if out is not None else weights.parent / DEFAULT_FOLDER
    _check_output_folder(path, overwrite)
    _check_timm_loads_folders()
    if n_verify < 1:
        raise ValueError(f"n_verify must be at least 1, got {n_verify}")
    found = find_evaluation(weights, evaluation)
    source = load_source(weights, device="cpu")
    spec = model_spec(source.classifier)
    architecture, model_args = timm_architecture(spec, str(run))
    x, _, class_names = verification_images(source, data, data_path, n_verify)
    mean, std = list(spec.mean), list(spec.std)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    staging.mkdir()
    try:
        _write_folder(staging, source, architecture, model_args, class_names, mean, std, found)
        difference, tolerance = _verify(staging, source, x, mean, std)
        if difference > tolerance:
            raise ValueError(f"timm.create_model('local-dir:...') does not reproduce the student: max |logit diff| "
                             f"{difference:.2e} > {tolerance:.2e}; nothing was written")
        _replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TimmFolder(path, architecture, found.source if found else None, len(x), difference)


def timm_config(architecture: str, model_args: dict[str, Any], num_classes: int, input_shape: tuple[int, ...],
                mean: list[float], std: list[float], class_names: list[str]) -> dict[str, Any]:
    """The ``config.json`` timm reads from a model folder (its Hugging Face layout)."""
    import timm

    default = timm.models.get_pretrained_cfg(architecture)
    cfg = {key: value for key, value in (default.to_dict() if default is not None else {}).items()
           if key not in DROPPED_CFG_KEYS}
    cfg.update(architecture=architecture, input_size=list(input_shape), mean=mean, std=std, crop_pct=1.0,
               crop_mode="center", num_classes=num_classes, label_names=list(class_names), pool_size=None)
    return {"architecture": architecture, "num_classes": num_classes, "label_names": list(class_names),
            "model_args": model_args, "pretrained_cfg": cfg}


def _check_timm_loads_folders() -> None:
    """The installed timm reads ``local-dir:`` model folders (timm 1.0's later releases); the export is checked by
    loading it that way."""
    import timm
    from timm.models import parse_model_name

    try:
        source = parse_model_name("local-dir:folder")[0]
    except (AssertionError, ValueError):  # older releases refuse unknown sources
        source = None
    if source != "local-dir":
        raise ValueError(f"--format timm needs a timm that loads model folders (timm.create_model('local-dir:...')); "
                         f"timm {timm.__version__} does not: pip install -U timm")


def _check_output_folder(path: Path, overwrite: bool) -> None:
    """New, empty, or (with ``overwrite``) an earlier timm folder; checked before any work."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} is a file; a timm export is a folder")
    entries = sorted(entry.name for entry in path.iterdir()) if path.is_dir() else []
    if entries:
        if not (path / CONFIG_FILE).is_file() or not set(entries) <= set(FOLDER_FILES):
            raise ValueError(f"--out {path} holds files that are not a timm export ({', '.join(entries[:6])}); "
                             "choose a new or empty folder")
        if not overwrite:
            raise ValueError(f"--out {path} already holds a timm export; pass --overwrite to replace it, or choose "
                             "another --out")
    check_creatable_folder(path, option="--out")


def _write_folder(folder: Path, source: ModelSource, architecture: str, model_args: dict[str, Any],
                  class_names: list[str], mean: list[float], std: list[float], evaluation: Evaluation | None) -> None:
    classifier = source.classifier
    tensors = {key: value.detach().to("cpu", copy=True).contiguous()
               for key, value in classifier.model.state_dict().items()}
    safetensors.torch.save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    config = timm_config(architecture, model_args, classifier.nb_classes, tuple(classifier.input_shape), mean, std,
                         class_names)
    write_atomic(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    extra = (source.metadata or {}).get("extra", {})
    card = model_card(architecture=architecture, defence=extra.get("defence"), recipe=source.recipe,
                      evaluation=evaluation, input_shape=classifier.input_shape, class_names=class_names, mean=mean,
                      std=std, selected_epoch=extra.get("selected_epoch"))
    write_atomic(folder / CARD_FILE, card)


def _verify(folder: Path, source: ModelSource, x: np.ndarray, mean: list[float], std: list[float]
            ) -> tuple[float, float]:
    """Max |logit difference| between timm's load of ``folder`` on normalised ``x`` and the student on ``x``,
    and the tolerance."""
    import timm

    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    channels = len(mean)
    shift = torch.tensor(mean).reshape(1, channels, 1, 1)
    scale = torch.tensor(std).reshape(1, channels, 1, 1)
    reference = source.classifier.predict(x, batch_size=VERIFY_BATCH)
    with torch.no_grad():
        logits = torch.cat([model((torch.from_numpy(x[start:start + VERIFY_BATCH]) - shift) / scale)
                            for start in range(0, len(x), VERIFY_BATCH)]).numpy()
    tolerance = RELATIVE_TOLERANCE * max(1.0, float(np.abs(reference).max()))
    return float(np.abs(logits - reference).max()), tolerance


def _replace(staging: Path, path: Path) -> None:
    """Move the verified folder into place; an earlier export is moved aside first and deleted after."""
    if not path.exists():
        os.replace(staging, path)
        return
    trash = path.with_name(f".{path.name}.replaced-{secrets.token_hex(4)}")
    os.replace(path, trash)
    os.replace(staging, path)
    shutil.rmtree(trash, ignore_errors=True)
