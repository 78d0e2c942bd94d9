"""Time one training epoch: the B-MTARD trainer against the same B-MTARD written by hand, a plain PGD-AT loop and
ART's Madry trainer.

All train the same student (same initial weights) on the same images with the same batch size and the same PGD
budget (Linf eps 8/255, step 2/255, 10 steps). ``bmtard-hand`` (:class:`HandwrittenBMTARD`) is the reference the
trainer answers to: the same work in one screen of plain PyTorch, without history, monitor or checkpoints; the
``x hand`` column and the last line give the trainer's cost relative to it. The plain loop is what a careful user
writes for PGD-AT (one cross-entropy step, less work than B-MTARD); ART's Madry trainer goes through numpy per batch.

    python benchmarks/epoch_speed.py                       # CPU, small timm ResNet, 512 images
    python benchmarks/epoch_speed.py --device cuda --model resnet18 --n 10240 --batch-size 256 --amp
    python benchmarks/epoch_speed.py --breakdown             # seconds per attack / training / teacher pass
    python benchmarks/epoch_speed.py --precision-matrix      # fp32 / bf16 x NCHW / channels-last, per architecture

``--precision-matrix`` answers a different question: what bf16 autocast and the channels-last memory format buy on
this device. For each architecture of ``--models`` (``NAME`` or ``NAME+stem`` for the 3x3 CIFAR stem; the default
is ``resnet10t`` as the CPU presets use it and ``resnet18+stem`` as ``cifar10-paper`` does) it times, in one
process and interleaved, four variants (fp32 NCHW, bf16 NCHW, fp32 channels-last, bf16 channels-last) of one
training step (forward + backward of the student on one batch, ``--step-repeats`` of them) and of one whole
B-MTARD trainer epoch (``amp=`` and ``channels_last=`` of the trainer; teachers of the same architecture in the same
layout); it prints seconds and the speed-up over fp32 NCHW (the median of the per-repeat ratios).

Timing is honest: a warm-up epoch each first, device synchronised before reading the clock, then the timed epochs
alternated between the methods in one process (so a change in machine load hits all alike); the table gives the
median and spread over ``--repeats`` epochs, the last line the median of the per-pair ratios. Results go to stdout
and to ``--out`` as JSON with the configuration and versions.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable

import art
import numpy as np
import timm
import torch
import torch.nn.functional as F
from art.defences.trainer import AdversarialTrainerMadryPGD
from art.estimators.classification import PyTorchClassifier

import art_bmtad
from art_bmtad import AdversarialTrainerBMTARDPyTorch
from art_bmtad.algorithm.adversarial import parameters_frozen
from art_bmtad.algorithm.teachers import classifier_logits
from art_bmtad.trainers.teacher_report import WeakTeacherWarning
from art_bmtad.utils.device import resolve_device, synchronize
from art_bmtad_timm import timm_classifier

EPS, EPS_STEP, MAX_ITER = 8 / 255, 2 / 255, 10
VARIANTS = {"fp32 NCHW": (False, False), "bf16 NCHW": (True, False), "fp32 channels-last": (False, True),
            "bf16 channels-last": (True, True)}
"""Precision x memory layout variants of ``--precision-matrix``: name -> (bf16 autocast, channels-last)."""


def load_images(path: Path | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` CIFAR-10 training images in [0, 1] NCHW, or random images without a file (same cost)."""
    if path is not None:
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x_train"][:n], data["y_train"][:n]
    else:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)
    # Contiguous NCHW for every method: the transposed view of NHWC data would be channels-last in memory, and
    # PyTorch would keep that layout through the network for whoever gets the view (avg-pooling is ~6x faster
    # channels-last on CPU), which is a layout difference, not a difference in the work done.
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) / 255.0, dtype=np.float32), y.astype(np.int64)


def make_student(args: argparse.Namespace, device: torch.device) -> PyTorchClassifier:
    return make_classifier(args.model, args.cifar_stem, args.channels_last, device)


def make_classifier(model: str, cifar_stem: bool, channels_last: bool, device: torch.device) -> PyTorchClassifier:
    """A timm CIFAR-10 classifier with seed-0 weights (the same for every method and variant)."""
    torch.manual_seed(0)
    return timm_classifier(model, num_classes=10, dataset="cifar10", cifar_stem=cifar_stem, lr=0.1,
                           device=str(device), channels_last=channels_last)


