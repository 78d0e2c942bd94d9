"""Teacher preparation: train a clean or a robust teacher once, cache it, reuse it.

* ``clean``: standard cross-entropy training (SGD, cosine learning-rate decay per step),
  data resident on the device, shuffling by ``torch.randperm``, optional crop/flip augmentation.
* ``madry``: ART's ``AdversarialTrainerMadryPGD`` (PGD adversarial training, Madry et al. 2018,
  https://arxiv.org/abs/1706.06083).
* ``trades``: ART's ``AdversarialTrainerTRADESPyTorch`` (Zhang et al. 2019,
  https://proceedings.mlr.press/v97/zhang19p.html).

Robust teachers train at a constant learning rate unless ``milestones`` name the epochs after which it is
multiplied by 0.1, the step decay of adversarial-training practice: for the same epochs it gives a markedly more
robust teacher (see the docs' teachers page), and the teacher's strength decides most of what distillation can reach.

Robust teachers need careful evaluation (e.g. AutoAttack) before they are trusted.

A trained teacher is saved in the checkpoint format of :mod:`art_bmtad.models.classifier_files` under
``<cache>/<key>/teacher.safetensors``, where ``key`` is the SHA-256 of the resolved
:class:`TeacherConfig` and of the training data; the same configuration on the same data is
then loaded instead of trained. The cache folder is ``cache_dir``, else ``$ART_BMTAD_CACHE/teachers``, else
``teachers`` in the platform's cache folder (``platformdirs.user_cache_dir("art-bmtad")``: ``~/.cache/art-bmtad`` on
Linux, ``~/Library/Caches/art-bmtad`` on macOS). Looking a teacher up and training it happen under a file lock per
key, so processes that ask for the same teacher at once (parallel ``tune --join`` workers, two benchmarks) train it
once: the others wait, then load the cached file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from filelock import FileLock

import numpy as np
import platformdirs
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.defences.trainer import AdversarialTrainerMadryPGD, AdversarialTrainerTRADESPyTorch
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import trange

from art_bmtad.algorithm.augment import random_crop_flip
from art_bmtad.data.datasets import Dataset
from art_bmtad.models.classifier import create_classifier
from art_bmtad.models.classifier_files import load_classifier, save_classifier
from art_bmtad.recipes.teacher_config import CACHE_ENV, KINDS, TeacherConfig

logger = logging.getLogger(__name__)

APP_NAME = "art-bmtad"
"""The folder name of the cache in the platform's cache folder."""
CACHE_FORMAT = 1
WEIGHTS_NAME = "teacher.safetensors"


@dataclass
class PreparedTeacher:
    """A ready teacher and where it came from.

    Attributes:
        classifier: The teacher as an ART classifier, in eval mode.
        path: Its ``.safetensors`` file (``out`` when given, else the cached file).
        cached: ``True`` when it was loaded from the cache instead of trained.
        key: The cache key.
        train_seconds: What training it cost, when it was trained (also for a cached teacher: the time saved in
            its sidecar); ``None`` for cache entries written before that was recorded.
    """

    classifier: PyTorchClassifier
    path: Path
    cached: bool
    key: str
    train_seconds: float | None = None


def prepare_teacher(
    config: TeacherConfig,
    data: Dataset,
    *,
    cache_dir: str | Path | None = None,
    out: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> PreparedTeacher:
    """Return the teacher for ``config`` and ``data``: from the cache, or trained and cached.

    Args:
        config: The teacher configuration.
        data: Training data (``x_train``, ``y_train`` are used; the key covers them and the
            normalisation).
        cache_dir: Cache folder; default ``$ART_BMTAD_CACHE/teachers``, else the platform's (:func:`resolve_cache_dir`).
        out: Also save the teacher here (``<stem>.safetensors`` + ``<stem>.json``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: Show the clean training loop's progress bar (ART's trainers draw their own).

    Returns:
        The prepared teacher.
    """
    key = teacher_cache_key(config, data)
    folder = resolve_cache_dir(cache_dir)
    cached_path = folder / key / WEIGHTS_NAME
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / f"{key}.lock"):  # one process trains a teacher; the others wait, then load it
        cached = cached_path.is_file() and cached_path.with_suffix(".json").is_file()
        if cached:
            classifier = load_classifier(cached_path, device=device)
            seconds = json.loads(cached_path.with_suffix(".json").read_text()).get("extra", {}).get("train_seconds")
        else:
            started = time.perf_counter()
            classifier = train_teacher(config, data, device=device, progress=progress)
            seconds = time.perf_counter() - started
            _save(classifier, cached_path, config, data, key, seconds)
    path = _save(classifier, Path(out), config, data, key, seconds) if out is not None else cached_path
    return PreparedTeacher(classifier=classifier, path=path, cached=cached, key=key, train_seconds=seconds)


