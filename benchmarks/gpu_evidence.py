"""Reproduce the B-MTARD comparison on a CUDA machine in one call: the CUDA path checked, training throughput
measured, then B-MTARD, RSLAD and ART's Madry and TRADES students trained and evaluated alike.

Two steps, both from the repository root:

    python benchmarks/gpu_evidence.py prepare --data PATH/cifar10.npz   # the offline bundle: data + packages
    python benchmarks/gpu_evidence.py run --out gpu-results             # on the GPU machine, in one call
    python benchmarks/gpu_evidence.py run --dry-run --out /tmp/dry      # everything at tiny sizes on a CPU

``prepare`` writes an offline bundle for a GPU host without access to a package index, in the folder ``.gpu_bundle``
(kept out of git): a CIFAR-10 subset (training images, as many as fit a 64 MiB bundle beside the code, + 1,000 test
images; rows delta-coded, then a compressed npz) and a copy of the installed packages such a host may lack
(:data:`CARRIED`: ART and what ART imports beyond a typical PyTorch image, and this package's distribution metadata,
which names its built-in plugins).
``run`` puts ``.gpu_bundle/site`` on ``sys.path`` and, within ``--budget-s`` seconds:

1. ``check``: the CUDA path end to end: B-MTARD with bf16 autocast and channels_last, the student compiled and not,
   validation, then save and reload (predictions equal);
2. ``throughput``: images/s of a ResNet-18 student with two ResNet-18 teachers at batch 128 and 256, fp32 and bf16,
   the trainer against the hand-written B-MTARD loop of ``epoch_speed.py``, epochs alternated;
3. ``evidence``: a robust ResNet-34 teacher (PGD-AT, ART's Madry trainer) and a clean one, then from the same
   student initialisation B-MTARD, RSLAD, ART's Madry PGD and ART's TRADES students at equal epochs, all evaluated on
   the same 1,000 test images with PGD-20 and (reduced) AutoAttack. Epochs are sized from the throughput measured in
   stage 2 and the time the teachers actually took, so that the call ends within the budget.

Everything goes to ``--out`` (default ``gpu_evidence_out``, or ``$OUT`` when set), at most 8 files: ``summary.json`` (rewritten after every stage, so a
timeout still returns what finished), ``throughput.md``, and the benchmark's ``results.json`` (copied after every
defence), ``results.md``, ``tradeoff.png``, ``bmtard_balance.png``, and ``log.txt``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
CARRY_DIR = REPO / ".gpu_bundle"
DATA_FILE = "cifar10_subset.npz"
CARRIED = ("art", "multiprocess", "_multiprocess", "dill", "art_bmtad-*.dist-info")
"""Installed packages a PyTorch image often lacks (it usually has torch, timm, safetensors, pluggy, numpy, scipy,
scikit-learn, matplotlib, tqdm, PyYAML): ART, what ART imports beyond that, and this package's metadata (entry points)."""
TREE_LIMIT_MIB = 64.0
TREE_MARGIN_MIB = 3.0
RESULT_FILES = ("results.json", "results.md", "tradeoff.png", "bmtard_balance.png")


def _use_carried_packages(carry_dir: Path) -> None:
    site = carry_dir / "site"
    if site.is_dir() and str(site) not in sys.path:
        sys.path.insert(0, str(site))
    for source in (REPO, REPO / "adapters" / "timm"):  # the project and its timm adapter (an entry point of it)
        if str(source) not in sys.path:
            sys.path.insert(0, str(source))


# ------------------------------------------------------------------------------------------------ prepare (here)
def delta_encode(images: Any) -> Any:
    """uint8 NHWC images with each row replaced by its differences (mod 256): a quarter smaller once compressed."""
    import numpy as np

    coded = images.copy()
    coded[:, :, 1:] = np.diff(images, axis=2)
    return coded


def delta_decode(coded: Any) -> Any:
    """The inverse of :func:`delta_encode`."""
    import numpy as np

    return np.cumsum(coded, axis=2, dtype=np.uint8)


