"""Runs one ART attack on the examples still robust and says which of them it broke.

Every attack runs under its own seed, derived from the evaluation seed and the attack's key, so its numbers
do not depend on which other attacks ran before it; the global random states of Python, NumPy and torch are
restored afterwards. An adversarial example counts only
if it is misclassified *and* inside the threat model (eps ball and clip values), whatever the attack claims.
"""
from __future__ import annotations

import contextlib
import logging
import time
import zlib
from typing import Any, Iterator

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification import PyTorchClassifier

from art_bmtad.algorithm.adversarial import parameters_frozen
from art_bmtad.evaluation.report import AttackResult
from art_bmtad.evaluation.settings import ThreatModel
from art_bmtad.utils.determinism import seeded

logger = logging.getLogger(__name__)

_BALL_RTOL = 1e-4
_BOX_ATOL = 1e-6


@contextlib.contextmanager
def progress_bar(key: str, total: int, enabled: bool) -> Iterator[Any]:
    """A tqdm bar over ``total`` examples for attack ``key``, shown only when ``enabled`` and stderr is a terminal
    (the log line after each attack is the one line a non-terminal gets)."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=key, unit="ex", leave=False, disable=None if enabled else True) as bar:
        yield bar


class AttackRunner:
    """The evaluated examples and classifier, and the bookkeeping shared by all attacks.

    Args:
        classifier: the classifier under evaluation (its outputs must be logits).
        x: ``(N, ...)`` float32 inputs inside the clip values.
        labels: ``(N,)`` int64 class indices.
        threat: the threat model examples are checked against.
        batch_size: batch size for predictions and attacks.
        seed: the evaluation seed.
        progress: a progress bar per attack (batches done, examples still robust); on a terminal only.
    """

    def __init__(
        self,
        classifier: PyTorchClassifier,
        x: np.ndarray,
        labels: np.ndarray,
        threat: ThreatModel,
        *,
        batch_size: int,
        seed: int,
        progress: bool = False,
    ) -> None:
        self.classifier = classifier
        self.x = x
        self.labels = labels
        self.threat = threat
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress
        self.one_hot = self._one_hot(labels)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The classifier's outputs for ``x``."""
        return self.classifier.predict(x, batch_size=self.batch_size)

    def clean(self) -> AttackResult:
        """Clean accuracy, as an attack that changes nothing."""
        start = time.perf_counter()
        correct = self.logits(self.x).argmax(axis=1) == self.labels
        return AttackResult("clean", "Clean", correct, time.perf_counter() - start, len(self.x))

    def attack(
        self,
        key: str,
        attack: EvasionAttack,
        points: np.ndarray,
        *,
        targets: np.ndarray | None = None,
        threat: ThreatModel | None = None,
        in_batches: bool = True,
    ) -> tuple[np.ndarray, float]:
        """Run ``attack`` on the examples in ``points``; return the mask of those still robust, and the seconds.

        Args:
            key: the attack's key, which selects its seed.
            attack: an ART evasion attack on (a view of) the classifier.
            points: ``(N,)`` booleans, the examples to attack (normally the ones still robust).
            targets: ``(N,)`` target classes for a targeted attack; the true labels are used otherwise.
            threat: the budget the attack was given, if not the evaluation's (the sanity checks' larger eps).
            in_batches: call the attack once per batch (the progress bar moves, and shows the examples still
                robust); ``False``: one call on all examples (for attacks whose state describes the whole call).

        Returns:
            ``points`` with the examples broken by the attack removed, and the attack's wall time.
        """
        index = np.flatnonzero(points)
        robust = points.copy()
        if index.size == 0:
            return robust, 0.0
        seconds = 0.0
        with seeded(self._seed_for(key)), parameters_frozen(self.classifier.model), progress_bar(
            key, len(index), self.progress
        ) as bar:
            step = self.batch_size if in_batches else len(index)
            for start in range(0, len(index), step):
                chunk = index[start : start + step]
                y = self.one_hot[chunk] if targets is None else self._one_hot(targets[chunk])
                started = time.perf_counter()
                x_adv = attack.generate(self.x[chunk], y=y)
                seconds += time.perf_counter() - started
                wrong = self.logits(x_adv).argmax(axis=1) != self.labels[chunk]
                robust[chunk[wrong & self._inside_threat(x_adv, self.x[chunk], threat or self.threat, key)]] = False
                bar.update(len(chunk))
                bar.set_postfix_str(f"robust {int(robust[index].sum())}/{len(index)}", refresh=False)
        return robust, seconds

    def _one_hot(self, labels: np.ndarray) -> np.ndarray:
        return np.eye(self.classifier.nb_classes, dtype=np.float32)[labels]

    def _seed_for(self, key: str) -> int:
        return int(np.random.SeedSequence([self.seed, zlib.crc32(key.encode())]).generate_state(1)[0])

    def _inside_threat(self, x_adv: np.ndarray, x: np.ndarray, threat: ThreatModel, key: str) -> np.ndarray:
        """Which adversarial examples lie in the eps ball and the clip values; warns about the others."""
        delta = (x_adv - x).reshape(len(x), -1)
        size = np.abs(delta).max(axis=1) if threat.norm == "inf" else np.linalg.norm(delta, axis=1)
        low, high = self.classifier.clip_values
        flat = x_adv.reshape(len(x), -1)
        inside = (size <= threat.eps * (1 + _BALL_RTOL)) & np.all(
            (flat >= np.reshape(low, -1) - _BOX_ATOL) & (flat <= np.reshape(high, -1) + _BOX_ATOL), axis=1
        )
        if not inside.all():
            logger.warning(
                "%s: %d adversarial examples left the threat model and were not counted", key, (~inside).sum()
            )
        return inside