def parse_models(text: str) -> list[tuple[str, bool]]:
    """``"resnet10t,resnet18+stem"`` -> ``[("resnet10t", False), ("resnet18", True)]`` (``+stem``: CIFAR stem)."""
    return [(name.removesuffix("+stem"), name.endswith("+stem")) for name in text.split(",") if name]


def training_step(student: PyTorchClassifier, xb: torch.Tensor, yb: torch.Tensor, amp: bool,
                  repeats: int) -> Callable[[], None]:
    """``repeats`` training steps of the student on one batch: train-mode forward (bf16 autocast if ``amp``), fp32
    cross-entropy, backward and an SGD step; what a training pass costs in a given precision and layout."""
    model, optimizer = student.model, student.optimizer

    def run() -> None:
        model.train()
        for _ in range(repeats):
            with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=amp):
                logits = classifier_logits(student, xb, fit=True)
            loss = F.cross_entropy(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run


def precision_matrix(args: argparse.Namespace, x: np.ndarray, y: np.ndarray,
                     device: torch.device) -> dict[str, dict[str, dict[str, float | list[float]]]]:
    """Per architecture and variant of :data:`VARIANTS`: seconds of ``--step-repeats`` training steps and of one
    B-MTARD epoch, and the speed-up over fp32 NCHW (median of the per-repeat ratios), all timed interleaved."""
    results: dict[str, dict[str, dict[str, float | list[float]]]] = {}
    for model, cifar_stem in parse_models(args.models):
        runs: dict[str, Callable[[], None]] = {}
        for variant, (amp, channels_last) in VARIANTS.items():
            memory_format = torch.channels_last if channels_last else torch.contiguous_format
            xb = torch.from_numpy(x[: args.batch_size]).to(device).contiguous(memory_format=memory_format)
            yb = torch.from_numpy(y[: args.batch_size]).to(device)
            runs[f"{variant}|step"] = training_step(make_classifier(model, cifar_stem, channels_last, device), xb, yb,
                                                    amp, args.step_repeats)
            teachers = [make_classifier(model, cifar_stem, channels_last, device) for _ in range(2)]
            trainer = AdversarialTrainerBMTARDPyTorch(make_classifier(model, cifar_stem, channels_last, device),
                                                      robust_teacher=teachers[0], clean_teacher=teachers[1], amp=amp,
                                                      channels_last=channels_last, verbose=False)
            runs[f"{variant}|epoch"] = lambda trainer=trainer: trainer.fit(x, y, batch_size=args.batch_size,
                                                                           nb_epochs=1)
        times = time_epochs(runs, device, args.repeats)
        label = f"{model}{' (CIFAR stem)' if cifar_stem else ''}"
        results[label] = {}
        for variant in VARIANTS:
            entry: dict[str, float | list[float]] = {}
            for kind in ("step", "epoch"):
                own, reference = times[f"{variant}|{kind}"], times[f"fp32 NCHW|{kind}"]
                entry[f"{kind}_seconds"] = statistics.median(own)
                entry[f"{kind}_speedup"] = statistics.median(r / t for r, t in zip(reference, own))
                entry[f"{kind}_times"] = own
            results[label][variant] = entry
    return results


def print_matrix(results: dict[str, dict[str, dict[str, float | list[float]]]], args: argparse.Namespace,
                 device_name: str) -> None:
    for label, variants in results.items():
        print(f"\n{label}: batch {args.batch_size}, {args.step_repeats} training steps and one B-MTARD epoch of "
              f"{args.n} images (PGD-{MAX_ITER}, teachers of the same architecture), device={device_name}")
        print(f"{'variant':<20}{'steps s':>9}{'speed-up':>10}{'epoch s':>10}{'speed-up':>10}")
        for variant, entry in variants.items():
            print(f"{variant:<20}{entry['step_seconds']:>9.3f}{entry['step_speedup']:>9.2f}x"
                  f"{entry['epoch_seconds']:>10.2f}{entry['epoch_speedup']:>9.2f}x")


def hand_pgd(student: PyTorchClassifier, xb: torch.Tensor, yb: torch.Tensor, autocast: torch.autocast) -> torch.Tensor:
    """Cross-entropy Linf PGD on the student in eval mode from ``xb + 0.001 N(0, 1)``, with bare ``autograd.grad``."""
    student.model.eval()
    x_adv = xb + 0.001 * torch.randn_like(xb)
    for _ in range(MAX_ITER):
        x_adv.requires_grad_(True)
        with autocast:
            loss = F.cross_entropy(classifier_logits(student, x_adv).float(), yb)
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + EPS_STEP * grad.sign(), xb - EPS), xb + EPS).clamp(0, 1)
    return x_adv


