"""Run mechanics of the training skeleton: checkpoints, exact resume, NaN stops and Ctrl-C/SIGTERM handling.

A :class:`~art_bmtad.trainers.base.DistillationTrainer` holds one :class:`RunMechanics` and calls it at named points
of its loop (``open_store`` and ``resume`` or ``fresh_loop`` before the first step, ``save`` after a step or an epoch,
``check_finite`` at epoch ends, ``interrupts_deferred`` around the loop, ``stop_if_interrupted`` after each step,
``save_on_interrupt`` when stopped); what they work on (the student, the checkpointed parts, the run's position and
history) is passed in, so a reader looking for one training step finds it in the method's module without these.
The checkpoint format itself is :mod:`art_bmtad.trainers.training_checkpoints`; ``torch.distributed`` helpers are
:mod:`art_bmtad.utils.distributed`.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_bmtad.trainers.history import History
from art_bmtad.trainers.training_checkpoints import (
    CheckpointStore,
    LoopState,
    capture_rng,
    decode,
    encode,
    load_newest_good,
    prefixed,
    read_checkpoint,
    restore_rng,
    tensor_group,
)
from art_bmtad.utils import distributed
from art_bmtad.utils.state_dicts import check_compatible

logger = logging.getLogger(__name__)

STOP_SIGNALS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
"""Signals that stop a checkpointed run after its current step, with the handler each gets back afterwards."""


@dataclass(frozen=True)
class CheckpointPlan:
    """The checked checkpoint arguments of one ``fit`` call."""

    folder: Path | None
    every: int | None
    keep_last: int
    resume: Path | None


@dataclass
class Run:
    """One call of ``fit``: the loop position, the trainer's history and what the checkpoints need."""

    loop: LoopState
    history: History
    store: CheckpointStore | None
    every: int | None
    scheduler: Any
    signature: dict[str, Any]


