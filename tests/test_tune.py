"""art-bmtad tune: a tiny study on digits finishes, prunes, resumes after SIGKILL, never reads the test split, and
writes a config.yaml that `art-bmtad train --config` accepts."""
from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from art_bmtad.cli import main
from art_bmtad.data.datasets import Dataset
from art_bmtad.recipes.recipe import ConfigError, load_recipe
from art_bmtad.tuning import (DEFAULT_SPACE, STUDY_FILE, Objective, TuneSettings, TuningData, best_trial, parse_space,
                              run_study, storage_url, write_report)
from art_bmtad.tuning.space import apply_values
from art_bmtad.tuning.study import STUDY_NAME

optuna = pytest.importorskip("optuna", reason="art-bmtad tune needs the 'tune' extra (pip install optuna)")
TrialState = optuna.trial.TrialState

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]
TINY = {  # the smoke preset, smaller: about a second per trial
    "data.n_train": 200, "schedule.epochs": 2, "threat.max_iter": 1,
    "teachers.robust.epochs": 1, "teachers.clean.epochs": 1,
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One teacher cache for the module: the first study trains the tiny teachers, the others reuse them."""
    return tmp_path_factory.mktemp("teachers")


def tiny_args(cache: Path) -> list[str]:
    return ["--preset", "smoke", "--pilot", "80", *[arg for key, value in TINY.items()
                                                     for arg in ("--set", f"{key}={value}")],
            "--set", f"teachers.cache_dir={cache}"]


class PruneTrial(optuna.pruners.BasePruner):
    """Prunes one trial (by number) at its first report: a deterministic prune."""

    def __init__(self, number: int) -> None:
        self.number = number

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number == self.number


class SplitTripwire:
    """Stands in for the test arrays: any use of it is recorded and fails."""

    def __init__(self, reads: list[str]) -> None:
        self._reads = reads

    def _read(self, what: str):
        self._reads.append(what)
        raise AssertionError(f"the study read the test split ({what})")

    def __getattr__(self, name):
        return self._read(name)

    def __len__(self):
        return self._read("len")

    def __getitem__(self, index):
        return self._read("getitem")

    def __array__(self, *args, **kwargs):
        return self._read("array")


def test_study_finishes_prunes_never_reads_test_data_and_its_config_trains(tmp_path, cache, monkeypatch):
    import art_bmtad.pipeline.components as components

    reads: list[str] = []
    load_data = components.load_data

    def load_data_with_tripwire(recipe):
        data = load_data(recipe)
        return dataclasses.replace(data, x_test=SplitTripwire(reads), y_test=SplitTripwire(reads))

    monkeypatch.setattr(components, "load_data", load_data_with_tripwire)
    recipe = load_recipe("smoke", overrides={**TINY, "teachers.cache_dir": str(cache), "defences": ["bmtard"]})
    settings = TuneSettings(recipe, n_trials=3, pilot_size=80)
    lines: list[str] = []
    study = run_study(settings, tmp_path, pruner=PruneTrial(1), log=lines.append)

    assert reads == []
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert study.trials[1].user_attrs["epoch"] == 1  # pruned after its first epoch, of 2
    assert study.user_attrs["data"] == {"pilot": 80, "train": 180, "val": 20}
    assert len(lines) == 4 and lines[2].startswith("trial 1 (2/3 finished) pruned: temperature_lr=")
    for trial in study.trials:  # the score is the weighted sum of the validation accuracies
        attrs = trial.user_attrs
        if trial.state == TrialState.COMPLETE:
            assert trial.value == pytest.approx(0.5 * attrs["val_clean_acc"] + 0.5 * attrs["val_pgd_acc"])
        assert set(attrs["values"]) == {r.key for r in DEFAULT_SPACE}

    written = {path.name for path in write_report(study, settings, tmp_path)}
    assert written >= {"trials.csv", "trials.md", "config.yaml", "pareto.png"}  # importance.png: when fANOVA can
    assert "- Importance" in (tmp_path / "trials.md").read_text()
    assert len((tmp_path / "trials.csv").read_text().splitlines()) == 4
    best = best_trial(study, settings.objective)
    tuned = load_recipe(config_file=tmp_path / "config.yaml")
    for key, value in best.user_attrs["values"].items():
        group, name = key.split(".")
        assert getattr(getattr(tuned, group), name) == pytest.approx(value)
    assert tuned.data.n_train == 200 and tuned.defences == ["bmtard"]  # the whole pool, not the pilot

    (tmp_path / "tune.json").write_text(json.dumps(settings.to_dict()))
    assert TuneSettings.read(tmp_path).to_dict() == settings.to_dict()
    (tmp_path / "trials.md").unlink()
    assert main(["--quiet", "tune", "--join", str(tmp_path)]) == 0  # nothing left to run: it only rewrites the outputs
    assert len(optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path)).trials) == 3
    assert "| 1 | pruned |" in (tmp_path / "trials.md").read_text()

    monkeypatch.undo()
    out = tmp_path / "tuned"
    assert main(["--quiet", "train", "--config", str(tmp_path / "config.yaml"), "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "student.safetensors").is_file()


PAUSED_AFTER_A_TRIAL = textwrap.dedent("""
    import sys, time
    from pathlib import Path

    import art_bmtad.tuning
    from art_bmtad import cli

    ready, go, write_trials_table = Path(sys.argv[1]), Path(sys.argv[2]), art_bmtad.tuning.write_trials_table

    def write_then_wait(study, settings, folder):
        write_trials_table(study, settings, folder)
        ready.touch()
        while not go.exists():  # after each finished trial, until the test says go (or kills the process)
            time.sleep(0.05)

    art_bmtad.tuning.write_trials_table = write_then_wait
    sys.exit(cli.main(sys.argv[3:]))
""")
"""``python -c PAUSED_AFTER_A_TRIAL READY GO ARGS...``: ``art-bmtad ARGS`` that touches READY after its first finished
trial and waits there until GO exists: a fixed point for a test to act at, however slowly the machine runs."""


@pytest.mark.slow  # a second Python process: about 20 s on a busy 2-core machine
def test_resume_after_sigkill_adds_the_remaining_trials_without_repeating_finished_ones(tmp_path, cache):
    run_dir, ready = tmp_path / "study", tmp_path / "paused"
    command = [sys.executable, "-c", PAUSED_AFTER_A_TRIAL, str(ready), str(tmp_path / "never"), "--quiet", "tune",
               *tiny_args(cache), "--pruner", "none", "--trials", "3", "--out", str(run_dir)]
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600  # against a hang only
        while not ready.exists():
            assert worker.poll() is None, f"the tune process ended early: {worker.stderr.read()}"
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(run_dir))
    before = {t.number: t.params for t in study.trials if t.state == TrialState.COMPLETE}
    assert len(before) == 1  # killed after its first trial, at a fixed point

    assert main(["--quiet", "tune", "--resume", str(run_dir)]) == 0
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(run_dir))
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 3
    for number, params in before.items():  # kept, not run again
        assert study.trials[number].state == TrialState.COMPLETE and study.trials[number].params == params
    assert len({tuple(sorted(t.params.items())) for t in finished}) == 3  # no finished trial repeated
    assert (run_dir / "config.yaml").is_file()


def test_pareto_study_writes_its_front(tmp_path, cache):
    recipe = load_recipe("smoke", overrides={**TINY, "teachers.cache_dir": str(cache), "schedule.epochs": 1})
    settings = TuneSettings(recipe, n_trials=2, pilot_size=80, objective=Objective("pareto", 0.5))
    study = run_study(settings, tmp_path, log=lambda line: None)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert all(len(t.values) == 2 for t in study.trials)  # clean and PGD accuracy, unpruned
    write_report(study, settings, tmp_path)
    front = sorted(p.name for p in (tmp_path / "pareto").iterdir())
    best = best_trial(study, settings.objective)
    assert f"trial_{best.number}.yaml" in front
    assert (tmp_path / "config.yaml").read_text() == (tmp_path / "pareto" / f"trial_{best.number}.yaml").read_text()


def test_tuning_data_has_no_test_split(digits):
    x, y = digits
    data = Dataset("digits", x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], tuple("0123456789"),
                   (0.3,), (0.4,))
    tuning = TuningData.from_dataset(data, 0.5, seed=0)
    assert not {"x_test", "y_test"} & {f.name for f in dataclasses.fields(TuningData)}
    pilot = tuning.pilot_dataset()
    assert len(pilot.x_train) == 100 and len(pilot.x_test) == 0 and len(tuning.teacher_dataset().x_test) == 0
    assert (pilot.x_val == data.x_val).all()
    assert sorted(set(pilot.y_train.tolist())) == list(range(10))  # stratified
    assert (TuningData.from_dataset(data, 100, seed=0).pilot == tuning.pilot).all()  # seeded
    with pytest.raises(ConfigError, match="--pilot 500"):
        TuningData.from_dataset(data, 500, seed=0)


def test_space_changes_and_t_init_kept_inside_the_temperature_range():
    space = parse_space(["schedule.lr=0.01:0.3:log", "balancing.t_init=fixed"], "bmtard")
    assert [r.key for r in space][-1] == "schedule.lr" and "balancing.t_init" not in [r.key for r in space]
    assert {r.key for r in parse_space([], "mtard")} == {"balancing.weight_lr", "balancing.kl_scale"}
    for bad, message in [("balancing.t_min=2:1", "must not exceed"), ("schedule.lr=0:1:log", "LOW > 0"),
                         ("seed", "KEY=LOW:HIGH"), ("schedule.lr=fixed", "not searched")]:
        with pytest.raises(ConfigError, match=message):
            parse_space([bad], "bmtard")
    with pytest.raises(ConfigError, match="distillation defence"):
        parse_space([], "art-madry-pgd")
    recipe, applied = apply_values(load_recipe("smoke"), {"balancing.t_min": 1.4, "balancing.t_init": 1.1})
    assert recipe.balancing.t_init == applied["balancing.t_init"] == 1.4


def test_objective_weights():
    assert Objective("weighted", 0.25).values(0.8, 0.4) == (pytest.approx(0.5),)
    assert Objective("pareto").values(0.8, 0.4) == (0.8, 0.4)
    with pytest.raises(ConfigError, match="--clean-weight"):
        Objective("weighted", 1.5)


@pytest.mark.parametrize("extra, message", [
    (["--pruner", "threshold"], "--prune-below X goes with --pruner threshold"),
    (["--space", "balancing.nope=1:2"], "balancing.nope"),
    (["--defence", "art-trades"], "distillation defence"),
    (["--pilot", "5000"], "--pilot 5000"),
])
def test_bad_settings_exit_2_before_any_work(tmp_path, cache, capsys, extra, message):
    out = tmp_path / "run"
    assert main(["tune", *tiny_args(cache), *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (out / STUDY_FILE).exists()


def test_resume_refuses_new_settings_and_out_refuses_an_earlier_run(tmp_path, capsys):
    assert main(["tune", "--resume", str(tmp_path)]) == 2
    assert "no tune.json there" in capsys.readouterr().err
    (tmp_path / "config.yaml").write_text("seed: 1\n")
    assert main(["tune", "--preset", "smoke", "--out", str(tmp_path)]) == 2
    assert "already holds a run's outputs" in capsys.readouterr().err
    assert main(["tune", "--resume", str(tmp_path), "--set", "seed=2", "--pilot", "10"]) == 2
    assert "drop --pilot, --set" in capsys.readouterr().err
