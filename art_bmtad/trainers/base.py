"""The one training skeleton of adversarial distillation; each method supplies only its pieces.

A method (B-MTARD, MTARD, RSLAD, ARD) says how its adversarial batch is made (:meth:`_default_attack`,
:meth:`_attack_labels`), which teacher sees which batch (each :class:`~art_bmtad.teachers.Teacher`'s role) and
what its loss and balancing are (:meth:`_distillation_loss`). Batching, device placement, mixed precision, the
learning-rate scheduler, validation, model selection, history and logging live here, once.

Defences such as these need careful evaluation (strong, adaptive attacks) before robustness is claimed.
"""
from __future__ import annotations

import abc
import contextlib
import logging
import math
import time
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from art.attacks.attack import EvasionAttack
from art.defences.trainer.trainer import Trainer
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from art_bmtad.adversarial import AdversarialBatch, pgd_linf
from art_bmtad.history import History
from art_bmtad.teachers import Teacher, classifier_logits
from art_bmtad.validation import check_data, check_student, check_teacher_classes, check_threat_model

logger = logging.getLogger(__name__)

Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
SELECTION_METRICS = {"robust": ("val_pgd_acc",), "clean": ("val_clean_acc",), "sum": ("val_clean_acc", "val_pgd_acc")}
GAUSSIAN_START = 0.001
"""Standard deviation of the MTARD family's attack start ``x + 0.001 * N(0, 1)``."""


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
        verbose: progress bars.
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
        self.verbose = verbose
        self.device = classifier.device
        self.teachers = teachers
        self._check_teachers()
        module = classifier.model
        self._student_forward = torch.compile(module) if compile_student else module
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

    # ----------------------------------------------------------------- the method's pieces
    @abc.abstractmethod
    def _default_attack(self) -> AdversarialBatch:
        """The method's own adversarial-batch maker, built on the student."""

    def _attack_labels(self, y_onehot: torch.Tensor, clean_teacher_logits: dict[int, torch.Tensor]) -> torch.Tensor:
        """Labels the attack uses (default: the true labels, one-hot)."""
        return y_onehot

    @abc.abstractmethod
    def _distillation_loss(
        self, z_adv: torch.Tensor, z_nat: torch.Tensor, teacher_logits: list[torch.Tensor], y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss of the step and the named 0-dim values to record in the history."""

    def _scale_balancer_rates(self, factor: float) -> None:
        """Called every step with ``current lr / initial lr``; methods with balancers decay their rates."""

    def _check_teacher_roles(self) -> None:
        """Methods that need particular teachers raise here."""

    # ----------------------------------------------------------------- ART Trainer API
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        batch_size: int = 128,
        nb_epochs: int = 20,
        scheduler: Any = None,
        **kwargs: Any,
    ) -> None:
        """Train the student on ``x`` (in the clip-value range) with labels ``y`` (indices or one-hot).

        Args:
            x: training inputs of the student's input shape.
            y: labels, ``(N,)`` indices or ``(N, C)`` one-hot.
            validation_data: ``(x_val, y_val)`` for per-epoch clean and PGD accuracy and model selection.
            batch_size: batch size.
            nb_epochs: number of epochs.
            scheduler: any torch learning-rate scheduler on the student's optimizer.
        """
        x, y = check_data(x, y, self._classifier)
        _check_positive_int(batch_size=batch_size, nb_epochs=nb_epochs)
        validation = self._validation_tensors(validation_data)
        x_t, y_t = self._to_device(x), self._to_device(y)

        def epoch_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            order = torch.randperm(len(x_t), device=self.device)
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                if len(index) > 1:  # a batch of one breaks BatchNorm in train mode
                    yield x_t[index], y_t[index]

        self._train(epoch_batches, math.ceil(len(x_t) / batch_size), nb_epochs, scheduler, validation)

    def fit_generator(
        self,
        generator: Any,
        nb_epochs: int = 20,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        scheduler: Any = None,
        **kwargs: Any,
    ) -> None:
        """Train from an ART ``DataGenerator`` (``get_batch()``, ``size``, ``batch_size``)."""
        _check_positive_int(nb_epochs=nb_epochs)
        validation = self._validation_tensors(validation_data)
        n_batches = math.ceil(generator.size / generator.batch_size)

        def epoch_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for _ in range(n_batches):
                x, y = (np.asarray(_to_numpy(v)) for v in generator.get_batch())
                x, y = check_data(x, y, self._classifier, name="generator batch")
                yield self._to_device(x), self._to_device(y)

        self._train(epoch_batches, n_batches, nb_epochs, scheduler, validation)

    def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Predictions of the student (ART ``predict``)."""
        return self._classifier.predict(x, **kwargs)

    # ----------------------------------------------------------------- the loop
    def _train(
        self,
        epoch_batches: Batches,
        n_batches: int,
        nb_epochs: int,
        scheduler: Any,
        validation: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> None:
        if self.select_by is not None and validation is None:
            raise ValueError(f"select_by={self.select_by!r} needs validation_data")
        model, optimizer = self._classifier.model, self._classifier.optimizer
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        for teacher in self.teachers:
            teacher.freeze(self.device)
        initial_lr = optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"])
        best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        epochs = tqdm(range(nb_epochs), desc=self.method, disable=not self.verbose)
        for _ in epochs:
            model.train()
            started = time.perf_counter()
            for x, y in tqdm(epoch_batches(), total=n_batches, leave=False, disable=not self.verbose):
                self._scale_balancer_rates(optimizer.param_groups[0]["lr"] / initial_lr)
                self.history.record_step(self._train_step(x, y))
                if scheduler is not None and self.scheduler_step == "batch":
                    scheduler.step()
            _synchronize(self.device)
            summary: dict[str, Any] = {"lr": optimizer.param_groups[0]["lr"], "time_s": time.perf_counter() - started}
            if validation is not None:
                summary.update(self.evaluate(*validation))
            epoch = self.history.end_epoch(**summary)
            self._log_epoch(epoch, epochs)
            if not math.isfinite(epoch["loss"]):
                raise FloatingPointError(
                    f"{self.method}: the training loss became {epoch['loss']} in epoch {epoch['epoch']}; "
                    "lower the learning rate or check the data and teachers"
                )
            if scheduler is not None and self.scheduler_step == "epoch":
                _step_scheduler(scheduler, epoch["loss"])
            if self.select_by is not None:
                score = sum(epoch[key] for key in SELECTION_METRICS[self.select_by])
                if best is None or score > best[0]:
                    best = (score, epoch["epoch"], {k: v.detach().clone() for k, v in model.state_dict().items()})
        if best is not None:
            model.load_state_dict(best[2])
            self.history.meta["selected_epoch"] = best[1]

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.augment is not None:
            x = self.augment(x)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        model, optimizer = self._classifier.model, self._classifier.optimizer
        y_onehot = F.one_hot(y, self._classifier.nb_classes).float()
        with self._autocast():
            clean_logits = {i: t.logits(x) for i, t in enumerate(self.teachers) if t.role == "nat"}
            x_adv = self._attack(x, self._attack_labels(y_onehot, clean_logits))
            model.train()
            z_adv = self._student_logits(x_adv)
            z_nat = self._student_logits(x)
            adv_logits = {i: t.logits(x_adv) for i, t in enumerate(self.teachers) if t.role == "adv"}
            teacher_logits = [{**clean_logits, **adv_logits}[i] for i in range(len(self.teachers))]
            loss, record = self._distillation_loss(z_adv, z_nat, teacher_logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), **record}

    def _student_logits(self, x: torch.Tensor) -> torch.Tensor:
        x_pre, _ = self._classifier._apply_preprocessing(x, y=None, fit=True, no_grad=False)
        return self._student_forward(x_pre)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
        """Clean and PGD accuracy of the student (eval mode) with the training budget, on device tensors."""
        model = self._classifier.model
        correct = torch.zeros(2, device=self.device)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            x_adv = self._validation_attack(xb, F.one_hot(yb, self._classifier.nb_classes).float())
            model.eval()
            with torch.no_grad(), self._autocast():
                for row, inputs in enumerate((xb, x_adv)):
                    correct[row] += (classifier_logits(self._classifier, inputs).argmax(1) == yb).sum()
        model.train()
        clean, robust = (correct / len(x)).tolist()
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
        shown = {k: v for k, v in epoch.items() if isinstance(v, float) and not k.startswith("entropy/")}
        text = " ".join(f"{k}={v:.4g}" for k, v in shown.items())
        logger.info("%s epoch %d: %s", self.method, epoch["epoch"], text)
        bar.set_postfix_str(text, refresh=False)


def _check_positive_int(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _to_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def _step_scheduler(scheduler: Any, epoch_loss: float) -> None:
    """Any torch scheduler; ReduceLROnPlateau is stepped on the epoch's mean training loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(epoch_loss)
    else:
        scheduler.step()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