def plain_pgd_at_epoch(student: PyTorchClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                       amp: bool) -> None:
    """A hand-written PGD-AT epoch: the reference a fast distillation epoch is compared with."""
    model, optimizer = student.model, student.optimizer
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp)
    order = torch.randperm(len(x), device=x.device)
    for start in range(0, len(x), batch_size):
        xb, yb = x[order[start : start + batch_size]], y[order[start : start + batch_size]]
        x_adv = hand_pgd(student, xb, yb, autocast)
        model.train()
        with autocast:
            loss = F.cross_entropy(classifier_logits(student, x_adv, fit=True).float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


class HandwrittenBMTARD:
    """B-MTARD written by hand in one screen: the reference row the trainer's epoch is measured against.

    The same work as ``AdversarialTrainerBMTARDPyTorch``'s default step: cross-entropy PGD on the student in eval
    mode through ART's preprocessing from ``x + 0.001 N(0, 1)``, the robust teacher on ``x'`` and the clean teacher
    on ``x`` in inference mode, two train-mode student forwards, NLB weights, EBB temperatures (rates 0.025 and
    0.001, temperatures in [1, 10]); no history, no monitor, no checkpoints.
    """

    def __init__(self, student: PyTorchClassifier, teachers: list[PyTorchClassifier], amp: bool) -> None:
        self.student, self.teachers, self.amp = student, teachers, amp
        for teacher in teachers:
            teacher.model.eval()
        device = student.device
        self.tau = torch.ones(2, dtype=torch.float64, device=device)
        self.weights = torch.full((2,), 0.5, dtype=torch.float64, device=device)
        self.reference: torch.Tensor | None = None

    def epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
        model, optimizer, student = self.student.model, self.student.optimizer, self.student
        autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp)
        order = torch.randperm(len(x), device=x.device)
        for start in range(0, len(x), batch_size):
            xb, yb = x[order[start : start + batch_size]], y[order[start : start + batch_size]]
            x_adv = hand_pgd(student, xb, yb, autocast)
            with torch.inference_mode(), autocast:
                teacher_logits = [classifier_logits(self.teachers[0], x_adv), classifier_logits(self.teachers[1], xb)]
            model.train()
            with autocast:
                student_logits = [classifier_logits(student, x_adv, fit=True), classifier_logits(student, xb, fit=True)]
            probs = [torch.softmax(t.float() / self.tau[k].float(), dim=1) for k, t in enumerate(teacher_logits)]
            p_log_p = [p * torch.log(p + 1e-5) for p in probs]
            losses = torch.stack([(plp - p * F.log_softmax(z.float(), dim=1)).mean()
                                  for plp, p, z in zip(p_log_p, probs, student_logits)])
            measured = losses.detach().double()
            self.reference = measured if self.reference is None else self.reference
            relative = measured / self.reference
            weights = (self.weights - 0.025 * (self.weights - relative / relative.sum())).clamp_min(0)
            self.weights = weights / weights.sum()
            total = (self.weights.float() * losses).sum()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            entropy = torch.stack([plp.mean() for plp in p_log_p]).double()
            self.tau = (self.tau - 0.001 * torch.sign(entropy / entropy.mean() - 1)).clamp(1.0, 10.0)


def pass_breakdown(student: PyTorchClassifier, teacher: PyTorchClassifier, x: torch.Tensor, y: torch.Tensor,
                   device: torch.device, repeats: int) -> dict[str, float]:
    """Seconds of each kind of pass one training step is made of, on one batch: where an epoch's time goes.

    A plain PGD-AT step is ``MAX_ITER`` attack passes + 1 training pass; a B-MTARD step is ``MAX_ITER`` attack
    passes + 2 training passes + 2 teacher forwards, so its expected cost relative to the plain loop follows.
    """
    model, labels = student.model, F.one_hot(y, student.nb_classes).float()

    def art_attack_pass() -> None:  # what B-MTARD's PGD runs: ART's loss_gradient with the weights frozen
        with parameters_frozen(model):
            student.loss_gradient(x, labels)

    def autograd_attack_pass() -> None:  # what the plain loop runs: input gradient only
        x_adv = x.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(classifier_logits(student, x_adv), y), x_adv)

    def training_pass() -> None:  # forward in train mode and backward to the weights
        model.train()
        F.cross_entropy(classifier_logits(student, x, fit=True), y).backward()
        model.eval()

    def teacher_forward() -> None:
        with torch.inference_mode():
            classifier_logits(teacher, x)

    model.eval()
    passes = {"attack pass (ART loss_gradient)": art_attack_pass, "attack pass (autograd.grad)": autograd_attack_pass,
              "student training pass": training_pass, "teacher forward": teacher_forward}
    seconds = {}
    for name, run_pass in passes.items():
        run_pass()
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            run_pass()
        synchronize(device)
        seconds[name] = (time.perf_counter() - started) / repeats
    model.zero_grad(set_to_none=True)
    return seconds


