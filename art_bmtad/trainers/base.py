"""The one training skeleton of adversarial distillation; each method supplies its step.

A method (B-MTARD, MTARD, RSLAD, ARD) writes its training step on one batch (:meth:`_train_step`, in its own
module, in its paper's order) from the pieces here (the batch prepared, the student's two forwards, the optimiser
step, the values the history records) and its adversarial-batch maker (:meth:`_default_attack`). Batching, device
placement, mixed precision, the learning-rate scheduler, validation, model selection, history and logging live
here, once; the run mechanics (checkpoints and exact resume, NaN stops, Ctrl-C/SIGTERM) are
:mod:`art_bmtad.trainers.run_mechanics`, called at named points of the loop, and ``torch.distributed`` is
:mod:`art_bmtad.utils.distributed`.

Defences such as these need careful evaluation (strong, adaptive attacks) before robustness is claimed.
"""
from __future__ import annotations

import abc
import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from art.attacks.attack import EvasionAttack
from art.defences.trainer.trainer import Trainer
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from art_bmtad.algorithm.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.algorithm.arguments import (check_batching, check_data, check_student, check_teacher_classes,
                                           check_threat_model)
from art_bmtad.algorithm.selection import SELECTION_METRICS
from art_bmtad.algorithm.teachers import Teacher, classifier_logits
from art_bmtad.trainers.history import History
from art_bmtad.trainers.run_mechanics import CheckpointPlan, Run, RunMechanics, check_positive_int, checkpoint_plan
from art_bmtad.trainers.teacher_report import TeacherMonitor, teacher_report
from art_bmtad.trainers.training_checkpoints import LoopState
from art_bmtad.utils import distributed
from art_bmtad.utils.determinism import use_deterministic_kernels
from art_bmtad.utils.device import synchronize

logger = logging.getLogger(__name__)

GAUSSIAN_START = 0.001
"""Standard deviation of the MTARD family's attack start ``x + 0.001 * N(0, 1)``."""


@dataclass(frozen=True)
class _EpochData:
    """What the loop needs from a data source: batch slots per epoch, each epoch's order, the batches from a slot."""

    n_slots: int
    order: Callable[[int, int], torch.Tensor | None]  # (data seed, epoch) -> the epoch's sample order
    batches: Callable[[torch.Tensor | None, int], Iterator[tuple[int, torch.Tensor, torch.Tensor]]]
    signature: dict[str, Any]  # must match when resuming


