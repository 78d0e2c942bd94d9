"""One rank of the distributed test: ``torchrun --standalone --nproc_per_node 2 -m tests.distributed_worker OUT
[MODE]`` with MODE ``full`` (default), ``stop`` (crash after step 7, in epoch 2), ``sigterm`` (rank 1 sends
SIGTERM to torchrun after step 5) or ``resume``.

Trains a BatchNorm-free student with deterministic PGD (no random start) and writes this rank's final weights,
history and balancer state to ``OUT/rank<r>.safetensors`` / ``.json`` (test output; the trainer itself writes
checkpoints on rank 0 only, into ``OUT/checkpoints``).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import safetensors.torch
import torch
from art.attacks.evasion import ProjectedGradientDescentPyTorch
from sklearn.datasets import load_digits

from art_bmtad import AdversarialTrainerBMTARDPyTorch
from art_bmtad.utils import distributed
from tests.conftest import TinyConvNet, make_classifier

N_TRAIN, BATCH, EPOCHS = 128, 32, 2


class MLP(torch.nn.Module):
    """No BatchNorm: per-sample outputs do not depend on how a batch is split over processes."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(64, 32)
        self.head = torch.nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.hidden(x.flatten(1))))


def train(checkpoint_dir: Path | None = None, on_step_end: Callable[[int, int], None] | None = None
          ) -> AdversarialTrainerBMTARDPyTorch:
    """The same run in one process or in each rank of a distributed one."""
    data = load_digits()
    x, y = (data.images / 16.0).astype(np.float32)[:, None], data.target.astype(np.int64)
    torch.manual_seed(100)
    robust, clean = TinyConvNet(), TinyConvNet()
    torch.manual_seed(0)
    student = make_classifier(MLP(), lr=0.1)
    attack = ProjectedGradientDescentPyTorch(student, eps=0.1, eps_step=0.05, max_iter=2, num_random_init=0,
                                             verbose=False)
    trainer = AdversarialTrainerBMTARDPyTorch(student, robust_teacher=robust, clean_teacher=clean, attack=attack,
                                              temperature_lr=0.05, verbose=False)
    seen = trainer.training_samples_seen = []  # per training forward (the attack runs in eval mode)
    student.model.register_forward_pre_hook(lambda m, args: seen.append(len(args[0])) if m.training else None)
    if on_step_end is not None:
        trainer.on_step_end = on_step_end
    torch.manual_seed(7)
    np.random.seed(7)
    trainer.fit(x[:N_TRAIN], y[:N_TRAIN], validation_data=(x[1600:1640], y[1600:1640]), batch_size=BATCH,
                nb_epochs=EPOCHS, checkpoint_dir=checkpoint_dir,
                checkpoint_every=3 if checkpoint_dir is not None else None,
                resume=True if checkpoint_dir is not None else None)
    return trainer


def _crash(epoch: int, step: int) -> None:
    if step == 7:
        raise RuntimeError("simulated crash")


class _StopHeard(logging.Handler):
    """Set once the trainer has logged that a stop signal reached this process ("SIGTERM; finishing this step")."""

    def __init__(self) -> None:
        super().__init__()
        self.heard = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "finishing this step" in record.getMessage():
            self.heard.set()


def _terminate_launcher(epoch: int, step: int) -> None:
    """On rank 1 after step 5: SIGTERM to torchrun, which forwards it to both ranks; wait until this rank's trainer
    has taken it (not a fixed time: on a busy machine torchrun may forward it late), so both ranks stop after step
    5 whenever the other rank's copy arrives."""
    if step == 5 and distributed.rank() == 1:
        stop = _StopHeard()
        logging.getLogger("art_bmtad").addHandler(stop)
        os.kill(os.getppid(), signal.SIGTERM)
        deadline = time.monotonic() + 300
        while not stop.heard.is_set() and time.monotonic() < deadline:  # the signal handler runs between sleeps
            time.sleep(0.01)


MODES = {"full": None, "resume": None, "stop": _crash, "sigterm": _terminate_launcher}


def summary(trainer: AdversarialTrainerBMTARDPyTorch) -> dict[str, Any]:
    history = trainer.history.to_dict()
    history["epochs"] = [{k: v for k, v in e.items() if k != "time_s"} for e in history["epochs"]]
    return {"history": history, "temperatures": trainer.entropy_balance.temperatures,
            "weights": trainer.loss_balance.weights, "reference_losses": trainer.loss_balance.reference_losses,
            "training_samples_seen": sum(trainer.training_samples_seen)}


def main(out: str, mode: str = "full") -> None:
    torch.set_num_threads(1)
    with distributed.process_group_from_env() as context:  # destroyed on every exit: a crash and a stop too
        assert context is not None and context.backend == "gloo", context
        out_dir = Path(out)
        trainer = train(out_dir / "checkpoints", MODES[mode])
        state = {k: v.detach().clone().contiguous() for k, v in trainer.get_classifier().model.state_dict().items()}
        safetensors.torch.save_file(state, str(out_dir / f"rank{context.rank}.safetensors"))
        (out_dir / f"rank{context.rank}.json").write_text(json.dumps(summary(trainer)))


if __name__ == "__main__":
    main(*sys.argv[1:])