def print_breakdown(seconds: dict[str, float]) -> None:
    for name, value in seconds.items():
        print(f"{name:<34}{value:>8.3f} s")
    train, extra = seconds["student training pass"], seconds["student training pass"] + 2 * seconds["teacher forward"]
    plain = MAX_ITER * seconds["attack pass (autograd.grad)"] + train
    print(f"B-MTARD step / plain step expected from these passes: {(plain + extra) / plain:.2f} with the same "
          f"attack passes, {(MAX_ITER * seconds['attack pass (ART loss_gradient)'] + train + extra) / plain:.2f} "
          "with ART's")


def time_epochs(runs: dict[str, Callable[[], None]], device: torch.device, repeats: int) -> dict[str, list[float]]:
    """Seconds per epoch of each run: one warm-up epoch each, then the timed epochs interleaved (plain, bmtard,
    ..., plain, bmtard, ...) so that a change in machine load hits every method alike."""
    for run_epoch in runs.values():
        run_epoch()  # warm-up: allocator, cuDNN autotuning, first-call overheads
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run_epoch in runs.items():
            synchronize(device)
            start = time.perf_counter()
            run_epoch()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def count_operators(runs: dict[str, Callable[[], None]]) -> dict[str, int]:
    """aten operator calls in one epoch of each run (after its warm-up epoch), from ``torch.profiler``."""
    counts = {}
    for name, run_epoch in runs.items():
        run_epoch()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            run_epoch()
        counts[name] = sum(event.count for event in profile.key_averages() if event.key.startswith("aten::"))
    return counts