def prepare(source: Path, carry_dir: Path, n_train: int, n_test: int) -> dict[str, Any]:
    """Write the data subset and the carried packages into ``carry_dir``; fewer training images if they would not fit.

    Raises:
        FileNotFoundError: ``source`` or a package to carry is missing.
        ValueError: ``source`` lacks the npz layout's arrays, or nothing fits.
    """
    import numpy as np

    if not source.is_file():
        raise FileNotFoundError(f"--data: no CIFAR-10 npz at {source}")
    _exclude_from_git(carry_dir)
    site = carry_dir / "site"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    for path in _packages_to_carry():
        target = site / path.name
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, target)
    with np.load(source, allow_pickle=False) as data:
        missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in data.files]
        if missing:
            raise ValueError(f"--data: {source} lacks {missing} (the npz layout: x_train, y_train, x_test, y_test)")
        arrays = {key: data[key] for key in data.files}
    (carry_dir / "data").mkdir(exist_ok=True)
    target = carry_dir / "data" / DATA_FILE
    budget = TREE_LIMIT_MIB - TREE_MARGIN_MIB - _tree_mib(carry_dir, exclude=target)
    count = min(n_train, len(arrays["x_train"]))
    while True:
        _write_subset(arrays, target, count, n_test)
        size = target.stat().st_size / 2**20
        if size <= budget:
            break
        if count < 100:
            raise ValueError(f"not even 100 training images fit in the {budget:.1f} MiB left beside the code")
        count = int(count * budget / size * 0.98)
    return {"data": str(target), "n_train": count, "n_test": min(n_test, len(arrays["x_test"])),
            "data_mib": round(size, 2), "tree_mib": round(_tree_mib(carry_dir), 2),
            "carried": sorted(p.name for p in site.iterdir())}


def _write_subset(arrays: dict[str, Any], target: Path, n_train: int, n_test: int) -> None:
    import numpy as np

    subset = {"x_train": delta_encode(arrays["x_train"][:n_train]), "y_train": arrays["y_train"][:n_train],
              "x_test": delta_encode(arrays["x_test"][:n_test]), "y_test": arrays["y_test"][:n_test]}
    if "class_names" in arrays:
        subset["class_names"] = arrays["class_names"]
    np.savez_compressed(target, delta_coded=np.array(True), **subset)


def _packages_to_carry() -> list[Path]:
    import art

    site_packages = Path(art.__file__).resolve().parents[1]
    found = []
    for pattern in CARRIED:
        matches = sorted(site_packages.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"package to carry not installed here: {pattern} (in {site_packages})")
        found.extend(matches)
    return found


