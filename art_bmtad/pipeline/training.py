"""Train one defence under a recipe: the student, its checkpoint selection on the validation split, honest timing.

Checkpoint selection never looks at the test split, and is the same for every defence:

* the distillation defences (``bmtard``, ``mtard``, ``rslad``, ``ard``) select with their own ``select_by``;
* every other defence (``plain``, ART's Madry, TRADES, AWP and FBF trainers, a plugin's defence) is trained one
  epoch at a time: ``fit_epoch(x, y, epoch=, nb_epochs=, batch_size=, augment=)`` when the trainer has it (FBF,
  whose cyclic learning rate spans all epochs), else ``fit(..., nb_epochs=1)`` (or ``fit_generator`` with an
  augmenting ART ``DataGenerator`` when the recipe augments); the recipe's learning-rate schedule is stepped
  after each epoch, and the same validation (clean and PGD accuracy with the training budget, from
  ``x + 0.001 N(0, 1)``) picks the epoch.

Augmentation is the same for every defence: with ``schedule.augment`` each batch is randomly cropped (zero
padding 4) and flipped on the fly, by the distillation trainers' ``augment=`` and, for ART's trainers, by
:class:`AugmentedBatches`, an ART ``DataGenerator`` given to their ``fit_generator``; without it nobody augments.

Timing (airbench's way): the device is synchronised before the clock is read, and only training counts:
per-epoch validation is excluded from ``train_seconds`` (``wall_seconds`` includes it).
"""
from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from art.data_generators import DataGenerator
from art.defences.trainer import Trainer
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import trange

from art_bmtad.algorithm.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.algorithm.augment import random_crop_flip
from art_bmtad.algorithm.selection import SELECTION_METRICS
from art_bmtad.algorithm.teachers import classifier_logits
from art_bmtad.data.datasets import Dataset
from art_bmtad.pipeline.components import CLEAN, ROBUST, build_scheduler, build_student
from art_bmtad.recipes.defence_options import PLAIN, paper_defaults_entry
from art_bmtad.recipes.recipe import Recipe, resolve_options
from art_bmtad.registry import create_defence
from art_bmtad.tracking import RunTracker
from art_bmtad.trainers.base import GAUSSIAN_START, DistillationTrainer
from art_bmtad.trainers.history import History
from art_bmtad.utils import distributed
from art_bmtad.utils.determinism import seed_everything
from art_bmtad.utils.device import synchronize
from art_bmtad.utils.memory import PeakMemory, track_peak_memory

logger = logging.getLogger(__name__)

DISTILLATION_TEACHERS = {
    "bmtard": (ROBUST, CLEAN),
    "mtard": (ROBUST, CLEAN),
    "rslad": (ROBUST,),
    "ard": (ROBUST,),
}
"""The distillation defences and the teachers each one needs."""
BUILT_IN_EPOCHWISE = frozenset({PLAIN, "art-madry-pgd", "art-trades", "art-awp", "art-fbf"})
"""Defences known to train the same one epoch at a time as in one call (no schedule of their own, or
``fit_epoch``); any other is trained that way too, with a note."""
AUGMENTATION_NONE = "none"
CROP_FLIP = "random crop (zero padding 4) and horizontal flip of every batch, on the fly"


class PlainTrainer(Trainer):
    """Standard training: cross-entropy on natural inputs with the classifier's own ``fit`` (the reference row)."""

    def fit(self, x: np.ndarray, y: np.ndarray, validation_data: Any = None, nb_epochs: int = 20,
            batch_size: int = 128, **kwargs: Any) -> None:
        """Train the classifier (``drop_last``: a batch of one breaks BatchNorm)."""
        self._classifier.fit(x, y, batch_size=batch_size, nb_epochs=nb_epochs, drop_last=True)

    def fit_generator(self, generator: DataGenerator, nb_epochs: int = 20, **kwargs: Any) -> None:
        """Train the classifier on the generator's batches, ``ceil(size / batch_size)`` of them per epoch."""
        for _ in range(nb_epochs * math.ceil(generator.size / generator.batch_size)):
            x, y = generator.get_batch()
            self._classifier.fit(x, y, batch_size=len(x), nb_epochs=1)


