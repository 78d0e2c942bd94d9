"""The CLI answers at once: help, ``plugins`` and ``report`` import none of torch, ART, timm, SciPy, scikit-learn,
NumPy (each checked in a fresh interpreter, the way a user's shell runs it)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from art_bmtad import cli

HEAVY = ("torch", "torchvision", "timm", "art", "scipy", "sklearn", "numpy", "optuna", "onnx")
"""Packages that take seconds to import; none may load before the command line is parsed."""
HELP_CASES = [["--help"], ["--version"], *([name, "--help"] for name in cli.COMMANDS)]


def imported_after(calls: list[list[str]]) -> tuple[dict[str, list[str]], str]:
    """Run ``cli.main`` on each argv in turn in one fresh interpreter; the heavy packages loaded after each, and
    the standard output."""
    script = textwrap.dedent(f"""
        import json, sys
        from art_bmtad import cli
        heavy, found = {HEAVY!r}, {{}}
        for argv in {calls!r}:
            try:
                cli.main(argv)
            except SystemExit:
                pass
            found[" ".join(argv)] = [name for name in heavy if name in sys.modules]
        sys.__stderr__.write("IMPORTED=" + json.dumps(found) + "\\n")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    line = next(line for line in done.stderr.splitlines() if line.startswith("IMPORTED="))
    return json.loads(line.removeprefix("IMPORTED=")), done.stdout


def test_help_and_version_of_every_command_import_nothing_heavy() -> None:
    found, _ = imported_after(HELP_CASES)
    assert found == {" ".join(argv): [] for argv in HELP_CASES}


def test_plugins_lists_the_builtin_plugins_without_torch_or_art() -> None:
    found, out = imported_after([["plugins"]])
    assert "art-madry-pgd" in out and "bmtard" in out and "digits" in out
    assert found == {"plugins": []}


def minimal_results() -> dict:
    """A results.json document with one teacher and one defence, as ``bench`` writes it (fields the table reads)."""
    report = {"attacks": []}
    accuracy = {"clean": 0.9, "pgd20": 0.5, "autoattack": 0.4, "worst_case": 0.4}
    return {
        "format": "art-bmtad-bench/1", "created": "2026-01-01T00:00:00+00:00", "wall_seconds": 12.0, "seed": 0,
        "config": {"preset": "smoke", "data": {"source": "digits", "n_train": None, "val_size": 0.1},
                   "student": {"model": "test_resnet", "cifar_stem": False},
                   "schedule": {"epochs": 2, "batch_size": 64, "lr": 0.1, "milestones": [1], "augment": False},
                   "threat": {"eps": 0.1, "eps_step": 0.025, "max_iter": 5}},
        "environment": {"versions": {}, "device": {"type": "cpu", "name": "x86_64", "cpu_count": 2,
                                                   "torch_threads": 2}, "load_average": [1.0], "processes": 1},
        "evaluation": {"threat_model": {"norm": "inf", "eps": 0.1, "eps_label": "0.1"}, "n_examples": 100,
                       "batch_size": 64, "autoattack": "standard", "backend": "art", "budget": "fast",
                       "settings": {}, "non_standard": [],
                       "labels": {"clean": "Clean", "pgd20": "PGD-20", "autoattack": "AutoAttack (standard)",
                                  "worst_case": "Worst case"}},
        "teachers": [{"role": "robust", "model": "test_resnet", "kind": "madry", "source": "trained",
                      "prepare_seconds": 5.0, "accuracy": {"clean": 0.95, "pgd20": 0.6}, "mean_entropy": 0.2}],
        "defences": [{"name": "art-madry-pgd", "accuracy": accuracy, "sanity_passed": True, "failed_checks": [],
                      "train_seconds": 4.0, "seconds_per_epoch": 2.0, "wall_seconds": 5.0, "epochs": 2,
                      "selected_epoch": 2, "selection": "epoch 2 of 2", "peak_memory_mib": 100.0,
                      "memory_kind": "process_peak_rss", "notes": [], "processes": 1, "report": report,
                      "history": "art-madry-pgd/history.json", "checkpoint": "art-madry-pgd/student.safetensors",
                      "options": {"eps": 0.1}, "augmentation": "none"}],
    }


def test_report_re_renders_a_run_without_torch_art_or_scipy(tmp_path: Path) -> None:
    """Report draws its plots with matplotlib, which needs NumPy; nothing else heavy may load."""
    (tmp_path / "results.json").write_text(json.dumps(minimal_results()))
    found, out = imported_after([["report", str(tmp_path)]])
    assert "| **art-madry-pgd** | 90.0 |" in out
    assert (tmp_path / "results.md").is_file() and (tmp_path / "tradeoff.png").is_file()
    assert [name for name in found[f"report {tmp_path}"] if name != "numpy"] == []
