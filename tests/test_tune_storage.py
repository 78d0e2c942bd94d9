"""``tune --storage URL``: a study in any Optuna storage, shared by processes with their own run folders; refused
when the settings differ; URLs with passwords never written; the default stays the run folder's SQLite file."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from art_bmtad.cli import main
from art_bmtad.tuning import STUDY_FILE, TuneSettings
from art_bmtad.tuning.storage import resumed_storage, shown
from art_bmtad.tuning.study import STUDY_NAME
from art_bmtad.utils.errors import ConfigError
from tests.test_tune import PAUSED_AFTER_A_TRIAL, tiny_args

optuna = pytest.importorskip("optuna", reason="art-bmtad tune needs the 'tune' extra (pip install optuna)")

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("teachers")


def finished(url: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=STUDY_NAME, storage=url)
    return [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]


def test_two_run_folders_work_on_one_study_in_one_storage(tmp_path, cache, capsys):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["--quiet", "tune", *tiny_args(cache), "--pruner", "none", "--trials", "1", "--storage", url,
                 "--out", str(first)]) == 0
    assert main(["--quiet", "tune", *tiny_args(cache), "--pruner", "none", "--trials", "2", "--storage", url,
                 "--out", str(second)]) == 0
    printed = capsys.readouterr().out
    assert re.findall(r"^trial (\d+) ", printed, flags=re.MULTILINE) == ["0", "1"]  # the second ran trial 1 only
    assert [trial.number for trial in finished(url)] == [0, 1]
    assert not (first / STUDY_FILE).exists() and not (second / STUDY_FILE).exists()
    assert json.loads((second / "tune.json").read_text())["storage"] == url
    assert "| 0 |" in (second / "trials.md").read_text()  # its report holds the other folder's trial too
    settings = TuneSettings.read(first)
    assert settings.storage == url

    # another process with other settings is refused before it trains anything
    assert main(["--quiet", "tune", *tiny_args(cache), "--pruner", "none", "--pilot", "60", "--trials", "3",
                 "--storage", url, "--out", str(tmp_path / "c")]) == 2
    message = capsys.readouterr().err
    assert "created with other settings (pilot_size); use the same options" in message
    assert len(finished(url)) == 2 and not (tmp_path / "c").exists()


def test_default_storage_is_the_run_folders_sqlite_file(tmp_path, cache):
    run = tmp_path / "study"
    assert main(["--quiet", "tune", *tiny_args(cache), "--pruner", "none", "--trials", "1", "--out", str(run)]) == 0
    assert json.loads((run / "tune.json").read_text())["storage"] is None
    assert len(finished(f"sqlite:///{run / STUDY_FILE}")) == 1


@pytest.mark.slow  # two more Python processes: about 30 s on a busy 2-core machine
def test_two_processes_share_one_study_through_one_sqlite_url(tmp_path, cache):
    url = f"sqlite:///{tmp_path / 'shared.db'}"

    def start(folder: str, trials: int, *launch: str) -> subprocess.Popen:
        command = [sys.executable, *launch, "--quiet", "tune", *tiny_args(cache), "--pruner", "none",
                   "--trials", str(trials), "--storage", url, "--out", str(tmp_path / folder)]
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    ready, go = tmp_path / "first-paused", tmp_path / "go"
    first = start("a", 2, "-c", PAUSED_AFTER_A_TRIAL, str(ready), str(go))  # waits after its first trial
    second = None
    try:
        deadline = time.monotonic() + 600  # against a hang only
        while not ready.exists():
            assert first.poll() is None, f"the tune process ended early: {first.stderr.read()}"
            assert time.monotonic() < deadline, "no trial completed in time"
            time.sleep(0.1)
        second = start("b", 4, "-m", "art_bmtad")  # joins the study while the first holds; it finishes the rest
        go.touch()
        outputs = [process.communicate(timeout=600) for process in (first, second)]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
    assert [process.returncode for process in (first, second)] == [0, 0], [err for _, err in outputs]
    ran = [set(re.findall(r"^trial (\d+) ", out, flags=re.MULTILINE)) for out, _ in outputs]
    assert ran[0] and ran[1] and not ran[0] & ran[1]  # both worked on it, no trial run twice
    assert ran[0] | ran[1] == {"0", "1", "2", "3"}
    assert [trial.number for trial in finished(url)] == [0, 1, 2, 3]


def test_passwords_are_masked_and_asked_for_again(tmp_path):
    url = "postgresql://tuner:s3cret@db.example.org:5432/studies"
    assert shown(url) == "postgresql://tuner:***@db.example.org:5432/studies"
    assert shown("sqlite:////data/study.db") == "sqlite:////data/study.db"
    saved = shown(url)
    with pytest.raises(ConfigError, match="give --storage with its password again"):
        resumed_storage(saved, None, tmp_path)
    assert resumed_storage(saved, url, tmp_path) == url
    with pytest.raises(ConfigError, match="the study of .* is in postgresql://tuner:\\*\\*\\*@"):
        resumed_storage(saved, "postgresql://tuner:s3cret@other-host/studies", tmp_path)
    assert resumed_storage(None, None, tmp_path) is None
    assert resumed_storage(None, f"sqlite:///{(tmp_path / STUDY_FILE).resolve()}", tmp_path) is not None


def test_a_bad_storage_url_is_refused_before_any_work(tmp_path, cache, capsys):
    assert main(["tune", *tiny_args(cache), "--storage", "not a url", "--out", str(tmp_path / "x")]) == 2
    assert "--storage not a url: not a database URL" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