def _ratio(result: dict, reference: dict | None) -> str:
    return f"{result['seconds_per_epoch'] / reference['seconds_per_epoch']:.2f}" if reference else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet10t", help="timm name of the student (default: resnet10t)")
    parser.add_argument("--teacher-model", default=None, help="timm name of both teachers (default: the student's)")
    parser.add_argument("--cifar-stem", action=argparse.BooleanOptionalAction, default=True,
                        help="3x3 stride-1 stem without max-pool for 32x32 inputs (default: on)")
    parser.add_argument("--n", type=int, default=512, help="images per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per method, after one warm-up epoch")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (plain loop and B-MTARD)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--methods", default="bmtard-hand,bmtard,plain,art-madry",
                        help="comma-separated subset of bmtard-hand, bmtard, plain, art-madry")
    parser.add_argument("--data", type=Path, default=None, help="CIFAR-10 .npz (default: random images, same cost)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--count-ops", action="store_true",
                        help="instead of timing, count the aten operator calls of one epoch of each method")
    parser.add_argument("--breakdown", action="store_true",
                        help="instead of epochs, time each kind of pass on one batch, fp32 (attack, training, teacher)")
    parser.add_argument("--precision-matrix", action="store_true",
                        help="instead of comparing methods, time fp32/bf16 x NCHW/channels-last per architecture")
    parser.add_argument("--models", default="resnet10t,resnet18+stem",
                        help="architectures of --precision-matrix: timm names, +stem for the CIFAR stem "
                             "(default: %(default)s)")
    parser.add_argument("--step-repeats", type=int, default=5,
                        help="training steps per timed repeat in --precision-matrix (default: %(default)s)")
    args = parser.parse_args()

    # The teachers here are untrained copies of the student (only their cost matters): silence the trainer's
    # weak-teacher warnings about them.
    warnings.simplefilter("ignore", WeakTeacherWarning)
    logging.getLogger("art_bmtad").setLevel(logging.ERROR)
    device = resolve_device(args.device)
    x, y = load_images(args.data, args.n)
    if args.precision_matrix:
        device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
        matrix = precision_matrix(args, x, y, device)
        print_matrix(matrix, args, device_name)
        if args.out:
            args.out.write_text(json.dumps({"config": _config(args), "device": device_name, "versions": _versions(),
                                            "precision_matrix": matrix}, indent=1))
        return
    teacher_args = argparse.Namespace(**{**vars(args), "model": args.teacher_model or args.model})
    if args.breakdown:
        batch = [torch.from_numpy(a[: args.batch_size]).to(device) for a in (x, y)]
        print_breakdown(pass_breakdown(make_student(args, device), make_student(teacher_args, device), *batch,
                                       device, max(args.repeats, 3)))
        return
    teachers = [make_student(teacher_args, device), make_student(teacher_args, device)]

    def bmtard_epoch(student: PyTorchClassifier) -> Callable[[], None]:
        trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=teachers[0], clean_teacher=teachers[1],
                                                  amp=args.amp, channels_last=args.channels_last, verbose=False)
        return lambda: trainer.fit(x, y, batch_size=args.batch_size, nb_epochs=1)

    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    if args.channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)

    def plain_epoch(student: PyTorchClassifier) -> Callable[[], None]:
        return lambda: plain_pgd_at_epoch(student, xt, yt, args.batch_size, args.amp)

    def hand_bmtard_epoch(student: PyTorchClassifier) -> Callable[[], None]:
        if args.channels_last:
            student.model.to(memory_format=torch.channels_last)
        loop = HandwrittenBMTARD(student, teachers, args.amp)
        return lambda: loop.epoch(xt, yt, args.batch_size)

    def madry_epoch(student: PyTorchClassifier) -> Callable[[], None]:
        trainer = AdversarialTrainerMadryPGD(student, nb_epochs=1, batch_size=args.batch_size, eps=EPS,
                                             eps_step=EPS_STEP, max_iter=MAX_ITER)
        return lambda: trainer.fit(x, y, nb_epochs=1, batch_size=args.batch_size)

    builders = {"plain": plain_epoch, "bmtard-hand": hand_bmtard_epoch, "bmtard": bmtard_epoch,
                "art-madry": madry_epoch}
    runs = {name: builders[name](make_student(args, device)) for name in args.methods.split(",")}
    if args.count_ops:
        for name, count in count_operators(runs).items():
            print(f"{name:<13}{count:>8} aten operator calls per epoch")
        return
    results = {}
    for name, times in time_epochs(runs, device, args.repeats).items():
        results[name] = {"seconds_per_epoch": statistics.median(times),
                         "spread": statistics.pstdev(times) if len(times) > 1 else 0.0,
                         "images_per_s": args.n / statistics.median(times), "times": times}

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"\n{args.model} student, {args.teacher_model or args.model} teachers, {args.n} images, batch "
          f"{args.batch_size}, PGD-{MAX_ITER}, amp={args.amp}, channels_last={args.channels_last}, "
          f"device={device_name}")
    print(f"{'method':<13}{'s/epoch':>10}{'+-':>8}{'img/s':>10}{'x plain':>9}{'x hand':>8}")
    for name, r in results.items():
        ratios = [_ratio(r, results.get(reference)) for reference in ("plain", "bmtard-hand")]
        print(f"{name:<13}{r['seconds_per_epoch']:>10.2f}{r['spread']:>8.2f}{r['images_per_s']:>10.1f}"
              f"{ratios[0]:>9}{ratios[1]:>8}")
    if "bmtard" in results and "bmtard-hand" in results:
        paired = [a / b for a, b in zip(results["bmtard"]["times"], results["bmtard-hand"]["times"])]
        print(f"B-MTARD trainer / hand-written B-MTARD loop: {statistics.median(paired):.3f}x (median of "
              f"{len(paired)} alternated epoch pairs: {', '.join(f'{r:.3f}' for r in paired)})")
    if args.out:
        args.out.write_text(json.dumps({"config": _config(args), "device": device_name, "versions": _versions(),
                                        "results": results}, indent=1))


def _config(args: argparse.Namespace) -> dict[str, object]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def _versions() -> dict[str, str]:
    return {"torch": torch.__version__, "art": art.__version__, "timm": timm.__version__,
            "art_bmtad": art_bmtad.__version__}


if __name__ == "__main__":
    main()