def train_teacher(
    config: TeacherConfig, data: Dataset, *, device: str | torch.device = "auto", progress: bool = True
) -> PyTorchClassifier:
    """Build a fresh classifier of ``config.model`` for ``data`` and train it as ``config`` says (no caching).

    Args:
        config: The teacher configuration.
        data: Training data and its normalisation.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: Show the clean training loop's progress bar (ART's trainers draw their own).

    Returns:
        The trained classifier, in eval mode.
    """
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)  # ART's trainers shuffle with numpy's global generator
    classifier = create_classifier(
        config.model,
        dataset=data,
        cifar_stem=config.cifar_stem or None,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        device=device,
    )
    TRAINERS[config.kind](classifier, config, data, progress)
    classifier.model.eval()
    return classifier


def teacher_cache_key(config: TeacherConfig, data: Dataset) -> str:
    """SHA-256 of the resolved configuration and of the training data (its shape is the input shape), its
    normalisation and its class count (a teacher is only reused for data with its classes).

    Args:
        config: The teacher configuration.
        data: The training data.

    Returns:
        Hex digest.
    """
    digest = hashlib.sha256()
    fields = asdict(config)
    if not config.milestones:
        del fields["milestones"]  # teachers cached before the option existed keep their keys
    description = {"format": CACHE_FORMAT, "config": fields, "mean": data.mean, "std": data.std}
    if data.nb_classes != int(data.y_train.max()) + 1:  # labels alone do not say it; keys that did stay as they were
        description["classes"] = data.nb_classes
    digest.update(json.dumps(description, sort_keys=True).encode())
    for array in (data.x_train, data.y_train):
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The teacher cache folder: ``cache_dir``, else ``$ART_BMTAD_CACHE/teachers``, else ``teachers`` in the
    platform's cache folder (``platformdirs.user_cache_dir("art-bmtad")``).

    Args:
        cache_dir: Explicit folder, or ``None``.

    Returns:
        The folder (not created).
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir(APP_NAME)).expanduser() / "teachers"


