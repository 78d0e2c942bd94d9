"""What a recipe builds, in one place for ``train`` and ``bench``: data, student, schedule, teachers, evaluation."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.data.catalog import KNOWN_DATASETS, DatasetPreset
from art_bmtad.data.datasets import Dataset, check_dataset, load_dataset
from art_bmtad.evaluation import AttackSettings, RobustnessReport, evaluate_robustness
from art_bmtad.models.classifier import create_classifier
from art_bmtad.models.classifier_files import load_classifier
from art_bmtad.pipeline.checks import check_fits_data
from art_bmtad.pipeline.teacher_prep import TeacherConfig, prepare_teacher
from art_bmtad.recipes.recipe import Recipe, TeacherRecipe
from art_bmtad.registry import create_dataset, find_weights
from art_bmtad.utils import distributed
from art_bmtad.utils.errors import ConfigError

logger = logging.getLogger(__name__)

ROBUST, CLEAN = "robust", "clean"
TEACHER_ATTACKS = {ROBUST: ("pgd20",), CLEAN: ()}
"""What each teacher's row shows besides clean accuracy: PGD-20 for the robust teacher only."""


@dataclass
class PreparedTeachers:
    """Teachers ready for distillation, by role, and what the results say about each.

    Attributes:
        classifiers: role (``robust``/``clean``) -> the teacher, in eval mode.
        rows: role -> where it came from (``checkpoint``, ``cache`` or ``trained``), its file and the seconds
            it took to prepare.
    """

    classifiers: dict[str, PyTorchClassifier] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


def apply_runtime(recipe: Recipe) -> None:
    """Set the run's CPU threads before any work: ``recipe.threads``, else the physical cores this process may use
    (more threads than cores oversubscribe the machine)."""
    from art_bmtad.utils.device import physical_cores

    torch.set_num_threads(recipe.threads or physical_cores())


def load_data(recipe: Recipe) -> Dataset:
    """The recipe's dataset with its seeded subsets and validation split (see :func:`open_dataset`)."""
    data = recipe.data
    return open_dataset(data.source, data.path, root=data.root, download=data.download, n_train=data.n_train,
                        n_test=data.n_test, val_size=data.val_size, seed=recipe.seed)


def open_dataset(source: str, path: str | None, *, root: str | None = None, download: bool | None = None,
                 **options: Any) -> Dataset:
    """A dataset by source name, checked: the one place ``train``, ``bench``, ``teachers`` and ``eval`` load data.

    A ``source`` ending in ``.npz`` is read directly; any other goes through the dataset registry (plugins'
    datasets too), with ``path`` as the file (``npz``) or the folder (CIFAR layout, image folder) unless ``root``
    is given.

    Args:
        source: a registered dataset or a path ending in ``.npz``.
        path: where it lives (``--data-path``).
        root: the folder, when it differs from ``path``.
        download: let torchvision download CIFAR.
        **options: ``n_train``, ``n_test``, ``val_size``, ``seed``.
    """
    if source.endswith(".npz"):
        return check_dataset(load_dataset(source, **options))
    dataset = create_dataset(source, path=path, root=root or path, download=download or None, **options)
    return check_dataset(dataset, source=source)


def build_student(recipe: Recipe, data: Dataset, device: str | torch.device | None = None) -> PyTorchClassifier:
    """A freshly initialised student (seed it first for identical weights across defences)."""
    student, schedule = recipe.student, recipe.schedule
    return create_classifier(
        student.model,
        dataset=data,
        cifar_stem=student.cifar_stem or None,
        lr=schedule.lr,
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
        device=device or recipe.device,
        channels_last=recipe.channels_last,
        **student.model_kwargs,
    )


def check_student_builds(recipe: Recipe) -> None:
    """Build the recipe's student once on the CPU (and discard it), before any data or teacher is loaded.

    The shape comes from the dataset's preset when the source is a known dataset, else a 3x32x32, 10-class
    stand-in: what this catches (unknown or refused ``student.model_kwargs``, a model that cannot be built) does
    not depend on it.

    Raises:
        ConfigError: naming ``student.model`` / ``student.model_kwargs`` and the model's own complaint.
    """
    preset = KNOWN_DATASETS.get(recipe.data.source, DatasetPreset(10, (3, 32, 32), (0.5,) * 3, (0.5,) * 3))
    try:
        build_student(recipe, preset, device="cpu")
    except (TypeError, ValueError, RuntimeError, KeyError, AssertionError) as err:
        raise ConfigError(f"student.model_kwargs {recipe.student.model_kwargs}: the student {recipe.student.model!r} "
                          f"cannot be built with them: {err}") from err


def build_scheduler(classifier: PyTorchClassifier, recipe: Recipe) -> torch.optim.lr_scheduler.LRScheduler | None:
    """``MultiStepLR`` at ``schedule.milestones`` (epochs), or ``None`` for a constant learning rate."""
    schedule = recipe.schedule
    if not schedule.milestones:
        return None
    return torch.optim.lr_scheduler.MultiStepLR(classifier.optimizer, schedule.milestones, gamma=schedule.gamma)


def teacher_config(recipe: Recipe, teacher: TeacherRecipe) -> TeacherConfig:
    """The :class:`~art_bmtad.pipeline.teacher_prep.TeacherConfig` (and so the cache key) of a teacher trained here."""
    return TeacherConfig(
        model=teacher.model,
        kind=teacher.kind,
        epochs=teacher.epochs,
        batch_size=recipe.schedule.batch_size,
        lr=teacher.lr,
        eps=recipe.threat.eps,
        eps_step=recipe.threat.eps_step,
        max_iter=recipe.threat.max_iter,
        cifar_stem=teacher.cifar_stem,
        augment=teacher.augment,
        seed=recipe.seed,
        milestones=tuple(teacher.milestones),
    )


