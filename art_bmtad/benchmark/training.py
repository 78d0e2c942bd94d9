"""Train one defence under a recipe: the student, its checkpoint selection on the validation split, honest timing.

Checkpoint selection never looks at the test split:

* the distillation defences (``bmtard``, ``mtard``, ``rslad``, ``ard``) select with their own ``select_by``;
* ``plain`` and ART's Madry, TRADES and AWP trainers are trained one epoch per ``fit`` call (the same as one
  call with all epochs: they keep no schedule of their own), the recipe's learning-rate schedule is stepped
  after each epoch, and the same validation (clean and PGD accuracy with the training budget, from
  ``x + 0.001 N(0, 1)``) picks the epoch;
* any other defence (ART's FBF, whose cyclic learning rate spans the whole ``fit`` call, and third-party
  defences) is trained in one call and its last epoch is kept; the results say so.

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
from art.defences.trainer import Trainer
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import trange

from art_bmtad import distributed
from art_bmtad.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.augment import random_crop_flip
from art_bmtad.benchmark.components import CLEAN, ROBUST, build_scheduler, build_student
from art_bmtad.benchmark.memory import PeakMemory, track_peak_memory
from art_bmtad.config import PLAIN, Recipe
from art_bmtad.datasets import Dataset
from art_bmtad.device import synchronize
from art_bmtad.determinism import seed_everything
from art_bmtad.history import History
from art_bmtad.registry import create_defence
from art_bmtad.teachers import classifier_logits
from art_bmtad.trainers.base import GAUSSIAN_START, SELECTION_METRICS, DistillationTrainer

logger = logging.getLogger(__name__)

DISTILLATION_TEACHERS = {
    "bmtard": (ROBUST, CLEAN),
    "mtard": (ROBUST, CLEAN),
    "rslad": (ROBUST,),
    "ard": (ROBUST,),
}
"""The distillation defences and the teachers each one needs."""
EPOCHWISE = frozenset({PLAIN, "art-madry-pgd", "art-trades", "art-awp"})
"""Defences for which one ``fit`` call per epoch equals one call with all epochs (no schedule of their own)."""


class PlainTrainer(Trainer):
    """Standard training: cross-entropy on natural inputs with the classifier's own ``fit`` (the reference row)."""

    def fit(self, x: np.ndarray, y: np.ndarray, validation_data: Any = None, nb_epochs: int = 20,
            batch_size: int = 128, **kwargs: Any) -> None:
        """Train the classifier (``drop_last``: a batch of one breaks BatchNorm)."""
        self._classifier.fit(x, y, batch_size=batch_size, nb_epochs=nb_epochs, drop_last=True)


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
    fit = _fit_distillation if isinstance(trainer, DistillationTrainer) else (
        _fit_epochwise if name in EPOCHWISE else _fit_once)
    with track_peak_memory(classifier.device) as memory:
        started = time.perf_counter()
        history, epoch_seconds, selection = fit(trainer, scheduler, recipe, data, progress=progress,
                                                checkpoint_dir=checkpoint_dir, resume=resume)
        synchronize(classifier.device)
        wall = time.perf_counter() - started
    classifier.model.eval()
    history.meta.setdefault("method", name)
    selected = int(history.meta.get("selected_epoch", len(epoch_seconds)))
    processes = distributed.world_size() if isinstance(trainer, DistillationTrainer) else 1
    return TrainedDefence(name, classifier, history, epoch_seconds, wall, selected, selection, memory,
                          _notes(name, trainer, recipe), processes)


def build_defence(
    name: str, classifier: PyTorchClassifier, recipe: Recipe, teachers: dict[str, PyTorchClassifier], progress: bool
) -> Trainer:
    """The defence ``name`` around ``classifier`` with the recipe's threat model (and teachers and options)."""
    if name == PLAIN:
        return PlainTrainer(classifier)
    threat = recipe.threat
    options: dict[str, Any] = {"eps": threat.eps, "eps_step": threat.eps_step, "max_iter": threat.max_iter}
    if name in DISTILLATION_TEACHERS:
        options.update(_distillation_options(name, recipe, teachers, progress))
    return create_defence(name, classifier, **options)


def _distillation_options(
    name: str, recipe: Recipe, teachers: dict[str, PyTorchClassifier], progress: bool
) -> dict[str, Any]:
    balancing = recipe.balancing
    options: dict[str, Any] = {f"{role}_teacher": teachers[role] for role in DISTILLATION_TEACHERS[name]}
    options.update(
        augment=random_crop_flip if recipe.schedule.augment else None,
        amp=recipe.amp,
        select_by=recipe.schedule.select_by,
        kl_scale=balancing.kl_scale,
        verbose=progress,
    )
    if name == "bmtard":
        options.update(temperature_lr=balancing.temperature_lr, weight_lr=balancing.weight_lr,
                       t_min=balancing.t_min, t_max=balancing.t_max, t_init=balancing.t_init)
    elif name == "mtard":
        options.update(weight_lr=balancing.weight_lr)
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
    """One ``fit`` call per epoch, the scheduler stepped after each, the best validation epoch kept."""
    classifier, schedule = trainer.get_classifier(), recipe.schedule
    validation = _validation(data, recipe)
    history, seconds, best = History(), [], None
    for _ in trange(schedule.epochs, desc=type(trainer).__name__, disable=not progress):
        synchronize(classifier.device)
        started = time.perf_counter()
        trainer.fit(data.x_train, data.y_train, nb_epochs=1, batch_size=schedule.batch_size)
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


def _fit_once(
    trainer: Trainer, scheduler: Any, recipe: Recipe, data: Dataset, *, progress: bool, **unused: Any
) -> tuple[History, list[float], str]:
    """All epochs in one ``fit`` call (the defence's own schedule); the last epoch is kept."""
    device, epochs = trainer.get_classifier().device, recipe.schedule.epochs
    synchronize(device)
    started = time.perf_counter()
    trainer.fit(data.x_train, data.y_train, nb_epochs=epochs, batch_size=recipe.schedule.batch_size)
    synchronize(device)
    seconds = time.perf_counter() - started
    history = History()
    history.end_epoch(epoch_span=epochs, time_s=seconds)
    return history, [seconds / epochs] * epochs, (
        "last epoch: trained in one fit call (its own schedule, or a defence not known to allow one call per "
        "epoch), so no per-epoch checkpoint to select")


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
    """Recipe settings a defence did not follow."""
    notes = []
    if isinstance(trainer, DistillationTrainer):
        return notes
    if recipe.schedule.augment:
        notes.append(f"{name}: trained without crop/flip augmentation (ART trainers take arrays)")
    if recipe.schedule.milestones and name not in EPOCHWISE:
        notes.append(f"{name}: schedule.milestones not applied (the defence trains in one fit call)")
    if recipe.amp:
        notes.append(f"{name}: trained without bf16 autocast")
    return notes


def _format(epoch: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in epoch.items() if isinstance(value, float))
