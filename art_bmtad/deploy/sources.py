"""What ``cost`` and ``export`` are pointed at: a run folder, a saved student file, or a registered zoo model.

A run folder is the ``--out`` folder of ``art-bmtad train`` or one defence's folder of ``art-bmtad bench``
(``runs/smoke/bmtard``); its ``student.safetensors`` is the student, and ``config.yaml`` (in the folder, or in
the benchmark folder above it) the recipe it was trained with.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from art.estimators.classification import PyTorchClassifier

from art_bmtad.models.classifier_files import RUN_FOLDER_WEIGHTS, load_classifier, read_metadata
from art_bmtad.recipes.recipe import RECIPE_FILE, Recipe, load_recipe, recipe_from_dict


@dataclass
class ModelSource:
    """A model ready to measure or export, and where it came from.

    Attributes:
        label: what the user named.
        classifier: the ART classifier (normalisation inside, [0, 1] pixels), in eval mode.
        weights_file: the safetensors file it was loaded from; ``None`` for a zoo model built here.
        recipe: the recipe of the run that trained it (``config.yaml``); ``None`` when there is none.
        metadata: the checkpoint's JSON description; empty for a zoo model.
    """

    label: str
    classifier: PyTorchClassifier
    weights_file: Path | None = None
    recipe: Recipe | None = None
    metadata: dict[str, Any] | None = None


def student_weights(run: str | Path) -> Path:
    """The student's safetensors file of a run folder, or the file itself.

    Args:
        run: a run folder (holding ``student.safetensors``) or a saved classifier's ``.safetensors``/``.json``.

    Returns:
        The ``.safetensors`` path.

    Raises:
        FileNotFoundError: nothing there, or a folder without a student (a benchmark folder's message names the
            defence folders that hold one).
    """
    path = Path(run)
    if path.is_dir():
        weights = path / RUN_FOLDER_WEIGHTS
        if weights.is_file():
            return weights
        students = sorted(str(child) for child in path.iterdir() if (child / RUN_FOLDER_WEIGHTS).is_file())
        hint = (f"; a benchmark folder holds one student per defence: {', '.join(students)}" if students
                else "; is it the --out folder of `art-bmtad train`, or one defence's folder of `art-bmtad bench`?")
        raise FileNotFoundError(f"{path} holds no student ({RUN_FOLDER_WEIGHTS} is missing){hint}")
    weights = path.with_suffix(".safetensors")
    if not weights.is_file():
        raise FileNotFoundError(f"no saved student at {path} (expected a run folder or a .safetensors file "
                                "with its .json)")
    return weights


def load_source(name: str | Path, *, device: str = "auto", dataset: str = "cifar10") -> ModelSource:
    """Load what ``name`` points at: an existing run folder or saved file, else a registered model name.

    Args:
        name: a run folder, a saved student (``.safetensors``/``.json``), or a model name such as
            ``timm/resnet18`` (built with fresh weights: cost does not depend on their values).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        dataset: for a model name: the data preset that sets its classes and input size.

    Returns:
        The model and its origin.

    Raises:
        FileNotFoundError: a folder without a student, or a checkpoint whose parts are missing.
        ValueError: neither an existing path nor a registered model (the registry's message lists close names).
    """
    path = Path(name)
    if path.exists() or path.with_suffix(".safetensors").is_file():
        weights = student_weights(path)
        return ModelSource(label=str(name), classifier=load_classifier(weights, device=device),
                           weights_file=weights, recipe=run_recipe(weights), metadata=read_metadata(weights))
    from art_bmtad.models.classifier import create_classifier

    try:
        classifier = create_classifier(str(name), dataset=dataset, device=device)
    except KeyError as err:  # UnknownNameError: say that it was not a path either
        raise ValueError(f"{name!r} is neither a run folder or saved student nor a registered model: "
                         f"{err.args[0]}") from err
    classifier.model.eval()
    return ModelSource(label=str(name), classifier=classifier, metadata={})


def run_recipe(weights: Path) -> Recipe | None:
    """The recipe a student was trained with: ``config.yaml`` beside its weights or in the benchmark folder above,
    else the recipe recorded in its JSON (``art-bmtad train`` writes both); ``None`` when there is none."""
    folder = recipe_folder(weights)
    if folder is not None:
        return load_recipe(config_file=folder / RECIPE_FILE, check_names=False)
    recorded = read_metadata(weights).get("extra", {}).get("recipe")
    return None if recorded is None else recipe_from_dict(recorded)


def recipe_folder(weights: Path) -> Path | None:
    """The run folder whose ``config.yaml`` trained the student in ``weights``: the student's own folder, or the
    benchmark folder above a defence's folder; ``None`` when neither holds one."""
    return next((folder for folder in (weights.parent, weights.parent.parent) if (folder / RECIPE_FILE).is_file()),
                None)