class AugmentedBatches(DataGenerator):
    """An ART ``DataGenerator`` of full, shuffled, augmented batches (one-hot labels), for ART's ``fit_generator``.

    The images stay on the classifier's device; each batch is augmented there and handed over as NumPy, the
    arrays ART's trainers take. ``ceil(size / batch_size)`` batches make one pass over the data, the last one
    partial, as ART's trainers count an epoch (a single leftover example is skipped: it would break BatchNorm).

    Args:
        x: training images, NCHW in [0, 1].
        y: labels, class indices.
        batch_size: batch size.
        nb_classes: number of classes (for the one-hot labels).
        device: where the images live and are augmented.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, nb_classes: int, device: torch.device) -> None:
        super().__init__(size=len(x), batch_size=batch_size)
        self._x = torch.from_numpy(x).to(device)
        self._y = np.eye(nb_classes, dtype=np.float32)[y]
        self._order = np.random.permutation(len(x))
        self._position = 0

    def get_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next augmented batch (a new shuffle after each pass)."""
        if self._position >= self.size - 1:
            self._order, self._position = np.random.permutation(self.size), 0
        index = self._order[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        batch = random_crop_flip(self._x[torch.from_numpy(index).to(self._x.device)])
        return batch.cpu().numpy(), self._y[index]


@dataclass
class TrainedDefence:
    """A trained student and how it was trained.

    Attributes:
        name: the defence.
        classifier: the selected student, in eval mode.
        history: per-epoch summaries (and per-step values of the distillation defences).
        epoch_seconds: training seconds of each epoch (for a single ``fit`` call: its time split evenly).
        wall_seconds: the whole training call, per-epoch validation included.
        selected_epoch: the kept epoch (1-based).
        selection: how it was chosen, in words.
        memory: peak memory while training.
        notes: settings of the recipe this defence could not follow.
        processes: how many processes trained it together (DistributedDataParallel under torchrun).
        options: the defence's own options as trained (shared threat model, paper defaults, recipe overrides).
        augmentation: what augmentation its batches got.
    """

    name: str
    classifier: PyTorchClassifier
    history: History
    epoch_seconds: list[float]
    wall_seconds: float
    selected_epoch: int
    selection: str
    memory: PeakMemory
    notes: list[str] = field(default_factory=list)
    processes: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    augmentation: str = AUGMENTATION_NONE

    @property
    def train_seconds(self) -> float:
        """Training time without validation."""
        return math.fsum(self.epoch_seconds)

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch."""
        return statistics.fmean(self.epoch_seconds)

    def summary(self) -> dict[str, Any]:
        """JSON-ready timing, selection and memory figures."""
        return {
            "epochs": len(self.epoch_seconds),
            "train_seconds": self.train_seconds,
            "seconds_per_epoch": self.seconds_per_epoch,
            "wall_seconds": self.wall_seconds,
            "selected_epoch": self.selected_epoch,
            "selection": self.selection,
            **self.memory.to_dict(),
            "notes": list(self.notes),
            "processes": self.processes,
            "options": dict(self.options),
            "paper_defaults": paper_defaults_entry(self.name),
            "augmentation": self.augmentation,
        }


def teachers_needed(defences: list[str]) -> list[str]:
    """Teacher roles the defences need, robust first."""
    roles = {role for name in defences for role in DISTILLATION_TEACHERS.get(name, ())}
    return [role for role in (ROBUST, CLEAN) if role in roles]


def train_defence(
    name: str,
    recipe: Recipe,
    data: Dataset,
    teachers: dict[str, PyTorchClassifier],
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    tracker: RunTracker | None = None,
) -> TrainedDefence:
    """Train a fresh student (seeded: every defence starts from the same weights) with the defence ``name``.

    Args:
        name: a registered defence or ``plain``.
        recipe: the recipe.
        data: the dataset (the validation split selects the checkpoint).
        teachers: role -> teacher classifier, for the distillation defences.
        device: where to train (default ``recipe.device``).
        progress: progress bars.
        checkpoint_dir: training checkpoints of a distillation defence (see ``DistillationTrainer.fit``).
        resume: continue from the newest checkpoint in ``checkpoint_dir`` (distillation defences only).
        on_epoch_end: called with each epoch's summary, validation accuracies included (distillation defences
            only; see ``DistillationTrainer.on_epoch_end``).
        tracker: logs the training history (live, epoch by epoch, for the distillation defences; at the end for
            the others) to the run's tracking backends (:mod:`art_bmtad.tracking`).

    Returns:
        The trained defence.

    Raises:
        ValueError: ``resume``/``checkpoint_dir`` for a defence that cannot checkpoint.
    """
    seed_everything(recipe.seed)
    classifier = build_student(recipe, data, device)
    scheduler = build_scheduler(classifier, recipe)
    trainer = build_defence(name, classifier, recipe, teachers, progress)
    if checkpoint_dir is not None and not isinstance(trainer, DistillationTrainer):
        raise ValueError(f"checkpoints and --resume work with the distillation defences "
                         f"({', '.join(DISTILLATION_TEACHERS)}), not with {name!r}")
    if on_epoch_end is not None:
        if not isinstance(trainer, DistillationTrainer):
            raise ValueError(f"on_epoch_end works with the distillation defences "
                             f"({', '.join(DISTILLATION_TEACHERS)}), not with {name!r}")
        trainer.on_epoch_end = on_epoch_end
    if tracker is not None and isinstance(trainer, DistillationTrainer):
        tracker.follow(trainer)
    fit = _fit_distillation if isinstance(trainer, DistillationTrainer) else _fit_epochwise
    with track_peak_memory(classifier.device) as memory:
        started = time.perf_counter()
        history, epoch_seconds, selection = fit(trainer, scheduler, recipe, data, progress=progress,
                                                checkpoint_dir=checkpoint_dir, resume=resume)
        synchronize(classifier.device)
        wall = time.perf_counter() - started
    if tracker is not None:
        tracker.log_history(history)
    classifier.model.eval()
    history.meta.setdefault("method", name)
    selected = int(history.meta.get("selected_epoch", len(epoch_seconds)))
    processes = distributed.world_size() if isinstance(trainer, DistillationTrainer) else 1
    return TrainedDefence(name, classifier, history, epoch_seconds, wall, selected, selection, memory,
                          _notes(name, trainer, recipe), processes, resolve_options(name, recipe),
                          CROP_FLIP if recipe.schedule.augment else AUGMENTATION_NONE)


def build_defence(
    name: str, classifier: PyTorchClassifier, recipe: Recipe, teachers: dict[str, PyTorchClassifier], progress: bool
) -> Trainer:
    """The defence ``name`` around ``classifier`` with the recipe's threat model (and teachers and options)."""
    if name == PLAIN:
        return PlainTrainer(classifier)
    options = resolve_options(name, recipe)
    if name in DISTILLATION_TEACHERS:
        options.update(_distillation_options(name, recipe, teachers, progress))
    try:
        return create_defence(name, classifier, **options)
    except TypeError as err:
        raise ValueError(f"defence_options.{name}: {err}") from err


