"""Helpers of the hostile-input tests: run the CLI in-process, fingerprint folders, make small data files."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from art_bmtad import cli
from art_bmtad.data.catalog import KNOWN_DATASETS
from art_bmtad.models.classifier_files import save_classifier
from art_bmtad.pipeline.components import build_student
from art_bmtad.recipes.recipe import load_recipe
from art_bmtad.run import LOCK_FILE

SMOKE = ["--preset", "smoke", "--n-train", "300", "--epochs", "1"]
"""The smoke recipe, small: refusals must come before its (cheap) work anyway."""


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``art-bmtad --quiet ARGS`` in this process: exit status, standard output and standard error."""
    capsys.readouterr()
    code = cli.main(["--quiet", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(result: tuple[int, str, str], *culprits: str) -> str:
    """Exit status 2, one ``error:`` message naming every culprit, no traceback; return the message."""
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err, err
    message = next(line for line in err.splitlines() if ": error: " in line)
    for culprit in culprits:
        assert culprit in message, (culprit, message)
    return message


def fingerprint(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path, but the lock file (who holds the folder: not an
    output; tests that must see it untouched check it themselves)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def write_npz(path: Path, n: int = 40, **changes: np.ndarray) -> Path:
    """A valid 2-class npz of ``n`` 8x8 RGB training and test images each, with ``changes`` applied."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), "y_train": np.arange(n) % 2,
              "x_test": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), "y_test": np.arange(n) % 2}
    arrays.update(changes)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


def saved_teacher(path: Path, preset: str, nan: bool = False) -> Path:
    """A teacher checkpoint of the smoke student's architecture, for ``preset``'s images (NaN weights if asked)."""
    classifier = build_student(load_recipe("smoke"), KNOWN_DATASETS[preset], device="cpu")
    if nan:
        for parameter in classifier.model.parameters():
            parameter.data.fill_(float("nan"))
    save_classifier(classifier, path)
    return path.with_suffix(".safetensors")
