"""Every script in examples/ runs at a tiny size, as a user would start it (a fresh interpreter, the arguments its
docstring shows), and prints what it promises. The CIFAR-10 example reads a small synthetic file in the CIFAR-10
``.npz`` layout, so it needs no download."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(script: str, *args: str, cwd: Path, cache: Path) -> str:
    env = {**os.environ, "ART_BMTAD_CACHE": str(cache)}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_every_example_is_tested() -> None:
    tested = {"quickstart.py", "third_party_plugin.py", "cifar10_benchmark.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_quickstart(tmp_path: Path) -> None:
    out = run_example("quickstart.py", "--epochs", "1", "--n-train", "200", "--threads", "1", cwd=tmp_path,
                      cache=tmp_path / "cache")
    for row in ("plain student", "clean teacher (4x wider)", "robust teacher (4x wider)", "B-MTARD student"):
        assert row in out
    assert "final temperatures robust/clean" in out


def test_third_party_plugin(tmp_path: Path) -> None:
    out = run_example("third_party_plugin.py", "--out", "bench", "--epochs", "1", "--n-train", "300",
                      "--set", "teachers.robust.epochs=1", "--set", "teachers.clean.epochs=1",
                      "--set", "evaluation.n_examples=30", cwd=tmp_path, cache=tmp_path / "cache")
    assert "**example-fgsm-at**" in out and "**bmtard**" in out
    assert (tmp_path / "bench" / "results.json").is_file()


@pytest.mark.slow
def test_cifar10_benchmark(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)  # noqa: E731
    labels = lambda n: np.arange(n) % 10  # noqa: E731
    np.savez(tmp_path / "cifar10.npz", x_train=images(120), y_train=labels(120), x_test=images(40),
             y_test=labels(40))
    out = run_example("cifar10_benchmark.py", "--data-path", str(tmp_path / "cifar10.npz"), "--out", "bench",
                      "--n-train", "100", "--epochs", "1", "--set", "defences=[bmtard]", "--set", "schedule.batch_size=32",
                      "--set", "student.model=test_resnet", "--set", "teachers.robust.model=test_resnet",
                      "--set", "teachers.clean.model=test_resnet", "--set", "teachers.robust.epochs=1",
                      "--set", "teachers.robust.milestones=[]", "--set", "teachers.clean.epochs=1",
                      "--set", "evaluation.n_examples=20", cwd=tmp_path, cache=tmp_path / "cache")
    assert "**bmtard**" in out
