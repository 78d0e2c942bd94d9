"""A CIFAR-10 study sized to test B-MTARD on a CPU: does it give a better clean/robust trade-off (W-Robust) than the
student's own adversarial training, MTARD without balancing, and RSLAD, when the teachers are clearly stronger
than the student alone and the student trains long enough for the balancers to act?

    python benchmarks/study_cifar10.py --data path/to/cifar10.npz --out runs/study        # or DATA=... in the env
    python benchmarks/study_cifar10.py --data path/to/cifar10.npz --out runs/study --plan # sizes and steps only
    python benchmarks/study_cifar10.py --data path/to/cifar10.npz --out runs/tiny --tiny  # every stage, in minutes

Stages, each skipped when its output exists (re-running the command continues after a kill; a distillation
student continues from its last epoch checkpoint with ``art-bmtad train --resume``):

1. Teachers, trained once with ``art-bmtad teachers`` (and cached): a Madry ``resnet10t`` (30,000 images, 5 epochs,
   PGD-5) and a clean ``resnet10t`` (60 epochs, crop + flip). Every student distils from these same two files.
2. ART's Madry students (``art-madry-pgd``, one per seed) and the evaluation of them and of both teachers.
3. Strength check: the robust teacher's AutoAttack accuracy must be at least 5 points above the Madry students'
   mean, and the clean teacher's clean accuracy at least 10 points above theirs. If not, the study stops there
   (the remaining rows could not answer the question); ``--ignore-strength`` goes on anyway.
4. The other rows, one student per seed, each evaluated as soon as it is trained: B-MTARD, MTARD, RSLAD, ART's
   TRADES, and B-MTARD with only Entropy-Based Balance (Normalization Loss Balance off: weights fixed at 0.5/0.5)
   and with only NLB (EBB off: temperatures fixed at ``t_init``).
5. Evaluation of every model on the first 1,000 CIFAR-10 test images: clean, PGD-20, and the reference
   AutoAttack (Croce & Hein's code: APGD-CE, APGD-T, FAB-T, Square).
6. ``study.md`` / ``study.json``: the table (mean ± sample standard deviation over seeds, per-seed values in the
   JSON), W-Robust = (clean + AutoAttack) / 2, the strength check; ``balance.png``: temperatures and loss weights
   per training step of every B-MTARD and MTARD run (did the balancers act?); ``tradeoff.png``.

Sizing (the defaults), and why:

* Budget rule: Entropy-Based Balance moves a temperature by at most ``eta_tau`` = 0.001 per step, and the
  balancers' rates follow the learning rate; for the temperatures to be able to move by 1 the students need
  ``sum over steps of eta_tau x lr/lr0 >= 1``, i.e. at least 1,000 steps at the full rate.
* Students: training pool 3,700 images, of which the 3,200 training images are used (the 500 held out are the
  teachers' validation split; the students keep their last epoch, so no per-epoch validation is paid for);
  batch 16: 200 steps per epoch; 6 epochs, learning rate 0.05 (0.1 at batch 32, scaled linearly) x0.1 after
  epoch 5: 1,000 steps at the full rate + 200 at a tenth = 1,200 SGD steps, rate-weighted 1,020 >= 1,000. The
  batch is small because the cost of a student is its images x passes: 1,200 steps at batch 16 are 19,200
  images. Every row has the same budget and the same training attack (PGD-10, step 2/255).
* Teachers: robust on a 30,500-image pool (30,000 training images), 5 epochs at batch 64, lr x0.1 after epoch 4
  (2,345 steps, 7.8x the students' images), trained against PGD-5 (step 2/255), whose 6 forward-backward passes
  per step against PGD-10's 11 fit 1.8x the steps in the same time: a robust teacher trained on the students'
  3,200 images overfits and ends below the students' own Madry training. Clean: the students' pool, 60 epochs,
  batch 128 (1,500 steps). Both are trained with seed 0; the seed-1 students' pools are other seeded subsets of
  the same training split (the test split is never seen by anyone).
* Evaluation budget: the first 1,000 test images; PGD-20 (step 2/255, random start); the reference AutoAttack at
  10 steps (APGD-CE, APGD-T with 9 targets and FAB-T 10 steps each, Square 500 queries) -- a reduced budget,
  stated as such in every report (``--autoattack-budget 25`` or ``standard`` for more, at about 2x and 8x the
  attack time). The gradient-masking sanity checks are off by default (``--sanity-checks`` turns them on, at about
  a third more evaluation time): Square is a black-box attack, and the PGD-20/AutoAttack gap is in the table.
* Time: each stage's wall time is written to ``timings.json``; ``--plan`` prints the steps and the commands.
  ``--jobs 2`` runs two stages at once, one thread each, which on 2 cores does about 1.26x the work per second of
  one two-thread process (``benchmarks/epoch_speed.py``, B-MTARD epochs at batch 32); the distillation rows'
  bf16 autocast (``--amp --channels-last``) is faster still but changes the arithmetic of only some rows (ART's
  trainers stay fp32), so it is off by default.

Data: ``--data`` (or ``$DATA``): a CIFAR-10 ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``) or the folder
of torchvision's CIFAR-10 layout; there is no default path. ``--tiny`` runs every stage at a toy size (a dry run of
the machinery, not a result); ``--model``/``--teacher-model`` and ``--rows`` narrow or change what runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

ETA_TAU = 0.001
"""B-MTARD's temperature rate (the paper's): the students need ``1 / ETA_TAU`` rate-weighted steps."""
ROBUST_MARGIN, CLEAN_MARGIN = 0.05, 0.10
"""How much stronger the teachers must be than the student's own Madry training: AutoAttack (robust teacher) and
clean accuracy (clean teacher)."""


@dataclass(frozen=True)
class Row:
    """One row of the table: a defence and the recipe overrides that make it."""

    key: str
    label: str
    defence: str
    overrides: tuple[str, ...] = ()
    distils: bool = True
    """Whether the row learns from the teachers (ART's own trainers do not, so they train beside them)."""


ROWS = (
    Row("bmtard", "B-MTARD", "bmtard"),
    Row("mtard", "MTARD", "mtard"),
    Row("rslad", "RSLAD", "rslad"),
    Row("madry", "ART Madry", "art-madry-pgd", distils=False),
    Row("trades", "ART TRADES", "art-trades", distils=False),
    Row("bmtard-ebb-only", "B-MTARD, EBB only (NLB off)", "bmtard", ("balancing.loss_balance=false",)),
    Row("bmtard-nlb-only", "B-MTARD, NLB only (EBB off)", "bmtard", ("balancing.entropy_balance=false",)),
)
"""The study's rows; the Madry row is also the baseline of the strength check."""
BASELINE = "madry"
SEED_STYLES = ("-", "--", ":", "-.")
"""Line style of each seed in ``balance.png`` (the colour is the teacher's)."""
BALANCED = ("bmtard", "bmtard-ebb-only", "bmtard-nlb-only", "mtard")
"""Rows whose histories have temperatures and loss weights to plot."""
_TIMINGS_LOCK = threading.Lock()
"""``timings.json`` is read and rewritten by every stage, some of them at once (``--jobs``)."""


@dataclass(frozen=True)
class Sizing:
    """How big the study is: data, students, teachers and evaluation."""

    n_pool: int = 3700
    val_size: int = 500
    batch_size: int = 16
    epochs: int = 6
    milestones: tuple[int, ...] = (5,)
    lr: float = 0.05
    teacher_batch_size: int = 128
    robust_teacher_pool: int = 30500
    robust_teacher_batch_size: int = 64
    robust_teacher_epochs: int = 5
    robust_teacher_milestones: tuple[int, ...] = (4,)
    robust_teacher_max_iter: int = 5
    clean_teacher_epochs: int = 60
    n_examples: int = 1000
    autoattack_budget: str = "10"
    sanity_checks: bool = False
    kl_scale: float = 10.0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil((self.n_pool - self.val_size) / self.batch_size)

    @property
    def steps(self) -> int:
        """SGD steps of every student."""
        return self.epochs * self.steps_per_epoch

    @property
    def rate_weighted_steps(self) -> float:
        """Steps weighted by the learning-rate factor (x0.1 after each milestone), which the balancers' rates
        follow: ``eta_tau`` times this is how far a temperature can move."""
        return sum(self.steps_per_epoch * 0.1 ** sum(epoch > m for m in self.milestones)
                   for epoch in range(1, self.epochs + 1))


TINY = Sizing(n_pool=160, val_size=32, batch_size=16, epochs=2, milestones=(), teacher_batch_size=32,
              robust_teacher_pool=200, robust_teacher_batch_size=32, robust_teacher_epochs=2,
              robust_teacher_milestones=(), clean_teacher_epochs=2, n_examples=48,
              autoattack_budget="2")
"""A dry run of every stage (minutes on a CPU): checks the machinery, measures nothing."""


def check_sizing(sizing: Sizing, tiny: bool) -> None:
    """Refuse a study whose students cannot let the balancers act (fewer than ``1 / eta_tau`` rate-weighted steps)
    or whose evaluation is below 1,000 images, unless it is a ``--tiny`` dry run."""
    if tiny:
        return
    if sizing.rate_weighted_steps * ETA_TAU < 1:
        raise SystemExit(f"study: {sizing.steps} steps per student ({sizing.rate_weighted_steps:.0f} rate-weighted) "
                         f"let a temperature move by at most {sizing.rate_weighted_steps * ETA_TAU:.2f} "
                         f"(eta_tau {ETA_TAU}); give at least {1 / ETA_TAU:.0f} (more epochs, a smaller batch or a "
                         "larger pool)")
    if sizing.n_examples < 1000:
        raise SystemExit(f"study: --n-examples {sizing.n_examples}: evaluate on at least 1,000 test images")


# --------------------------------------------------------------------------------------------- commands
@dataclass
class Study:
    """Where the study runs and what it runs with."""

    out: Path
    data: Path
    sizing: Sizing
    seeds: tuple[int, ...]
    rows: tuple[Row, ...]
    model: str = "resnet10t"
    teacher_model: str = "resnet10t"
    amp: bool = False
    channels_last: bool = False
    threads: int | None = None
    jobs: int = 1
    executable: tuple[str, ...] = (sys.executable, "-m", "art_bmtad")

    def data_source(self) -> list[str]:
        """``--data npz`` for an ``.npz`` file, else torchvision's CIFAR-10 folder, and ``--data-path``."""
        return ["--data", "npz" if self.data.suffix == ".npz" else "cifar10", "--data-path", str(self.data)]

    def data_options(self) -> list[str]:
        return [*self.data_source(), "--n-train", str(self.sizing.n_pool), "--val-size", str(self.sizing.val_size)]

    def device_options(self) -> list[str]:
        """``--threads``: as asked, else the CPUs shared out between the ``jobs`` stages that run at once."""
        threads = self.threads or (max(1, len(os.sched_getaffinity(0)) // self.jobs) if self.jobs > 1 else None)
        return ["--threads", str(threads)] if threads else []

    # files
    def teacher_file(self, role: str) -> Path:
        return self.out / "teachers" / f"{role}.safetensors"

    def run_dir(self, row: Row, seed: int) -> Path:
        return self.out / "students" / f"{row.key}-seed{seed}"

    def report(self, model: Path) -> Path:
        """The evaluation report of a run folder or a teacher file."""
        return model.with_suffix(".robustness.json") if model.suffix == ".safetensors" else model / "robustness.json"

    # commands
    def teacher_command(self, role: str) -> list[str]:
        s = self.sizing
        kind = ["--kind", "madry", "--epochs", str(s.robust_teacher_epochs), "--max-iter",
                str(s.robust_teacher_max_iter)] if role == "robust" else \
            ["--kind", "clean", "--epochs", str(s.clean_teacher_epochs), "--augment"]
        milestones = s.robust_teacher_milestones if role == "robust" else ()
        pool, batch = (s.robust_teacher_pool, s.robust_teacher_batch_size) if role == "robust" else \
            (s.n_pool, s.teacher_batch_size)
        return [*self.executable, "teachers", "--model", self.teacher_model, *kind,
                *(["--milestones", ",".join(map(str, milestones))] if milestones else []),
                "--batch-size", str(batch), "--seed", str(self.seeds[0]), *self.data_source(),
                "--n-train", str(pool), "--val-size", str(s.val_size),
                *self.device_options(), "--out", str(self.teacher_file(role).with_suffix("")), "--quiet"]

    def train_command(self, row: Row, seed: int, *, resume: bool, overwrite: bool) -> list[str]:
        run_dir = self.run_dir(row, seed)
        if resume:
            return [*self.executable, "train", "--resume", str(run_dir), *self.device_options(), "--quiet"]
        s = self.sizing
        overrides = [f"schedule.milestones=[{','.join(map(str, s.milestones))}]", f"schedule.lr={s.lr}",
                     "schedule.weight_decay=5e-4", f"balancing.kl_scale={s.kl_scale}", "schedule.select_by=null",
                     f"amp={'true' if self.amp else 'false'}",
                     f"channels_last={'true' if self.channels_last else 'false'}", *row.overrides]
        return [*self.executable, "train", "--defence", row.defence, *self.data_options(), "--model", self.model,
                "--epochs", str(s.epochs), "--batch-size", str(s.batch_size), "--seed", str(seed),
                *(["--robust-teacher", str(self.teacher_file("robust")),
                   "--clean-teacher", str(self.teacher_file("clean"))] if row.distils else []),
                *(arg for override in overrides for arg in ("--set", override)), *self.device_options(),
                "--out", str(run_dir), *(["--overwrite"] if overwrite else []), "--quiet"]

    def eval_command(self, model: Path) -> list[str]:
        s = self.sizing
        data = self.data_source() if model.suffix == ".safetensors" else []  # a run folder knows its data
        return [*self.executable, "eval", "--model", str(model), *data, "--n-examples", str(s.n_examples),
                "--attacks", "clean,pgd20,autoattack", "--autoattack-backend", "reference",
                "--autoattack-budget", s.autoattack_budget, *([] if s.sanity_checks else ["--no-sanity-checks"]),
                *self.device_options(), "--out", str(self.report(model)), "--quiet"]

    # running
    def run_stage(self, name: str, command: list[str]) -> None:
        """Run one stage, its output in ``logs/<name>.log``; stop the study when it fails."""
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {shlex.join(command)}", flush=True)
        started = time.perf_counter()
        with open(logs / f"{name}.log", "a") as log:
            log.write(f"$ {shlex.join(command)}\n")
            log.flush()
            code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"study: stage {name} failed (exit {code}); see {logs / f'{name}.log'}. Re-running the "
                             "same command continues from the last finished stage")
        with _TIMINGS_LOCK:
            timings_file = self.out / "timings.json"
            known = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
            timings_file.write_text(json.dumps({**known, name: round(seconds, 1)}, indent=1))
        print(f"[{time.strftime('%H:%M:%S')}] {name}: done in {seconds:.0f} s", flush=True)

    def run_all(self, stages: Sequence[Callable[[], None]]) -> None:
        """Run independent stages, ``jobs`` of them at a time (each stage is its own process); the first failure
        stops the study once the stages already running have ended."""
        if self.jobs == 1:
            for stage in stages:
                stage()
            return
        pool = ThreadPoolExecutor(self.jobs)
        try:
            for future in as_completed([pool.submit(stage) for stage in stages]):
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def teacher(self, role: str) -> None:
        if not self.teacher_file(role).is_file():
            self.teacher_file(role).parent.mkdir(parents=True, exist_ok=True)
            self.run_stage(f"teacher-{role}", self.teacher_command(role))

    def train(self, row: Row, seed: int) -> None:
        run_dir = self.run_dir(row, seed)
        if (run_dir / "student.safetensors").is_file():
            return
        checkpoints = run_dir / "checkpoints"
        resume = checkpoints.is_dir() and any(checkpoints.iterdir())
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        self.run_stage(f"train-{row.key}-seed{seed}",
                       self.train_command(row, seed, resume=resume, overwrite=run_dir.exists() and not resume))

    def evaluate(self, model: Path, name: str) -> None:
        if not self.report(model).is_file():
            self.run_stage(f"eval-{name}", self.eval_command(model))

    def train_and_evaluate(self, row: Row, seed: int) -> None:
        self.train(row, seed)
        self.evaluate(self.run_dir(row, seed), f"{row.key}-seed{seed}")

    def plan(self) -> str:
        s = self.sizing
        lines = [f"students: {s.n_pool - s.val_size} training images, batch {s.batch_size}, {s.epochs} epochs "
                 f"(lr x0.1 after {list(s.milestones) or 'none'}): {s.steps} SGD steps, rate-weighted "
                 f"{s.rate_weighted_steps:.0f}; eta_tau x steps = {ETA_TAU * s.rate_weighted_steps:.2f}",
                 f"rows: {', '.join(row.label for row in self.rows)}; seeds {list(self.seeds)}: "
                 f"{len(self.rows) * len(self.seeds)} students",
                 f"evaluation: first {s.n_examples} test images; clean, PGD-20, reference AutoAttack budget "
                 f"{s.autoattack_budget}", "", "commands (skipped when their output exists):"]
        lines += [shlex.join(self.teacher_command(role)) for role in ("robust", "clean")]
        lines += [shlex.join(self.train_command(row, seed, resume=False, overwrite=False))
                  for row in self.rows for seed in self.seeds]
        lines += [shlex.join(self.eval_command(self.run_dir(self.rows[0], self.seeds[0])))]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- results
def accuracies(report_path: Path) -> dict[str, float] | None:
    """``clean``, ``pgd20``, ``autoattack`` of one ``art-bmtad eval`` report, or ``None`` before it exists."""
    if not report_path.is_file():
        return None
    return dict(json.loads(report_path.read_text())["robust_accuracy"])


def w_robust(accuracy: dict[str, float]) -> float | None:
    """(clean + AutoAttack) / 2, the study's headline metric."""
    from art_bmtad.evaluation.weighted_robust import w_robust as weighted

    return weighted(accuracy, "autoattack")


METRICS = ("clean", "pgd20", "autoattack", "w_robust")


def summarise(per_seed: list[dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """Per metric: the mean, the sample standard deviation over seeds (``None`` for one seed) and the values."""
    summary = {}
    for metric in METRICS:
        values = [row[metric] for row in per_seed if row.get(metric) is not None]
        summary[metric] = {"mean": statistics.fmean(values) if values else None,
                           "sd": statistics.stdev(values) if len(values) > 1 else None, "values": values}
    return summary


def strength_check(robust_teacher: dict[str, float], clean_teacher: dict[str, float],
                   madry: list[dict[str, float]]) -> tuple[bool, list[str]]:
    """Whether the teachers are clearly stronger than the student's own Madry training, and the lines saying so.

    Robust teacher: AutoAttack at least :data:`ROBUST_MARGIN` above the Madry students' mean; clean teacher: clean
    accuracy at least :data:`CLEAN_MARGIN` above theirs.
    """
    madry_aa = statistics.fmean(row["autoattack"] for row in madry)
    madry_clean = statistics.fmean(row["clean"] for row in madry)
    robust_gap = robust_teacher["autoattack"] - madry_aa
    clean_gap = clean_teacher["clean"] - madry_clean
    robust_ok, clean_ok = robust_gap >= ROBUST_MARGIN - 1e-9, clean_gap >= CLEAN_MARGIN - 1e-9
    lines = [
        f"robust teacher AutoAttack {100 * robust_teacher['autoattack']:.1f}% vs the Madry students' "
        f"{100 * madry_aa:.1f}% (mean of {len(madry)}): {100 * robust_gap:+.1f} points, needs "
        f"+{100 * ROBUST_MARGIN:.0f}: {'passed' if robust_ok else 'FAILED'}",
        f"clean teacher clean {100 * clean_teacher['clean']:.1f}% vs the Madry students' {100 * madry_clean:.1f}%: "
        f"{100 * clean_gap:+.1f} points, needs +{100 * CLEAN_MARGIN:.0f}: {'passed' if clean_ok else 'FAILED'}",
    ]
    return robust_ok and clean_ok, lines


def balance_summary(history_path: Path) -> dict[str, Any] | None:
    """First and last temperature and loss weight per teacher, and how far each moved (did the balancers act?)."""
    if not history_path.is_file():
        return None
    steps = json.loads(history_path.read_text())["steps"]
    summary = {}
    for key in sorted(k for k in steps if k.startswith(("temperature/", "weight/")) and steps[k]):
        values = steps[key]
        summary[key] = {"first": values[0], "last": values[-1], "max_move": max(abs(v - values[0]) for v in values),
                        "steps": len(values)}
    return summary


def _cell(summary: dict[str, float | None]) -> str:
    if summary["mean"] is None:
        return "not finished"
    sd = "" if summary["sd"] is None else f" ± {100 * summary['sd']:.1f}"
    return f"{100 * summary['mean']:.1f}{sd}"


def _balance_cell(summaries: list[dict[str, Any] | None]) -> str:
    known = [s for s in summaries if s]
    if not known:
        return "–"
    parts = []
    for key in sorted(known[0]):
        kind, teacher = key.split("/", 1)
        last = ", ".join(f"{s[key]['last']:.2f}" for s in known if key in s)
        parts.append(f"{'τ' if kind == 'temperature' else 'w'} {teacher} {known[0][key]['first']:.2f} → {last}")
    return "; ".join(parts)


def collect(study: Study) -> dict[str, Any]:
    """Everything the table needs, from the reports and histories on disk (missing ones are 'not finished')."""
    teachers = {role: accuracies(study.report(study.teacher_file(role))) for role in ("robust", "clean")}
    rows = []
    for row in study.rows:
        per_seed, balance = [], []
        for seed in study.seeds:
            accuracy = accuracies(study.report(study.run_dir(row, seed)))
            if accuracy is not None:
                per_seed.append({**accuracy, "w_robust": w_robust(accuracy), "seed": seed})
            balance.append(balance_summary(study.run_dir(row, seed) / "history.json"))
        rows.append({"key": row.key, "label": row.label, "defence": row.defence, "overrides": list(row.overrides),
                     "per_seed": per_seed, "summary": summarise(per_seed), "balance": balance})
    madry = next((r["per_seed"] for r in rows if r["key"] == BASELINE), [])
    strength = None
    if all(teachers.values()) and madry:
        passed, lines = strength_check(teachers["robust"], teachers["clean"], madry)
        strength = {"passed": passed, "lines": lines}
    return {"sizing": dataclasses.asdict(study.sizing), "steps": study.sizing.steps,
            "rate_weighted_steps": study.sizing.rate_weighted_steps, "seeds": list(study.seeds),
            "model": study.model, "teacher_model": study.teacher_model, "amp": study.amp,
            "channels_last": study.channels_last,
            "teachers": teachers, "rows": rows, "strength": strength}


def _budget_text(budget: str) -> str:
    if budget == "standard":
        return "the standard budget: APGD 100 steps, 9 targets, FAB-T 100 steps, Square 5,000 queries"
    steps = int(budget)
    return (f"a reduced budget: APGD-CE, APGD-T and FAB-T {steps} steps, 9 targets, Square "
            f"{50 * steps:,} queries")


def render(results: dict[str, Any]) -> str:
    """``study.md``: the setting, the strength check and the table."""
    s = results["sizing"]
    lines = [
        "# CIFAR-10 study",
        "",
        f"- Students: `{results['model']}`, {s['n_pool'] - s['val_size']} training images, batch {s['batch_size']}, "
        f"{s['epochs']} epochs, lr {s['lr']} x0.1 after epoch {', '.join(map(str, s['milestones'])) or 'none'}, "
        f"the last epoch kept: "
        f"{results['steps']} SGD steps (rate-weighted "
        f"{results['rate_weighted_steps']:.0f}; "
        f"eta_tau x steps = {ETA_TAU * results['rate_weighted_steps']:.2f}); kl_scale {s['kl_scale']} for the "
        f"distillation rows; bf16 autocast {'on' if results['amp'] else 'off'} (distillation rows only), "
        f"channels-last {'on' if results.get('channels_last') else 'off'}",
        f"- Teachers: `{results['teacher_model']}`, robust: Madry (PGD-{s['robust_teacher_max_iter']}), "
        f"{s['robust_teacher_pool'] - s['val_size']} training images, {s['robust_teacher_epochs']} epochs, batch "
        f"{s['robust_teacher_batch_size']}; clean: "
        f"{s['n_pool'] - s['val_size']} training images, {s['clean_teacher_epochs']} epochs with crop + flip, batch "
        f"{s['teacher_batch_size']}",
        f"- Evaluation: the first {s['n_examples']} CIFAR-10 test images, Linf eps 8/255: clean, PGD-20, reference "
        f"AutoAttack (APGD-CE, APGD-T, FAB-T, Square) at budget {s['autoattack_budget']} "
        f"({_budget_text(s['autoattack_budget'])}); gradient-masking sanity checks "
        f"{'on' if s.get('sanity_checks') else 'off'}",
        f"- Seeds: {results['seeds']}; cells are mean ± sample standard deviation over seeds, in %",
        "",
    ]
    strength = results["strength"]
    if strength is None:
        lines.append("Strength check: not yet (needs both teachers' and the Madry students' evaluations).")
    else:
        lines.append(f"Strength check ({'passed' if strength['passed'] else 'FAILED'}):")
        lines += [f"- {line}" for line in strength["lines"]]
    lines += ["", "| Model | Clean | PGD-20 | AutoAttack | W-Robust (clean + AutoAttack) / 2 | seeds | balancers: "
              "first → last per seed |", "|---|---:|---:|---:|---:|---:|---|"]
    for role, accuracy in results["teachers"].items():
        cells = [f"{100 * accuracy[m]:.1f}" if accuracy and m in accuracy else "–" for m in METRICS[:3]]
        wr = w_robust(accuracy) if accuracy else None
        lines.append(f"| teacher: {role} | " + " | ".join(cells) + f" | {'–' if wr is None else f'{100 * wr:.1f}'} "
                     "| – | – |")
    for row in results["rows"]:
        cells = [_cell(row["summary"][metric]) for metric in METRICS]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + f" | {len(row['per_seed'])} | "
                     f"{_balance_cell(row['balance'])} |")
    n = s["n_examples"]
    lines += ["", f"The binomial standard error of one accuracy near 40% on {n:,} images is about "
              f"{100 * math.sqrt(0.24 / n):.1f} points: seed spreads of that size are test-sample noise."]
    return "\n".join(lines) + "\n"


def plot_balance(study: Study, path: Path) -> Path | None:
    """Temperatures (top) and loss weights (bottom) per step of the balanced rows, one column per row, one line per
    seed and teacher."""
    from matplotlib.figure import Figure  # no pyplot: no global backend to set, nothing to close

    rows = [row for row in study.rows if row.key in BALANCED]
    histories = {(row.key, seed): study.run_dir(row, seed) / "history.json" for row in rows for seed in study.seeds}
    if not rows or not any(p.is_file() for p in histories.values()):
        return None
    figure = Figure(figsize=(3.2 * len(rows), 5.4), dpi=100)
    axes = figure.subplots(2, len(rows), sharex=True, sharey="row", squeeze=False)
    for column, row in enumerate(rows):
        for index, seed in enumerate(study.seeds):
            history_path = histories[(row.key, seed)]
            if not history_path.is_file():
                continue
            steps = json.loads(history_path.read_text())["steps"]
            for line, prefix in enumerate(("temperature/", "weight/")):
                for teacher, key in enumerate(sorted(k for k in steps if k.startswith(prefix))):
                    axes[line][column].plot(range(1, len(steps[key]) + 1), steps[key], linewidth=0.9,
                                            color=f"C{teacher}", linestyle=SEED_STYLES[index % len(SEED_STYLES)],
                                            label=f"{key.removeprefix(prefix)}, seed {seed}")
        axes[0][column].set_title(row.label, fontsize=8)
        for line, name in enumerate(("temperature", "loss weight")):
            axes[line][column].grid(alpha=0.3)
            axes[line][0].set_ylabel(name)
        axes[1][column].set_xlabel("training step")
        if axes[1][column].get_legend_handles_labels()[0]:
            axes[1][column].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path)
    return path


def plot_tradeoff(results: dict[str, Any], path: Path) -> Path | None:
    """Clean against AutoAttack accuracy: every seed as a dot, the mean as a cross, teachers as squares."""
    from matplotlib.figure import Figure  # no pyplot: no global backend to set, nothing to close

    if not any(row["per_seed"] for row in results["rows"]):
        return None
    figure = Figure(figsize=(6.4, 4.6), dpi=100)
    axes = figure.subplots()
    for row in results["rows"]:
        if not row["per_seed"]:
            continue
        xs = [100 * r["clean"] for r in row["per_seed"]]
        ys = [100 * r["autoattack"] for r in row["per_seed"]]
        (dots,) = axes.plot(xs, ys, "o", alpha=0.5, label=row["label"])
        axes.plot(statistics.fmean(xs), statistics.fmean(ys), "x", markersize=9, color=dots.get_color())
    for role, accuracy in results["teachers"].items():
        if accuracy and "autoattack" in accuracy:
            axes.plot(100 * accuracy["clean"], 100 * accuracy["autoattack"], "s", color="black", fillstyle="none")
            axes.annotate(f"{role} teacher", (100 * accuracy["clean"], 100 * accuracy["autoattack"]), fontsize=7)
    axes.set_xlabel("clean accuracy (%)")
    axes.set_ylabel("AutoAttack accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    return path


def write_outputs(study: Study) -> dict[str, Any]:
    results = collect(study)
    (study.out / "study.json").write_text(json.dumps(results, indent=1))
    (study.out / "study.md").write_text(render(results))
    plot_balance(study, study.out / "balance.png")
    plot_tradeoff(results, study.out / "tradeoff.png")
    return results


# --------------------------------------------------------------------------------------------- main
def run(study: Study, ignore_strength: bool) -> dict[str, Any]:
    """Every stage in order, each skipped when its output exists; independent stages ``jobs`` at a time."""
    alone = [row for row in study.rows if not row.distils]  # ART's own trainers: train beside the teachers
    study.run_all([partial(study.teacher, role) for role in ("robust", "clean")]
                  + [partial(study.train, row, seed) for row in alone for seed in study.seeds])
    baseline = [row for row in study.rows if row.key == BASELINE]
    study.run_all([partial(study.evaluate, study.teacher_file(role), f"teacher-{role}") for role in ("robust", "clean")]
                  + [partial(study.evaluate, study.run_dir(row, seed), f"{row.key}-seed{seed}")
                     for row in baseline for seed in study.seeds])
    results = write_outputs(study)
    strength = results["strength"]
    if strength is not None:
        print("\n".join(strength["lines"]), flush=True)
        if not strength["passed"] and not ignore_strength:
            raise SystemExit("study: the teachers are not clearly stronger than the student's own Madry training, so "
                             "the other rows could not answer the question; train stronger teachers (--teacher-epochs "
                             "or --teacher-model; delete teachers/ and the evaluations), or --ignore-strength")
    study.run_all([partial(study.train_and_evaluate, row, seed)
                   for row in study.rows if row.key != BASELINE for seed in study.seeds])
    return write_outputs(study)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("DATA"),
                        help="CIFAR-10 .npz or torchvision CIFAR-10 folder (default: $DATA; required)")
    parser.add_argument("--out", type=Path, default=Path("runs/study"), help="study folder (default: %(default)s)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds, at least two for a spread")
    parser.add_argument("--rows", default=",".join(row.key for row in ROWS),
                        help="comma-separated subset of: " + ", ".join(row.key for row in ROWS))
    parser.add_argument("--model", default="resnet10t", help="student architecture (default: %(default)s)")
    parser.add_argument("--teacher-model", default="resnet10t", help="both teachers' architecture")
    parser.add_argument("--teacher-epochs", type=int, help="robust teacher epochs (default: 3x the students')")
    parser.add_argument("--autoattack-budget",
                        help="reference AutoAttack budget: standard or N APGD steps (default: 10)")
    parser.add_argument("--sanity-checks", action=argparse.BooleanOptionalAction, default=False,
                        help="the evaluation's gradient-masking sanity checks (default: off)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=False,
                        help="bf16 autocast in the distillation rows (default: off)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=False,
                        help="the channels-last memory format for every student (default: off)")
    parser.add_argument("--threads", type=int, help="CPU threads of every stage (default: the physical cores, "
                        "shared out between --jobs)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="independent stages run at once, each its own process (default: 1). On a small CPU two "
                             "single-thread processes can do more per second than one with two threads: measure "
                             "with `epoch_speed.py` first")
    parser.add_argument("--tiny", action="store_true", help="every stage at a toy size: a dry run, not a result")
    parser.add_argument("--plan", action="store_true", help="print the sizing and the commands, run nothing")
    parser.add_argument("--ignore-strength", action="store_true",
                        help="go on with every row even when the teachers fail the strength check")
    parser.add_argument("--table-only", action="store_true", help="only rewrite study.md, study.json and the plots")
    return parser.parse_args(argv)


def make_study(args: argparse.Namespace) -> Study:
    if args.data is None:
        raise SystemExit("study: name the CIFAR-10 data with --data PATH or DATA=PATH (an .npz or torchvision's "
                         "CIFAR-10 folder)")
    sizing = TINY if args.tiny else Sizing()
    if args.teacher_epochs is not None:
        sizing = dataclasses.replace(sizing, robust_teacher_epochs=args.teacher_epochs, robust_teacher_milestones=(
            (round(0.75 * args.teacher_epochs),) if sizing.robust_teacher_milestones else ()))
    if args.autoattack_budget is not None:
        sizing = dataclasses.replace(sizing, autoattack_budget=args.autoattack_budget)
    sizing = dataclasses.replace(sizing, sanity_checks=args.sanity_checks)
    check_sizing(sizing, args.tiny)
    known = {row.key: row for row in ROWS}
    unknown = [key for key in args.rows.split(",") if key not in known]
    if unknown:
        raise SystemExit(f"study: unknown row {unknown[0]!r}; rows: {', '.join(known)}")
    seeds = tuple(int(seed) for seed in args.seeds.split(","))
    if args.jobs < 1:
        raise SystemExit(f"study: --jobs {args.jobs}: give at least 1")
    executable = tuple(shlex.split(os.environ["ART_BMTAD"])) if os.environ.get("ART_BMTAD") else Study.executable
    return Study(out=args.out, data=args.data.resolve(), sizing=sizing, seeds=seeds,
                 rows=tuple(known[key] for key in args.rows.split(",")), model=args.model,
                 teacher_model=args.teacher_model, amp=args.amp, channels_last=args.channels_last,
                 threads=args.threads, jobs=args.jobs, executable=executable)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    study = make_study(args)
    if args.plan:
        print(study.plan())
        return
    if not study.data.exists():
        raise SystemExit(f"study: no data at {study.data}")
    study.out.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        write_outputs(study)
    else:
        print(study.plan().split("\n\n")[0], flush=True)
        run(study, args.ignore_strength or args.tiny)
    print((study.out / "study.md").read_text())


if __name__ == "__main__":
    main()