class DistillationTrainer(Trainer, abc.ABC):
    """Adversarial distillation of an ART ``PyTorchClassifier`` student from frozen teachers.

    Args:
        classifier: the student; its model, optimizer, loss, clip values and (PyTorch) preprocessing are used.
        teachers: frozen teachers, each with the batch it sees.
        attack: an ART ``EvasionAttack`` on the student that replaces the method's default attack.
        eps: attack budget (Linf) in the student's clip-value space.
        eps_step: attack step size.
        max_iter: attack steps.
        kl_scale: factor on every KL term (10 reproduces the released CIFAR-100 scripts, undoing the 1/C of the
            mean over classes).
        augment: callable applied to each ``(B, C, H, W)`` training batch on the device (e.g. random crop + flip).
        amp: bf16 autocast for forwards and attacks (meant for CUDA; also runs on CPU).
        channels_last: channels-last memory format for the student and its batches.
        compile_student: ``torch.compile`` the student for the two training forwards.
        scheduler_step: ``"epoch"`` (ART's convention) or ``"batch"`` for per-iteration schedulers.
        select_by: keep the epoch with the best validation ``"robust"``, ``"clean"`` or ``"sum"`` accuracy
            (validation data only); ``None`` keeps the last epoch.
        deterministic: ask PyTorch for deterministic kernels when training starts (process-wide; see
            :func:`art_bmtad.utils.determinism.use_deterministic_kernels` and ``docs/determinism.md``).
        teacher_report_size: before the first step, measure every teacher on up to this many validation
            examples (clean accuracy, PGD accuracy for robust teachers, mean entropy; see
            :mod:`art_bmtad.trainers.teacher_report`) into ``history.meta["teacher_report"]``; 0 skips it.
        verbose: progress bars (rank 0 only under ``torch.distributed``).
    """

    method: str = "distillation"

    def __init__(
        self,
        classifier: PyTorchClassifier,
        teachers: list[Teacher],
        *,
        attack: EvasionAttack | None = None,
        eps: float = 8 / 255,
        eps_step: float = 2 / 255,
        max_iter: int = 10,
        kl_scale: float = 1.0,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        amp: bool = False,
        channels_last: bool = False,
        compile_student: bool = False,
        scheduler_step: str = "epoch",
        select_by: str | None = None,
        deterministic: bool = False,
        teacher_report_size: int = 512,
        verbose: bool = True,
    ) -> None:
        check_student(classifier)
        super().__init__(classifier)
        check_threat_model(eps, eps_step, max_iter, classifier.clip_values)
        if scheduler_step not in ("epoch", "batch"):
            raise ValueError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")
        if select_by is not None and select_by not in SELECTION_METRICS:
            raise ValueError(f"select_by must be None or one of {sorted(SELECTION_METRICS)}, got {select_by!r}")
        if not kl_scale > 0:
            raise ValueError(f"kl_scale must be > 0, got {kl_scale}")
        self.eps, self.eps_step, self.max_iter = float(eps), float(eps_step), int(max_iter)
        self.kl_scale = float(kl_scale)
        self.augment = augment
        self.amp = amp
        self.channels_last = channels_last
        self.scheduler_step = scheduler_step
        self.select_by = select_by
        self.deterministic = deterministic
        self.teacher_report_size = int(teacher_report_size)
        self.verbose = verbose
        self.device = classifier.device
        self.teachers = teachers
        self._check_teachers()
        self._monitor = TeacherMonitor(teachers)
        self._compile_student = compile_student
        self._local_forward = torch.compile(classifier.model) if compile_student else classifier.model
        self._student_forward = self._local_forward
        self._attack = AdversarialBatch(attack) if attack is not None else self._default_attack()
        self._validation_attack = AdversarialBatch(
            pgd_linf(classifier, self.eps, self.eps_step, self.max_iter), gaussian_start=GAUSSIAN_START
        )
        self.history = History()
        self.history.meta = {
            "method": self.method,
            "teachers": [{"name": t.name, "role": t.role} for t in teachers],
            "eps": self.eps,
            "eps_step": self.eps_step,
            "max_iter": self.max_iter,
            "kl_scale": self.kl_scale,
        }
        self._mechanics = RunMechanics(self.method, classifier, self._stateful_parts)

    # ----------------------------------------------------------------- the method's pieces
    @abc.abstractmethod
    def _default_attack(self) -> AdversarialBatch:
        """The method's own adversarial-batch maker, built on the student."""

    @abc.abstractmethod
    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimiser step on the batch ``(x, y)`` (device tensors, labels as indices); returns the named 0-dim
        values the history records (:meth:`_step_values`)."""

    def _scale_balancer_rates(self, factor: float) -> None:
        """Called every step with ``current lr / initial lr``; methods with balancers decay their rates."""

    def _check_teacher_roles(self) -> None:
        """Methods that need particular teachers raise here."""

    def _stateful_parts(self) -> dict[str, Any]:
        """Objects with ``state_dict``/``load_state_dict`` that checkpoints must hold (e.g. balancers)."""
        return {}

    def on_step_end(self, epoch: int, step: int) -> None:
        """Called after every optimiser step with the 1-based epoch and the run's step count; does nothing.

        Override it (or assign a function to it on an instance) to observe training. It may raise to stop: a
        ``KeyboardInterrupt`` raised here saves a checkpoint first when checkpointing is on, in one process (under
        torchrun saving is collective: signal the process with SIGINT or SIGTERM instead, and every rank stops
        after the same step and saves it).
        """

    def on_epoch_end(self, epoch: dict[str, Any]) -> None:
        """Called after every epoch's validation with its summary (``epoch``, ``loss``, ``val_clean_acc``, ...);
        does nothing.

        Override it (or assign a function to it on an instance) to follow training, e.g. to report to a
        hyperparameter search; an exception raised here (other than ``KeyboardInterrupt``) stops training unsaved.
        """

    # ----------------------------------------------------------------- ART Trainer API
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        batch_size: int = 128,
        nb_epochs: int = 20,
        scheduler: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        keep_last: int = 3,
        resume: str | os.PathLike | bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Train the student on ``x`` (in the clip-value range) with labels ``y`` (indices or one-hot).

        Under ``torch.distributed`` (see :mod:`art_bmtad.utils.distributed`) ``batch_size`` stays the global batch:
        each of the N processes takes ``batch_size / N`` samples of it.

        Args:
            x: training inputs of the student's input shape.
            y: labels, ``(N,)`` indices or ``(N, C)`` one-hot.
            validation_data: ``(x_val, y_val)`` for per-epoch clean and PGD accuracy and model selection.
            batch_size: (global) batch size.
            nb_epochs: number of epochs in total (a resumed run continues up to it).
            scheduler: any torch learning-rate scheduler on the student's optimizer.
            checkpoint_dir: folder for training checkpoints (see :mod:`art_bmtad.trainers.training_checkpoints`),
                written at each epoch end and every ``checkpoint_every`` steps; must be writable (checked before
                training) and, unless resuming, hold no checkpoints yet.
            checkpoint_every: also checkpoint every this many optimiser steps (``None``: epoch ends only).
            keep_last: number of checkpoints kept.
            resume: a checkpoint folder (its newest intact checkpoint is used; damaged newer ones are reported
                and skipped) or one checkpoint file, to continue exactly where that run stopped; ``True``
                resumes from ``checkpoint_dir`` if it holds a checkpoint and starts afresh otherwise. Pass the
                same data, batch size, scheduler type and number of processes as the interrupted run.

        Raises:
            ValueError: bad data or settings, or a checkpoint that does not fit this run (names what differs).
            OSError: the checkpoint folder is not writable, or a checkpoint could not be written.
            FloatingPointError: the loss or the weights became NaN/Inf (names the step; nothing non-finite is
                saved, earlier checkpoints are kept).
            KeyboardInterrupt: re-raised after saving a checkpoint of the last completed step.
        """
        x, y = check_data(x, y, self._classifier)
        check_positive_int(batch_size=batch_size, nb_epochs=nb_epochs)
        world = distributed.world_size()
        if batch_size % world:
            raise ValueError(
                f"batch_size {batch_size} is the global batch and must be divisible by the {world} processes"
            )
        check_batching(len(x), batch_size, world)
        plan = checkpoint_plan(checkpoint_dir, checkpoint_every, keep_last, resume)
        validation = self._validation_tensors(validation_data)
        x_t, y_t = self._to_device(x), self._to_device(y)
        n_slots = math.ceil((len(x_t) + (-len(x_t) % world)) / batch_size)

        def order(seed: int, epoch: int) -> torch.Tensor:
            return distributed.epoch_order(len(x_t), seed, epoch)

        def batches(order: torch.Tensor | None, start: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
            order = order.to(self.device)
            for slot in range(start, n_slots):
                index = distributed.shard_of(order[slot * batch_size : (slot + 1) * batch_size])
                if len(index) > 1:  # a batch of one breaks BatchNorm in train mode
                    yield slot, x_t[index], y_t[index]

        signature = {"source": "arrays", "n_samples": len(x_t), "batch_size": batch_size, "world_size": world}
        self._train(_EpochData(n_slots, order, batches, signature), nb_epochs, scheduler, validation, plan)

    def fit_generator(
        self,
        generator: Any,
        nb_epochs: int = 20,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        scheduler: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        keep_last: int = 3,
        resume: str | os.PathLike | bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Train from an ART ``DataGenerator`` (``get_batch()``, ``size``, ``batch_size``).

        Checkpointing works as in :meth:`fit`. A generator's own shuffling state cannot be saved: a run resumed
        in the middle of an epoch draws and discards the batches already trained on, which continues exactly
        only for generators whose order is reproducible. Under ``torch.distributed`` each process's generator
        must yield that process's own shard.
        """
        check_positive_int(nb_epochs=nb_epochs)
        size, batch_size = (getattr(generator, name, None) for name in ("size", "batch_size"))
        if not all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in (size, batch_size)):
            raise TypeError(f"generator must be an ART DataGenerator with integer size and batch_size, got "
                            f"{type(generator).__name__} (size={size!r}, batch_size={batch_size!r})")
        check_batching(int(size), int(batch_size), batch_name="generator.batch_size", data_name="generator")
        plan = checkpoint_plan(checkpoint_dir, checkpoint_every, keep_last, resume)
        validation = self._validation_tensors(validation_data)
        n_batches = math.ceil(size / batch_size)

        def batches(order: None, start: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
            for slot in range(n_batches):
                x, y = generator.get_batch()
                if slot >= start:
                    x, y = check_data(np.asarray(_to_numpy(x)), np.asarray(_to_numpy(y)), self._classifier,
                                      name="generator batch")
                    yield slot, self._to_device(x), self._to_device(y)

        signature = {"source": "generator", "n_samples": int(generator.size), "batch_size": int(generator.batch_size),
                     "world_size": distributed.world_size()}
        self._train(_EpochData(n_batches, lambda seed, epoch: None, batches, signature), nb_epochs, scheduler,
                    validation, plan)

    def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Predictions of the student (ART ``predict``)."""
        return self._classifier.predict(x, **kwargs)

    # ----------------------------------------------------------------- the loop
    def _train(
        self,
        data: _EpochData,
        nb_epochs: int,
        scheduler: Any,
        validation: tuple[torch.Tensor, torch.Tensor] | None,
        plan: CheckpointPlan,
    ) -> None:
        if self.select_by is not None and validation is None:
            raise ValueError(f"select_by={self.select_by!r} needs validation_data")
        model, optimizer = self._classifier.model, self._classifier.optimizer
        run = self._start(data, scheduler, plan, validation)
        loop, show = run.loop, self.verbose and distributed.is_main_process()
        epochs = tqdm(total=nb_epochs, initial=min(loop.epoch, nb_epochs), desc=self.method, disable=not show)
        consistent = True  # False while a step or an epoch end is half done: such a state is never saved
        try:
            # The handlers stay installed until the interrupted run is saved: under torchrun a repeated SIGTERM
            # during the collective save is ignored instead of killing a rank mid-save.
            with self._mechanics.interrupts_deferred(enabled=run.store is not None):
                try:
                    while loop.epoch < nb_epochs:
                        if loop.slot == 0:
                            loop.order = data.order(loop.data_seed, loop.epoch)
                        model.train()
                        started = time.perf_counter()
                        batches = data.batches(loop.order, loop.slot)
                        bar = tqdm(batches, total=data.n_slots, initial=loop.slot, leave=False, disable=not show)
                        for slot, x, y in bar:
                            consistent = False
                            self._scale_balancer_rates(optimizer.param_groups[0]["lr"] / loop.initial_lr)
                            self.history.record_step(self._train_step(x, y))
                            if scheduler is not None and self.scheduler_step == "batch":
                                scheduler.step()
                            loop.slot, loop.step, consistent = slot + 1, loop.step + 1, True
                            self.on_step_end(loop.epoch + 1, loop.step)
                            self._mechanics.stop_if_interrupted()
                            if run.store is not None and run.every and loop.step % run.every == 0:
                                self._mechanics.save(run)
                        consistent = False
                        self._end_epoch(run, validation, started, epochs)
                        loop.epoch, loop.slot, loop.order, consistent = loop.epoch + 1, 0, None, True
                        epochs.update()
                        if run.store is not None:
                            self._mechanics.save(run)
                        self._mechanics.stop_if_interrupted()
                except KeyboardInterrupt:
                    self._mechanics.save_on_interrupt(run, consistent)
                    raise
        finally:
            epochs.close()
        if loop.best is not None:
            model.load_state_dict(loop.best[2])
            self.history.meta["selected_epoch"] = loop.best[1]

    def _start(
        self,
        data: _EpochData,
        scheduler: Any,
        plan: CheckpointPlan,
        validation: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> Run:
        """Everything before the first step: kernels, teachers, the training forward, the checkpoint folder, the
        position to start from (fresh, or restored from a checkpoint) and, when fresh, the teacher report."""
        if self.deterministic:
            use_deterministic_kernels()
        if self.channels_last:
            self._classifier.model.to(memory_format=torch.channels_last)
        for teacher in self.teachers:
            teacher.freeze(self.device)
            distributed.broadcast_module(teacher.module)  # every rank distils from rank 0's teachers
        self._student_forward = self._training_forward()
        mechanics = self._mechanics
        run = Run(LoopState(), self.history, mechanics.open_store(plan, scheduler), plan.every, scheduler,
                  data.signature)
        run.loop = mechanics.resume(run, plan.resume) if plan.resume is not None else mechanics.fresh_loop()
        if run.loop.step == 0 and validation is not None and self.teacher_report_size > 0:
            self._report_teachers(*validation)
        return run

    def _report_teachers(self, x: torch.Tensor, y: torch.Tensor) -> None:
        rows = teacher_report(self.teachers, self._classifier, x[: self.teacher_report_size],
                              y[: self.teacher_report_size], eps=self.eps, eps_step=self.eps_step,
                              max_iter=self.max_iter)
        self.history.meta["teacher_report"] = [row.to_dict() for row in rows]

    def _end_epoch(
        self, run: Run, validation: tuple[torch.Tensor, torch.Tensor] | None, started: float, bar: Any
    ) -> None:
        """Finite check, validation, epoch summary, epoch-wise scheduler step and model selection."""
        loop, optimizer = run.loop, self._classifier.optimizer
        synchronize(self.device)
        summary: dict[str, Any] = {"lr": optimizer.param_groups[0]["lr"], "time_s": time.perf_counter() - started}
        self._mechanics.check_finite(run)
        if validation is not None:
            summary.update(self.evaluate(*validation))
        epoch = self.history.end_epoch(**summary)
        if distributed.is_main_process():
            self._log_epoch(epoch, bar)
            self._monitor.check_epoch(epoch)
        self.on_epoch_end(epoch)
        if run.scheduler is not None and self.scheduler_step == "epoch":
            _step_scheduler(run.scheduler, epoch["loss"])
        if self.select_by is not None:
            score = sum(epoch[key] for key in SELECTION_METRICS[self.select_by])
            if loop.best is None or score > loop.best[0]:
                state = {k: v.detach().clone() for k, v in self._classifier.model.state_dict().items()}
                loop.best = (score, epoch["epoch"], state)

    # ----------------------------------------------------------------- pieces of a step
    def _prepare_batch(self, x: torch.Tensor) -> torch.Tensor:
        """The training batch augmented (if asked) and in the student's memory format."""
        if self.augment is not None:
            x = self.augment(x)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self._classifier.nb_classes).float()

    def _student_forwards(self, x_adv: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The student in train mode: ``S(x_adv)``, then ``S(x)`` (BatchNorm statistics update on both)."""
        self._classifier.model.train()
        return self._student_logits(x_adv), self._student_logits(x)

    def _optimise(self, loss: torch.Tensor) -> None:
        optimizer = self._classifier.optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def _step_values(self, loss: torch.Tensor, record: dict[str, torch.Tensor], y: torch.Tensor, z_adv: torch.Tensor,
                     teacher_logits: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the history records of a step: the loss, the method's ``record``, the teacher monitor's agreement
        values (from logits the step already has), averaged over the processes of a DDP run (identical everywhere)."""
        monitored = self._monitor.record(y, z_adv, teacher_logits)
        return distributed.mean_of_values({"loss": loss.detach(), **record, **monitored})

    def _training_forward(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The student for the training forwards: DDP-wrapped under ``torch.distributed``, compiled if asked."""
        if not distributed.is_distributed():
            return self._local_forward
        ddp = distributed.wrap_for_training(self._classifier.model, self.device)
        return torch.compile(ddp) if self._compile_student else ddp

    def _student_logits(self, x: torch.Tensor) -> torch.Tensor:
        x_pre, _ = self._classifier._apply_preprocessing(x, y=None, fit=True, no_grad=False)
        return self._student_forward(x_pre)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
        """Clean and PGD accuracy of the student (eval mode) with the training budget, on device tensors.

        Under ``torch.distributed`` each rank evaluates its share and the counts are summed.
        """
        model = self._classifier.model
        n = len(x)
        x, y = x[distributed.rank() :: distributed.world_size()], y[distributed.rank() :: distributed.world_size()]
        correct = torch.zeros(2, device=self.device)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            x_adv = self._validation_attack(xb, F.one_hot(yb, self._classifier.nb_classes).float())
            model.eval()
            with torch.no_grad(), self._autocast():
                for row, inputs in enumerate((xb, x_adv)):
                    correct[row] += (classifier_logits(self._classifier, inputs).argmax(1) == yb).sum()
        model.train()
        clean, robust = (distributed.sum_across_ranks(correct) / n).tolist()
        return {"val_clean_acc": clean, "val_pgd_acc": robust}

    # ----------------------------------------------------------------- helpers
    def _check_teachers(self) -> None:
        if not self.teachers:
            raise ValueError(f"{type(self).__name__} needs at least one teacher")
        self._check_teacher_roles()
        probe = torch.zeros((2, *self._classifier.input_shape), device=self.device)
        for teacher in self.teachers:
            teacher.freeze(self.device)
            check_teacher_classes(teacher.logits(probe), self._classifier.nb_classes, teacher.name)

    def _validation_tensors(
        self, validation_data: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        if validation_data is None:
            return None
        x, y = check_data(*validation_data, self._classifier, name="validation x")
        return self._to_device(x), self._to_device(y)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _log_epoch(self, epoch: dict[str, Any], bar: Any) -> None:
        shown = {k: v for k, v in epoch.items() if isinstance(v, float) and not k.startswith(("entropy/", "diag/"))}
        text = " ".join(f"{k}={v:.4g}" for k, v in shown.items())
        logger.info("%s epoch %d: %s", self.method, epoch["epoch"], text)
        bar.set_postfix_str(text, refresh=False)


def _to_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def _step_scheduler(scheduler: Any, epoch_loss: float) -> None:
    """Any torch scheduler; ReduceLROnPlateau is stepped on the epoch's mean training loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(epoch_loss)
    else:
        scheduler.step()
