"""The documentation site builds with ``mkdocs build --strict``: a broken link, a page missing from the nav, a
missing API reference target or a snippet that is not found fails the build (the docs extra: ``make docs``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra (pip install -e '.[docs]') is not installed")
    pytest.importorskip("mkdocstrings", reason="the docs extra (pip install -e '.[docs]') is not installed")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    assert (tmp_path / "site" / "reference" / "trainers" / "index.html").is_file()
    api = (tmp_path / "site" / "reference" / "trainers" / "index.html").read_text(encoding="utf-8")
    assert "AdversarialTrainerBMTARDPyTorch" in api and "temperature_lr" in api