def _train_clean(classifier: PyTorchClassifier, config: TeacherConfig, data: Dataset, progress: bool) -> None:
    device = classifier.device
    x = torch.from_numpy(data.x_train).to(device)
    y = torch.from_numpy(data.y_train).to(device)
    model, optimizer, loss_fn = classifier.model, classifier.optimizer, torch.nn.CrossEntropyLoss()
    steps = config.epochs * -(-len(x) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    model.train()
    epochs = trange(config.epochs, desc=f"clean teacher {config.model}", disable=not progress)
    for epoch in epochs:
        started = time.perf_counter()
        total = torch.zeros((), device=device)
        for batch in torch.randperm(len(x), device=device, generator=generator).split(config.batch_size):
            inputs = random_crop_flip(x[batch], generator=generator) if config.augment else x[batch]
            normalised, _ = classifier._apply_preprocessing(inputs, None, fit=True)  # ART's own (mean, std) step
            loss = loss_fn(model(normalised), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(batch)
        epoch_loss = total.item() / len(x)
        epochs.set_postfix(loss=f"{epoch_loss:.4f}")
        _log_epoch(config, epoch, started, f"loss {epoch_loss:.4f}")


def _train_madry(classifier: PyTorchClassifier, config: TeacherConfig, data: Dataset, progress: bool) -> None:
    trainer = AdversarialTrainerMadryPGD(
        classifier,
        nb_epochs=config.epochs,
        batch_size=config.batch_size,
        eps=config.eps,
        eps_step=config.eps_step,
        max_iter=config.max_iter,
    )
    _fit_with_step_decay(classifier, config, lambda epochs: trainer.fit(data.x_train, data.y_train, nb_epochs=epochs))


def _train_trades(classifier: PyTorchClassifier, config: TeacherConfig, data: Dataset, progress: bool) -> None:
    attack = ProjectedGradientDescent(
        classifier, eps=config.eps, eps_step=config.eps_step, max_iter=config.max_iter, verbose=False
    )
    trainer = AdversarialTrainerTRADESPyTorch(classifier, attack, beta=config.beta)
    _fit_with_step_decay(classifier, config, lambda epochs: trainer.fit(data.x_train, data.y_train, nb_epochs=epochs,
                                                                        batch_size=config.batch_size))


def _fit_with_step_decay(classifier: PyTorchClassifier, config: TeacherConfig, fit: Callable[[int], None]) -> None:
    """``fit(config.epochs)`` at a constant learning rate, or, with milestones, ``fit(1)`` per epoch with the
    learning rate x0.1 after each milestone. ART's trainers keep no schedule of their own (its TRADES trainer's
    ``scheduler`` argument rejects current torch schedulers), so the epoch-wise calls train the same way."""
    if not config.milestones:
        fit(config.epochs)
        return
    scheduler = torch.optim.lr_scheduler.MultiStepLR(classifier.optimizer, list(config.milestones), gamma=0.1)
    for epoch in range(config.epochs):
        started = time.perf_counter()
        fit(1)
        _log_epoch(config, epoch, started, f"lr {scheduler.get_last_lr()[0]:g}")
        scheduler.step()


def _log_epoch(config: TeacherConfig, epoch: int, started: float, detail: str) -> None:
    """One line per teacher epoch, which is what a log gets where no progress bar is drawn."""
    logger.info("%s teacher %s: epoch %d/%d, %s (%.1f s)", config.kind, config.model, epoch + 1, config.epochs, detail,
                time.perf_counter() - started)


TRAINERS: dict[str, Callable[[PyTorchClassifier, TeacherConfig, Dataset, bool], None]] = {
    "clean": _train_clean,
    "madry": _train_madry,
    "trades": _train_trades,
}


def _save(classifier: PyTorchClassifier, path: Path, config: TeacherConfig, data: Dataset, key: str,
          train_seconds: float | None) -> Path:
    return save_classifier(classifier, path, teacher=asdict(config), dataset=data.name, cache_key=key,
                           train_seconds=train_seconds)


@dataclass(frozen=True)
class StrengthVerdict:
    """Is a robust teacher clearly more robust than the student architecture trained adversarially on its own?

    Attributes:
        teacher_pgd_acc: The teacher's PGD accuracy on the validation split.
        baseline_pgd_acc: PGD accuracy of a short Madry training of the student architecture, or ``None``.
        teacher_clean_acc: The teacher's clean validation accuracy.
        strong_enough: ``teacher_pgd_acc >= baseline_pgd_acc + margin`` (``None`` without a baseline).
        summary: One line for the user.
    """

    teacher_pgd_acc: float
    baseline_pgd_acc: float | None
    teacher_clean_acc: float
    strong_enough: bool | None
    summary: str


def scaled_milestones(milestones: tuple[int, ...], epochs: int, new_epochs: int) -> tuple[int, ...]:
    """The same schedule over ``new_epochs``: each milestone at the same fraction of training (9 of 12 epochs -> 3
    of 4), those that would fall outside ``[1, new_epochs)`` dropped."""
    scaled = {round(milestone * new_epochs / epochs) for milestone in milestones}
    return tuple(sorted(m for m in scaled if 1 <= m < new_epochs))


def assess_robust_teacher(
    teacher: PyTorchClassifier,
    config: TeacherConfig,
    data: Dataset,
    *,
    student_model: str | None = None,
    student_epochs: int = 2,
    margin: float = 0.05,
    n_examples: int = 512,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> StrengthVerdict:
    """Measure a robust teacher and, if ``student_model`` is given, compare it with a short Madry training of
    the student architecture on the same data (cached like any teacher).

    A teacher that is not at least ``margin`` more PGD-accurate than that baseline is unlikely to make a
    B-MTARD student robust (see :mod:`art_bmtad.trainers.teacher_report`). The baseline follows the teacher's learning-rate
    schedule scaled to its own epochs (:func:`scaled_milestones`).
    """
    from art_bmtad.algorithm.teachers import Teacher
    from art_bmtad.trainers.teacher_report import teacher_report

    rows = [Teacher(teacher, "adv", "teacher")]
    if student_model is not None:
        baseline_config = replace(config, model=student_model, kind="madry", epochs=student_epochs,
                                  milestones=scaled_milestones(config.milestones, config.epochs, student_epochs))
        baseline = prepare_teacher(baseline_config, data, cache_dir=cache_dir, device=device, progress=progress)
        rows.append(Teacher(baseline.classifier, "adv", "student-architecture Madry baseline"))
    x = torch.from_numpy(data.x_val[:n_examples]).to(teacher.device)
    y = torch.from_numpy(data.y_val[:n_examples]).to(teacher.device)
    report = teacher_report(rows, teacher, x, y, eps=config.eps, eps_step=config.eps_step, max_iter=config.max_iter)
    mine, baseline_pgd = report[0], report[1].pgd_acc if len(report) > 1 else None
    if baseline_pgd is None:
        strong, verdict = None, "no baseline asked for (--compare-student MODEL) to judge it against"
    elif mine.pgd_acc >= baseline_pgd + margin:
        strong, verdict = True, f"likely strong enough: {mine.pgd_acc - baseline_pgd:+.3f} over the baseline"
    else:
        strong = False
        verdict = (f"LIKELY TOO WEAK: not {margin:.2f} above the baseline's {baseline_pgd:.3f}; a B-MTARD student "
                   "distilled from it may look accurate and not be robust (train longer or larger, or try t_min < 1)")
    summary = f"robust teacher: clean {mine.clean_acc:.3f}, PGD {mine.pgd_acc:.3f} on {mine.n_examples} val: {verdict}"
    return StrengthVerdict(mine.pgd_acc, baseline_pgd, mine.clean_acc, strong, summary)