def _exclude_from_git(carry_dir: Path) -> None:
    """Add the bundle folder to ``.git/info/exclude`` (once), so that it is never committed."""
    try:
        exclude = Path(subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=REPO, check=True,
                                      capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return  # not a git checkout: nothing travels by git's rules anyway
    exclude = exclude if exclude.is_absolute() else REPO / exclude
    try:
        line = f"/{carry_dir.resolve().relative_to(REPO)}/"
    except ValueError:
        return  # outside the checkout
    existing = exclude.read_text().splitlines() if exclude.is_file() else []
    if line not in existing:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as handle:
            handle.write(f"{line}\n")


def _tree_mib(carry_dir: Path, exclude: Path | None = None) -> float:
    """MiB of what travels: tracked and untracked-not-ignored files, plus the carry folder (without ``exclude``)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=False).stdout.split(b"\0")
    files = {REPO / name.decode() for name in listed if name}
    files.update(p for p in carry_dir.rglob("*") if p.is_file())
    return sum(p.stat().st_size for p in files if p.is_file() and p != exclude) / 2**20


# ------------------------------------------------------------------------------------------------ run (there)
class Stages:
    """The call's clock and its ``summary.json``, rewritten after every stage."""

    def __init__(self, out: Path, budget_s: float, dry_run: bool) -> None:
        self.out, self.budget_s, self.started = out, budget_s, time.perf_counter()
        self.summary: dict[str, Any] = {"dry_run": dry_run, "budget_s": budget_s, "stages": {}}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def record(self, name: str, values: dict[str, Any]) -> None:
        self.summary["stages"][name] = values
        self.summary["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        path = self.out / "summary.json"
        path.with_suffix(".tmp").write_text(json.dumps(self.summary, indent=1, default=str) + "\n")
        path.with_suffix(".tmp").replace(path)

    def run(self, name: str, stage: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        logging.info("stage %s (%.0f s left)", name, self.left())
        started = time.perf_counter()
        try:
            values = stage()
        except Exception as err:  # a failed stage is a result; the next stage still runs
            logging.exception("stage %s failed", name)
            values = {"error": f"{type(err).__name__}: {err}"}
        values["seconds"] = round(time.perf_counter() - started, 1)
        self.record(name, values)
        return values


def check_cuda_path(device: Any, sizes: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """B-MTARD end to end with bf16 and channels_last, compiled and not; save, reload, same predictions.

    The dry run compiles with dynamo's ``eager`` backend (the same tracing, no kernel generation), to stay quick.
    """
    import functools
    from unittest import mock

    import numpy as np
    import torch

    from art_bmtad import AdversarialTrainerBMTARDPyTorch
    from art_bmtad.algorithm.augment import random_crop_flip
    from art_bmtad.models.classifier_files import load_classifier, save_classifier
    from art_bmtad_timm import timm_classifier

    rng = np.random.default_rng(0)
    x = rng.random((sizes.check_n, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, sizes.check_n)
    results: dict[str, Any] = {"device": _device_name(device), "torch": torch.__version__}
    for compiled in (False, True):
        torch.manual_seed(0)

        def make() -> Any:
            return timm_classifier(sizes.student, num_classes=10, dataset="cifar10", cifar_stem=sizes.cifar_stem,
                                   device=str(device), channels_last=True)

        student = make()
        with mock.patch.object(torch, "compile", functools.partial(torch.compile, backend=sizes.compile_backend)):
            trainer = AdversarialTrainerBMTARDPyTorch(
                student, robust_teacher=make(), clean_teacher=make(), amp=True, channels_last=True,
                compile_student=compiled, augment=random_crop_flip, max_iter=sizes.max_iter, verbose=False)
        started = time.perf_counter()
        trainer.fit(x, y, validation_data=(x[: sizes.batch], y[: sizes.batch]), batch_size=sizes.batch, nb_epochs=1)
        losses = trainer.history.steps["loss"]
        path = save_classifier(student, workdir / f"check_compiled_{compiled}")
        reloaded = load_classifier(path, device=str(device))
        same = np.allclose(student.predict(x[:8]), reloaded.predict(x[:8]), atol=1e-5)
        results["compiled" if compiled else "eager"] = {
            "loss_finite": bool(np.all(np.isfinite(losses))), "reload_same_predictions": bool(same),
            "fit_seconds": round(time.perf_counter() - started, 1), "last_epoch": trainer.history.epochs[-1]}
    results["compile_backend"] = sizes.compile_backend
    results["ok"] = all(results[k]["loss_finite"] and results[k]["reload_same_predictions"]
                        for k in ("eager", "compiled"))
    return results


def measure_throughput(device: Any, sizes: argparse.Namespace, x: Any, y: Any) -> dict[str, Any]:
    """Images/s of the B-MTARD trainer and of the hand-written loop, per batch size and precision."""
    import statistics

    import torch

    import epoch_speed
    from art_bmtad import AdversarialTrainerBMTARDPyTorch

    model = argparse.Namespace(model=sizes.student, cifar_stem=sizes.cifar_stem, channels_last=True)
    x, y = x[: sizes.throughput_n], y[: sizes.throughput_n]
    xt = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(y).to(device)
    teachers = [epoch_speed.make_student(model, device), epoch_speed.make_student(model, device)]
    rows = []
    for batch in sizes.batches:
        for amp in (False, True):
            trainer = AdversarialTrainerBMTARDPyTorch(
                epoch_speed.make_student(model, device), robust_teacher=teachers[0], clean_teacher=teachers[1],
                amp=amp, channels_last=True, max_iter=sizes.max_iter, verbose=False)
            hand = epoch_speed.HandwrittenBMTARD(epoch_speed.make_student(model, device), teachers, amp)
            hand.student.model.to(memory_format=torch.channels_last)
            runs = {"trainer": lambda: trainer.fit(x, y, batch_size=batch, nb_epochs=1),
                    "hand": lambda: hand.epoch(xt, yt, batch)}
            times = epoch_speed.time_epochs(runs, device, sizes.repeats)
            row = {"batch": batch, "bf16": amp, "images": len(x)}
            for name, seconds in times.items():
                row[f"{name}_images_per_s"] = round(len(x) / statistics.median(seconds), 1)
            ratios = [a / b for a, b in zip(times["trainer"], times["hand"])]
            row["trainer_over_hand"] = round(statistics.median(ratios), 3)
            rows.append(row)
            logging.info("throughput %s", row)
    return {"model": sizes.student, "teachers": sizes.student, "max_iter": sizes.max_iter, "rows": rows}


def throughput_markdown(result: dict[str, Any], device_name: str) -> str:
    lines = [f"Training throughput on {device_name}: {result['model']} student, two {result['teachers']} teachers, "
             f"PGD-{result['max_iter']}, channels_last; median of alternated epochs.", "",
             "| batch | bf16 | trainer img/s | hand-written img/s | trainer / hand (time) |", "|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['batch']} | {'yes' if row['bf16'] else 'no'} | {row['trainer_images_per_s']} | "
                     f"{row['hand_images_per_s']} | {row['trainer_over_hand']} |")
    return "\n".join(lines) + "\n"


def plan_epochs(seconds_left: float, unit_s: float, costs: dict[str, float], minimum: int = 1,
                maximum: int = 200) -> int:
    """Equal epochs for every defence so that their training fits ``seconds_left``.

    Args:
        seconds_left: time for the training of all of them.
        unit_s: seconds of one B-MTARD epoch at the measured throughput.
        costs: each defence's epoch in units of a B-MTARD epoch.
    """
    per_epoch = unit_s * sum(costs.values())
    return max(minimum, min(maximum, int(seconds_left / per_epoch))) if per_epoch > 0 else minimum


STUDENT_COSTS = {"bmtard": 1.0, "rslad": 0.95, "art-madry-pgd": 1.3, "art-trades": 1.6}
"""Epoch cost of each student relative to B-MTARD's (ART's trainers go through numpy per batch), for sizing."""


def run_evidence(stages: Stages, device: Any, sizes: argparse.Namespace, data_path: Path, unit_s: float,
                 workdir: Path) -> dict[str, Any]:
    """Teachers, then four students at equal epochs, evaluated alike; results copied to ``--out`` as they come."""
    from art_bmtad.benchmark.run import run_benchmark
    from art_bmtad.pipeline import components
    from art_bmtad.recipes.recipe import load_recipe

    robust_epochs = plan_epochs(stages.left() * 0.28, unit_s * sizes.teacher_cost, {"robust": 2.0},
                                maximum=sizes.max_teacher_epochs)
    clean_epochs = plan_epochs(stages.left() * 0.06, unit_s, {"clean": 0.25}, maximum=sizes.max_teacher_epochs)
    values = recipe_values(sizes, data_path, robust_epochs, clean_epochs, student_epochs=1, cache=workdir / "cache")
    recipe = load_recipe(overrides=values)
    data = components.load_data(recipe)
    started = time.perf_counter()
    components.prepare_teachers(recipe, data, ["robust", "clean"], device=device, progress=False)
    teacher_s = time.perf_counter() - started
    # The robust teacher is ART's Madry trainer on a network twice the student's: its measured epoch gives ART's
    # real cost here, which sizes the students better than the estimate did.
    madry_unit = teacher_s / max(robust_epochs * 2.0 + clean_epochs * 0.25, 1e-9)
    student_unit = max(unit_s, madry_unit / STUDENT_COSTS["art-madry-pgd"])
    evaluation_reserve = stages.left() * sizes.evaluation_share
    epochs = plan_epochs(stages.left() - evaluation_reserve, student_unit, STUDENT_COSTS,
                         maximum=sizes.max_student_epochs)
    plan = {"robust_teacher_epochs": robust_epochs, "clean_teacher_epochs": clean_epochs, "teacher_seconds":
            round(teacher_s, 1), "student_epochs": epochs, "bmtard_epoch_s_estimate": round(student_unit, 2),
            "n_train": len(data.x_train), "n_val": len(data.x_val), "n_test": len(data.x_test)}
    stages.record("evidence_plan", plan)
    recipe = load_recipe(overrides=recipe_values(sizes, data_path, robust_epochs, clean_epochs, epochs,
                                                 cache=workdir / "cache"))
    run_dir = workdir / "bench"
    with _copied_while_running(run_dir, stages.out):
        results = run_benchmark(recipe, run_dir, progress=False, device=device)
    _copy_results(run_dir, stages.out)
    rows = [{"name": d["name"], "accuracy": d["accuracy"], "train_seconds": d.get("train_seconds")}
            for d in results["defences"]] if results else []
    return {**plan, "defences": rows}


def recipe_values(sizes: argparse.Namespace, data_path: Path, robust_epochs: int, clean_epochs: int,
                  student_epochs: int, cache: Path) -> dict[str, Any]:
    """The evidence recipe as dotted overrides (teacher keys identical across calls: the cache is reused)."""
    milestones = [max(1, round(student_epochs * 0.75))] if student_epochs >= 4 else []
    teacher = {"model": sizes.teacher, "cifar_stem": sizes.cifar_stem, "lr": 0.1}
    return {
        "defences": ["bmtard", "rslad", "art-madry-pgd", "art-trades"],
        "seed": 0,
        "device": sizes.device,
        "amp": sizes.amp,
        "data": {"source": "npz", "path": str(data_path), "val_size": sizes.val_size},
        "student": {"model": sizes.student, "cifar_stem": sizes.cifar_stem},
        "teachers": {
            "robust": {**teacher, "kind": "madry", "epochs": robust_epochs,
                       "milestones": [max(1, round(robust_epochs * 0.75))] if robust_epochs >= 4 else []},
            "clean": {**teacher, "kind": "clean", "epochs": clean_epochs, "augment": True},
            "cache_dir": str(cache),
        },
        "threat": {"max_iter": sizes.max_iter},
        "schedule": {"epochs": student_epochs, "batch_size": sizes.batch, "lr": 0.1, "weight_decay": 5e-4,
                     "milestones": milestones, "augment": True},
        "balancing": {"kl_scale": 10.0},
        "evaluation": {"attacks": ["clean", "pgd20", "autoattack"], "n_examples": sizes.n_eval,
                       "apgd_steps": sizes.apgd_steps, "n_target_classes": 3, "square_queries": sizes.square_queries,
                       "sanity_checks": False},
    }


class _copied_while_running:
    """Copy the benchmark's ``results.json`` to ``--out`` whenever it changes (it is rewritten after each defence)."""

    def __init__(self, run_dir: Path, out: Path) -> None:
        self.run_dir, self.out, self.stop = run_dir, out, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> None:
        self.thread.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()

    def _loop(self) -> None:
        seen = None
        while not self.stop.wait(5.0):
            source = self.run_dir / "results.json"
            stamp = source.stat().st_mtime if source.is_file() else None
            if stamp is not None and stamp != seen:
                shutil.copyfile(source, self.out / "results.json")
                seen = stamp


def _copy_results(run_dir: Path, out: Path) -> None:
    for name in RESULT_FILES:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out / name)


def decoded_data(carry_dir: Path, workdir: Path, dry_run: bool) -> Path:
    """The carried subset as a plain npz in the project's layout (random images for a dry run without one)."""
    import numpy as np

    source = carry_dir / "data" / DATA_FILE
    target = workdir / "cifar10_subset.npz"
    if not source.is_file():
        if not dry_run:
            raise FileNotFoundError(f"{source} is missing: run 'python benchmarks/gpu_evidence.py prepare' first")
        rng = np.random.default_rng(0)
        arrays = {"x_train": rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8), "y_train": np.arange(96) % 10,
                  "x_test": rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), "y_test": np.arange(32) % 10}
    else:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files if key != "delta_coded"}
            if bool(data["delta_coded"]):
                arrays["x_train"], arrays["x_test"] = delta_decode(arrays["x_train"]), delta_decode(arrays["x_test"])
    np.savez(target, **arrays)
    return target


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All three stages; returns the summary (also in ``--out``/summary.json)."""
    _use_carried_packages(args.carry_dir)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # epoch_speed
    import numpy as np
    import torch

    from art_bmtad.utils.device import resolve_device

    sizes = dry_run_sizes() if args.dry_run else full_sizes()
    sizes.device = "cpu" if args.dry_run else "cuda"
    device = resolve_device(sizes.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    stages = Stages(args.out, args.budget_s, args.dry_run)
    stages.summary["device"] = _device_name(device)
    with tempfile.TemporaryDirectory(prefix="gpu_evidence_") as tmp:
        workdir = Path(tmp)
        data_path = decoded_data(args.carry_dir, workdir, args.dry_run)
        with np.load(data_path) as data:
            x = (data["x_train"][: sizes.throughput_n].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
            y = data["y_train"][: sizes.throughput_n].astype(np.int64)
        stages.run("check", lambda: check_cuda_path(device, sizes, workdir))
        throughput = stages.run("throughput", lambda: measure_throughput(device, sizes, x, y))
        if throughput and "rows" in throughput:
            (args.out / "throughput.md").write_text(throughput_markdown(throughput, stages.summary["device"]))
        unit_s = _bmtard_epoch_seconds(throughput, sizes, data_path)
        stages.run("evidence", lambda: run_evidence(stages, device, sizes, data_path, unit_s, workdir))
    return stages.summary


def _bmtard_epoch_seconds(throughput: dict[str, Any] | None, sizes: argparse.Namespace, data_path: Path) -> float:
    """Seconds of one B-MTARD epoch over the training split at the measured bf16 throughput (batch ``sizes.batch``)."""
    import numpy as np

    with np.load(data_path) as data:
        n_train = len(data["y_train"])
    rows = [r for r in (throughput or {}).get("rows", []) if r["batch"] == sizes.batch and r["bf16"] == sizes.amp]
    images_per_s = rows[0]["trainer_images_per_s"] if rows else sizes.fallback_images_per_s
    return n_train / images_per_s


def full_sizes() -> argparse.Namespace:
    """The H200 call: ResNet-18 student, ResNet-34 teachers, PGD-10, 1,000 evaluation images."""
    return argparse.Namespace(
        student="resnet18", teacher="resnet34", cifar_stem=True, max_iter=10, compile_backend="inductor", batch=128,
        batches=(128, 256), amp=True, check_n=512, throughput_n=5120, repeats=2, val_size=1000, n_eval=1000,
        apgd_steps=25, square_queries=250, teacher_cost=1.5, evaluation_share=0.4, max_teacher_epochs=60,
        max_student_epochs=60, fallback_images_per_s=2000.0)


def dry_run_sizes() -> argparse.Namespace:
    """Tiny sizes that run every line of the full call on a CPU."""
    return argparse.Namespace(
        student="test_resnet", teacher="test_resnet", cifar_stem=False, max_iter=2, compile_backend="eager", batch=16,
        batches=(16,), amp=True, check_n=32, throughput_n=32, repeats=1, val_size=16, n_eval=16, apgd_steps=2,
        square_queries=5, teacher_cost=1.5, evaluation_share=0.3, max_teacher_epochs=1, max_student_epochs=1,
        fallback_images_per_s=100.0)


def _device_name(device: Any) -> str:
    import platform

    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="build the carried data subset and packages (here)")
    prep.add_argument("--data", type=Path, required=True, help="CIFAR-10 as one .npz file (x_train, y_train, x_test, "
                      "y_test)")
    prep.add_argument("--n-train", type=int, default=18000, help="training images at most (fewer if they don't fit)")
    prep.add_argument("--n-test", type=int, default=1000)
    prep.add_argument("--carry-dir", type=Path, default=CARRY_DIR)
    go = commands.add_parser("run", help="the three stages (on the GPU machine; --dry-run on a CPU)")
    go.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_evidence_out")))
    go.add_argument("--budget-s", type=float, default=510.0, help="seconds for the whole call (default 510)")
    go.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: proves every stage runs")
    go.add_argument("--carry-dir", type=Path, default=CARRY_DIR)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        print(json.dumps(prepare(args.data, args.carry_dir, args.n_train, args.n_test), indent=1))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "log.txt")])
    summary = run(args)
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