def _distillation_options(
    name: str, recipe: Recipe, teachers: dict[str, PyTorchClassifier], progress: bool
) -> dict[str, Any]:
    """What a distillation trainer takes besides its own options: teachers, augmentation, selection, display."""
    options: dict[str, Any] = {f"{role}_teacher": teachers[role] for role in DISTILLATION_TEACHERS[name]}
    options.update(
        augment=random_crop_flip if recipe.schedule.augment else None,
        amp=recipe.amp,
        channels_last=recipe.channels_last,
        select_by=recipe.schedule.select_by,
        verbose=progress,
    )
    return options


def _validation(data: Dataset, recipe: Recipe) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation split when the recipe selects checkpoints, else ``None`` (no validation cost)."""
    return (data.x_val, data.y_val) if recipe.schedule.select_by is not None else None


def _fit_distillation(
    trainer: DistillationTrainer, scheduler: Any, recipe: Recipe, data: Dataset, *, progress: bool,
    checkpoint_dir: str | Path | None, resume: bool,
) -> tuple[History, list[float], str]:
    schedule = recipe.schedule
    trainer.fit(data.x_train, data.y_train, validation_data=_validation(data, recipe), batch_size=schedule.batch_size,
                nb_epochs=schedule.epochs, scheduler=scheduler, checkpoint_dir=checkpoint_dir,
                checkpoint_every=schedule.checkpoint_every if checkpoint_dir is not None else None,
                resume=resume or None)
    history = trainer.history
    return history, [epoch["time_s"] for epoch in history.epochs], _selection_text(recipe, history)


def _fit_epochwise(
    trainer: Trainer, scheduler: Any, recipe: Recipe, data: Dataset, *, progress: bool, **unused: Any
) -> tuple[History, list[float], str]:
    """One epoch per call, the scheduler stepped after each, the best validation epoch kept."""
    classifier, schedule = trainer.get_classifier(), recipe.schedule
    validation = _validation(data, recipe)
    batches = AugmentedBatches(data.x_train, data.y_train, schedule.batch_size, classifier.nb_classes,
                               classifier.device) if schedule.augment else None
    history, seconds, best = History(), [], None
    for epoch in trange(schedule.epochs, desc=type(trainer).__name__, disable=not progress):
        synchronize(classifier.device)
        started = time.perf_counter()
        _train_one_epoch(trainer, data, schedule, epoch, batches)
        synchronize(classifier.device)
        seconds.append(time.perf_counter() - started)
        summary = {"lr": classifier.optimizer.param_groups[0]["lr"], "time_s": seconds[-1]}
        if scheduler is not None:
            scheduler.step()
        if validation is not None:
            summary.update(validation_accuracy(classifier, *validation, recipe))
        epoch = history.end_epoch(**summary)
        logger.info("%s epoch %d: %s", type(trainer).__name__, epoch["epoch"], _format(epoch))
        if validation is not None:
            score = sum(epoch[key] for key in SELECTION_METRICS[schedule.select_by])
            if best is None or score > best[0]:
                best = (score, epoch["epoch"], {k: v.detach().clone() for k, v in classifier.model.state_dict().items()})
    if best is not None:
        classifier.model.load_state_dict(best[2])
        history.meta["selected_epoch"] = best[1]
    return history, seconds, _selection_text(recipe, history)


def _train_one_epoch(trainer: Trainer, data: Dataset, schedule: Any, epoch: int,
                     batches: AugmentedBatches | None) -> None:
    """Epoch ``epoch`` of ``schedule.epochs``: ``fit_epoch`` when the trainer has it, else ``fit_generator`` on
    augmented batches or ``fit`` for one epoch."""
    if hasattr(trainer, "fit_epoch"):
        trainer.fit_epoch(data.x_train, data.y_train, epoch=epoch, nb_epochs=schedule.epochs,
                          batch_size=schedule.batch_size, augment=random_crop_flip if batches is not None else None)
    elif batches is not None:
        _generator_trainer(trainer).fit_generator(batches, nb_epochs=1)
    else:
        trainer.fit(data.x_train, data.y_train, nb_epochs=1, batch_size=schedule.batch_size)


def _generator_trainer(trainer: Trainer) -> Any:
    """The object whose ``fit_generator`` trains ``trainer``'s classifier: ART's Madry trainer keeps it in its
    inner ``AdversarialTrainer``."""
    inner = getattr(trainer, "trainer", None)
    return inner if inner is not None and hasattr(inner, "fit_generator") else trainer


def validation_accuracy(
    classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, recipe: Recipe, batch_size: int = 256
) -> dict[str, float]:
    """Clean and PGD accuracy on the validation split with the training budget, as the distillation trainers
    validate (PGD from ``x + 0.001 N(0, 1)``, student in eval mode)."""
    threat, model = recipe.threat, classifier.model
    attack = AdversarialBatch(pgd_linf(classifier, threat.eps, threat.eps_step, threat.max_iter),
                              gaussian_start=GAUSSIAN_START)
    correct = torch.zeros(2, device=classifier.device)
    model.eval()
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[start : start + batch_size]).to(classifier.device)
        yb = torch.from_numpy(y[start : start + batch_size]).to(classifier.device)
        x_adv = attack(xb, F.one_hot(yb, classifier.nb_classes).float())
        with torch.no_grad():
            for row, inputs in enumerate((xb, x_adv)):
                correct[row] += (classifier_logits(classifier, inputs).argmax(1) == yb).sum()
    model.train()
    clean, robust = (correct / len(x)).tolist()
    return {"val_clean_acc": clean, "val_pgd_acc": robust}


def _selection_text(recipe: Recipe, history: History) -> str:
    selected = history.meta.get("selected_epoch")
    if selected is None:
        return "last epoch (schedule.select_by is null)"
    return (f"epoch {selected} of {len(history.epochs)}: best {recipe.schedule.select_by} accuracy on the "
            f"validation split (PGD-{recipe.threat.max_iter} at the training budget)")


def _notes(name: str, trainer: Trainer, recipe: Recipe) -> list[str]:
    """Recipe settings a defence did not follow, and how it was trained where that is not the common way."""
    notes = []
    if isinstance(trainer, DistillationTrainer):
        return notes
    if name not in BUILT_IN_EPOCHWISE:
        notes.append(f"{name}: trained one fit(nb_epochs=1) call per epoch for the per-epoch selection (a defence "
                     "with a schedule of its own should offer fit_epoch)")
    if recipe.schedule.milestones and name == "art-fbf":
        notes.append(f"{name}: schedule.milestones not applied (FBF's own cyclic learning rate)")
    if recipe.amp:
        notes.append(f"{name}: trained without bf16 autocast")
    return notes


def _format(epoch: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in epoch.items() if isinstance(value, float))