class RunMechanics:
    """Checkpoints, resume, finite checks and interrupts of one trainer's runs.

    Args:
        method: the trainer's method name (checkpoints record it; a resume from another method is refused).
        classifier: the student, its optimizer included.
        stateful_parts: the method's objects with ``state_dict``/``load_state_dict`` that checkpoints must hold
            (e.g. balancers), by name; called at each save and resume.
    """

    def __init__(self, method: str, classifier: PyTorchClassifier,
                 stateful_parts: Callable[[], dict[str, Any]]) -> None:
        self.method = method
        self._classifier = classifier
        self._stateful_parts = stateful_parts
        self.device = classifier.device
        self._interrupted = self._stop_agreed = self._deferring = False

    def check_finite(self, run: Run) -> None:
        """Stop on a NaN/Inf loss (naming its step) or non-finite weights; one host sync, at boundaries only."""
        index = run.history.first_nonfinite("loss")
        params = [p.detach() for p in self._classifier.model.parameters()]
        weights_finite = bool(torch.stack([torch.isfinite(p).all() for p in params]).all()) if params else True
        if index is None and weights_finite:
            return
        latest = run.store.paths()[-1] if run.store is not None and run.store.paths() else None
        kept = f" The last good checkpoint, {latest}, is kept." if latest is not None else ""
        epoch = run.loop.epoch + 1
        if index is not None:
            step = len(run.history.steps.get("loss", [])) + index + 1
            where = f"the training loss became NaN/Inf at step {step} (epoch {epoch}, batch {index + 1} of the epoch)"
        else:
            where = f"the student's weights became NaN/Inf by step {run.loop.step} (epoch {epoch})"
        raise FloatingPointError(
            f"{self.method}: {where}; stopped without saving this state. Lower the learning rate or check the data "
            f"and teachers.{kept}"
        )

    # ----------------------------------------------------------------- checkpoints
    def open_store(self, plan: CheckpointPlan, scheduler: Any) -> CheckpointStore | None:
        """The checkpoint folder, checked (writable; empty unless resuming) on rank 0 before any training step."""
        if plan.folder is None:
            return None
        for name, stateful in (("optimizer", self._classifier.optimizer), ("scheduler", scheduler),
                               *self._stateful_parts().items()):
            if stateful is not None:
                encode(stateful.state_dict(), {}, name)  # a state that cannot be stored fails now, not mid-run
        store = CheckpointStore(plan.folder, plan.keep_last)
        problem: OSError | None = None
        if distributed.is_main_process():
            try:
                store.check_writable()
                store.remove_temporaries()
                if plan.resume is None and store.paths():
                    raise FileExistsError(
                        errno.EEXIST,
                        f"checkpoint folder {store.folder} already holds checkpoints ({store.paths()[-1].name}); pass "
                        f"resume={str(store.folder)!r} to continue that run, or use another folder",
                    )
            except OSError as err:
                problem = err
        message = distributed.broadcast_object(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if message is not None:
            raise RuntimeError(f"rank 0: {message}")
        return store

    def fresh_loop(self) -> LoopState:
        group = self._classifier.optimizer.param_groups[0]
        seed = distributed.broadcast_int(int(torch.randint(0, 2**62, (1,))), self.device)  # same orders everywhere
        return LoopState(data_seed=seed, initial_lr=float(group.get("initial_lr", group["lr"])))

    def save(self, run: Run) -> None:
        """Checkpoint the state after the last completed step (rank 0 writes; every rank learns if it failed)."""
        self.check_finite(run)
        captured = self._capture(run)
        error: OSError | None = None
        if captured is not None:
            try:
                run.store.save(run.loop.step, *captured)
            except OSError as err:
                error = err
        if not distributed.all_ranks_agree(error is None, self.device):
            if error is not None:
                raise error
            raise RuntimeError("rank 0 could not write a checkpoint; see its error")

    def _capture(self, run: Run) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """Tensors and JSON state of a checkpoint (on rank 0; ``None`` elsewhere). RNG states of every rank."""
        rng = distributed.gather_objects(capture_rng())
        if not distributed.is_main_process():
            return None
        loop, history = run.loop, run.history
        tensors = prefixed("student", self._classifier.model.state_dict().items())
        pending = history.pending()
        steps = ((key, torch.tensor(values, dtype=torch.float64)) for key, values in history.steps.items())
        tensors.update(prefixed("history/steps", steps))
        tensors.update(prefixed("history/pending", pending.items()))
        if loop.order is not None:
            tensors["order"] = loop.order.detach().to("cpu", copy=True)
        if loop.best is not None:
            tensors.update(prefixed("best", loop.best[2].items()))
        state = {
            "method": self.method,
            "signature": run.signature,
            "loop": {"epoch": loop.epoch, "slot": loop.slot, "step": loop.step, "data_seed": loop.data_seed,
                     "initial_lr": loop.initial_lr},
            "optimizer": encode(self._classifier.optimizer.state_dict(), tensors, "optimizer"),
            "scheduler": None if run.scheduler is None else encode(run.scheduler.state_dict(), tensors, "scheduler"),
            "parts": {name: encode(part.state_dict(), tensors, f"parts/{name}")
                      for name, part in self._stateful_parts().items()},
            "history": {"meta": history.meta, "epochs": history.epochs, "steps": list(history.steps),
                        "pending": list(pending)},
            "best": None if loop.best is None else {"score": loop.best[0], "epoch": loop.best[1]},
            "rng": [encode(state, tensors, f"rng/{rank}") for rank, state in enumerate(rng)],
        }
        return tensors, state

    def resume(self, run: Run, source: Path) -> LoopState:
        """Load the newest intact checkpoint (rank 0 picks it, every rank reads it) and restore everything, the
        history in place."""
        picked: tuple[Path, dict[str, torch.Tensor], dict[str, Any]] | None = None
        problem: Exception | None = None
        if distributed.is_main_process():
            try:
                picked = load_newest_good(source) if source.is_dir() else (source, *read_checkpoint(source))
            except (OSError, ValueError) as err:
                problem = err
        outcome = ("error", str(problem)) if problem is not None else ("path", str(picked[0])) if picked else None
        shared = distributed.broadcast_object(outcome)
        if problem is not None:
            raise problem
        if shared[0] == "error":
            raise RuntimeError(f"rank 0: {shared[1]}")
        path, tensors, state = picked if picked is not None else (Path(shared[1]), *read_checkpoint(shared[1]))
        return self._restore(run, path, tensors, state)

    def _restore(self, run: Run, path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> LoopState:
        model, optimizer = self._classifier.model, self._classifier.optimizer
        # Every check first, so that a checkpoint that does not fit leaves the trainer untouched.
        if state.get("method") != self.method:
            raise ValueError(f"cannot resume from {path}: it was written by a {state.get('method')!r} run, "
                             f"this trainer is {self.method!r}")
        saved = state.get("signature", {})
        changed = [f"{key} was {saved.get(key)!r}, now {value!r}" for key, value in run.signature.items()
                   if saved.get(key) != value]
        if changed:
            raise ValueError(f"cannot resume from {path}: {'; '.join(changed)} (resume with the same data, "
                             "batch size and number of processes)")
        student = tensor_group(tensors, "student")
        check_compatible(student, model.state_dict(), path)
        if (state["scheduler"] is None) != (run.scheduler is None):
            had = "had a scheduler" if state["scheduler"] is not None else "had no scheduler"
            raise ValueError(f"cannot resume from {path}: that run {had}; pass the same kind of scheduler")
        parts = self._stateful_parts()
        if set(state["parts"]) != set(parts):
            raise ValueError(
                f"cannot resume from {path}: it holds {sorted(state['parts'])}, this trainer has {sorted(parts)}"
            )
        try:
            optimizer.load_state_dict(decode(state["optimizer"], tensors))
        except (ValueError, KeyError, RuntimeError) as err:
            raise ValueError(
                f"cannot resume from {path}: its optimizer state does not fit this optimizer: {err}"
            ) from err
        model.load_state_dict(student)
        if run.scheduler is not None:
            run.scheduler.load_state_dict(decode(state["scheduler"], tensors))
        for name, part in parts.items():
            part.load_state_dict(decode(state["parts"][name], tensors))
        steps, pending = tensor_group(tensors, "history/steps"), tensor_group(tensors, "history/pending")
        run.history.restore(state["history"]["meta"], state["history"]["epochs"],
                            {key: steps[key].tolist() for key in state["history"]["steps"]},
                            {key: pending[key] for key in state["history"]["pending"]}, self.device)
        saved_loop = state["loop"]
        best = None if state["best"] is None else (state["best"]["score"], state["best"]["epoch"],
                                                   tensor_group(tensors, "best"))
        restore_rng(decode(state["rng"][distributed.rank()], tensors))
        logger.info("%s: resumed from %s (epoch %d, step %d)", self.method, path, saved_loop["epoch"] + 1,
                    saved_loop["step"])
        return LoopState(saved_loop["epoch"], saved_loop["slot"], saved_loop["step"], saved_loop["data_seed"],
                         saved_loop["initial_lr"], tensors.get("order"), best)

    # ----------------------------------------------------------------- interrupts
    @contextlib.contextmanager
    def interrupts_deferred(self, enabled: bool) -> Iterator[None]:
        """While checkpointing, Ctrl-C (SIGINT) or SIGTERM finishes the current step, which is then saved.

        In one process a second Ctrl-C stops at once, unsaved. Under torchrun every rank gets the signal (from the
        terminal, and again from torchrun, which forwards it and escalates to SIGKILL after its own timeout), so
        repeats are ignored; after every step the ranks agree (one all-reduce) to stop after the same step, which
        they then save together.
        """
        self._interrupted = self._stop_agreed = False
        self._deferring = enabled and threading.current_thread() is threading.main_thread()
        if not self._deferring:
            yield
            return
        together = distributed.is_distributed()

        def request_stop(signum: int, frame: Any) -> None:
            if self._interrupted:
                if together:
                    return
                raise KeyboardInterrupt  # a second Ctrl-C stops at once, unsaved
            self._interrupted = True
            logger.warning("%s: %s; finishing this step, saving a checkpoint and stopping%s", self.method,
                           signal.Signals(signum).name, "" if together else " (Ctrl-C again stops at once, unsaved)")

        previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, STOP_SIGNALS[signum] if handler is None else handler)

    def stop_if_interrupted(self) -> None:
        """Raise ``KeyboardInterrupt`` after a completed step when this process (or, under torchrun, any rank) was
        interrupted."""
        if not self._deferring:
            return
        stop = self._interrupted
        if distributed.is_distributed():
            stop = not distributed.all_ranks_agree(not stop, self.device)
        if stop:
            self._stop_agreed = True
            raise KeyboardInterrupt

    def save_on_interrupt(self, run: Run, consistent: bool) -> None:
        if run.store is None:
            return
        if distributed.is_distributed() and not self._stop_agreed:  # one rank alone cannot save: saving is collective
            logger.warning("%s: interrupted on this rank only; the run continues from its last checkpoint in %s",
                           self.method, run.store.folder)
            return
        if not consistent:
            logger.warning("%s: interrupted inside a step; that state is not saved, the checkpoints in %s are kept",
                           self.method, run.store.folder)
            return
        try:
            self.save(run)
        except (OSError, FloatingPointError) as err:
            logger.error("%s: interrupted, and the checkpoint could not be saved: %s", self.method, err)
            return
        logger.warning("%s: interrupted after step %d; saved. Continue with fit(..., resume=%r)", self.method,
                       run.loop.step, str(run.store.folder))


def checkpoint_plan(
    checkpoint_dir: str | os.PathLike | None,
    checkpoint_every: int | None,
    keep_last: int,
    resume: str | os.PathLike | bool | None,
) -> CheckpointPlan:
    """Check the checkpoint arguments of ``fit``; a resumed run keeps saving into the folder it resumed from."""
    if checkpoint_every is not None:
        check_positive_int(checkpoint_every=checkpoint_every)
    check_positive_int(keep_last=keep_last)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume is True:
        if folder is None:
            raise ValueError("resume=True resumes from checkpoint_dir; pass checkpoint_dir too")
        source = folder if CheckpointStore(folder).paths() else None
    elif resume is None or resume is False:
        source = None
    else:
        source = Path(resume)
        if not source.exists():
            raise FileNotFoundError(f"resume: no checkpoint folder or file at {source}")
        folder = folder if folder is not None else (source if source.is_dir() else source.parent)
    if folder is None and checkpoint_every is not None:
        raise ValueError("checkpoint_every needs checkpoint_dir")
    return CheckpointPlan(folder, checkpoint_every, keep_last, source)


def check_positive_int(**values: Any) -> None:
    """Raise ``ValueError`` naming the first value that is not an integer >= 1."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