def prepare_teachers(
    recipe: Recipe, data: Dataset, roles: Sequence[str], *, device: str | torch.device | None = None,
    progress: bool = True,
) -> PreparedTeachers:
    """Load each teacher in ``roles`` from its checkpoint, or train it (reusing the teacher cache).

    Args:
        recipe: the recipe (``teachers`` group; threat model and batch size for teachers trained here).
        data: the training data.
        roles: ``"robust"`` and/or ``"clean"``.
        device: where the teachers run (default ``recipe.device``).
        progress: progress bars while training.

    Returns:
        The teachers and their rows.

    Raises:
        RuntimeError: under torchrun, on the other ranks when rank 0 could not prepare the teachers.

    Under torchrun, rank 0 prepares them first (filling the teacher cache, with progress bars); the other ranks
    wait for it and then read the same checkpoints or cache entries, so no teacher is trained twice.
    """
    if not distributed.is_distributed():
        return _prepare_teachers(recipe, data, roles, device, progress)
    failure = None
    if distributed.is_main_process():
        try:
            return _prepare_teachers(recipe, data, roles, device, progress)
        except Exception as err:
            failure = f"rank 0 could not prepare the teachers: {type(err).__name__}: {err}"
            raise
        finally:
            distributed.broadcast_object(failure)  # releases the waiting ranks, with rank 0's error if any
    failure = distributed.broadcast_object(None)
    if failure is not None:
        raise RuntimeError(failure)
    return _prepare_teachers(recipe, data, roles, device, progress=False)


def _prepare_teachers(
    recipe: Recipe, data: Dataset, roles: Sequence[str], device: str | torch.device | None, progress: bool
) -> PreparedTeachers:
    prepared = PreparedTeachers()
    # Saved teachers first: each is checked against the data before any other teacher trains.
    for role in sorted(roles, key=lambda role: getattr(recipe.teachers, role).checkpoint is None
                       and not getattr(recipe.teachers, role).pretrained):
        teacher: TeacherRecipe = getattr(recipe.teachers, role)
        started = time.perf_counter()
        if teacher.pretrained:
            classifier = create_classifier(teacher.model, dataset=data, pretrained=True,
                                           weights=recipe.teachers.weights_dir, download=recipe.teachers.download,
                                           device=device or recipe.device)
            classifier.model.eval()
            check_fits_data(classifier, data, f"teacher {role} ({teacher.model}, published weights)")
            row = {"source": "pretrained", "path": str(find_weights(teacher.model, recipe.teachers.weights_dir)),
                   "kind": "pretrained"}
        elif teacher.checkpoint is not None:
            classifier = load_classifier(teacher.checkpoint, device=device or recipe.device)
            check_fits_data(classifier, data, f"teacher {role} ({teacher.checkpoint})")
            row = {"source": "checkpoint", "path": str(teacher.checkpoint), "kind": "checkpoint"}
        else:
            logger.info("%s teacher: %s (%s, %d epochs)", role, teacher.model, teacher.kind, teacher.epochs)
            result = prepare_teacher(teacher_config(recipe, teacher), data, cache_dir=recipe.teachers.cache_dir,
                                     device=device or recipe.device, progress=progress)
            classifier = result.classifier
            origin = "cached" if result.cached else "trained"
            check_fits_data(classifier, data, f"teacher {role} ({origin} {result.path})")
            row = {"source": "cache" if result.cached else "trained", "path": str(result.path), "kind": teacher.kind,
                   "train_seconds": result.train_seconds}
        name = getattr(getattr(classifier.model, "art_bmtad_spec", None), "name", None) or teacher.model
        row.update(role=role, model=name, prepare_seconds=time.perf_counter() - started)
        prepared.classifiers[role], prepared.rows[role] = classifier, row
    order = [role for role in roles if role in prepared.classifiers]
    prepared.classifiers = {role: prepared.classifiers[role] for role in order}
    prepared.rows = {role: prepared.rows[role] for role in order}
    return prepared


def attack_settings(recipe: Recipe) -> AttackSettings:
    """The AutoAttack and sanity-check budgets of the recipe."""
    evaluation = recipe.evaluation
    return AttackSettings(
        apgd_steps=evaluation.apgd_steps,
        n_target_classes=evaluation.n_target_classes,
        square_queries=evaluation.square_queries,
        sanity_examples=evaluation.sanity_examples,
    )


def evaluate(
    classifier: PyTorchClassifier, data: Dataset, recipe: Recipe, *, attacks: Sequence[str] | None = None
) -> RobustnessReport:
    """The one evaluation of the run, on the test split; ``attacks`` narrows it (teachers' rows) and skips the
    sanity checks, which only make sense for the full set."""
    evaluation = recipe.evaluation
    return evaluate_robustness(
        classifier,
        data.x_test,
        data.y_test,
        attacks=evaluation.attacks if attacks is None else attacks,
        eps=recipe.threat.eps,
        norm="inf",
        n_examples=evaluation.n_examples,
        batch_size=evaluation.batch_size,
        seed=recipe.seed,
        autoattack=evaluation.autoattack,
        backend=evaluation.backend,
        sanity_checks=evaluation.sanity_checks and attacks is None,
        settings=attack_settings(recipe),
        class_names=data.class_names,
    )


def mean_entropy(classifier: PyTorchClassifier, x: np.ndarray, batch_size: int) -> float:
    """Mean entropy (nats) of the classifier's softmax predictions on ``x``."""
    logits = torch.from_numpy(classifier.predict(x, batch_size=batch_size)).double()
    log_p = torch.log_softmax(logits, dim=1)
    return float(-(log_p.exp() * log_p).sum(dim=1).mean())
