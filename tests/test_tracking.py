"""Run tracking: the per-step history, the per-epoch validation, the evaluation and the recipe, written to
TensorBoard event files and an MLflow store and read back; ``--log`` on train and bench; the plugin hook; clear
refusals of unknown or missing backends before any work."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from art_bmtad import cli
from art_bmtad.registry import list_plugins, list_trackers
from art_bmtad.tracking import RunTracker, open_tracking
from art_bmtad.tracking.run_tracker import flatten, metric_name
from tests.training_runs import STEPS_PER_EPOCH, fit, make_trainer

tensorboard = pytest.importorskip("tensorboard", reason="needs the 'tensorboard' extra")
mlflow = pytest.importorskip("mlflow", reason="needs the 'mlflow' extra")
from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_TRAIN = ["--preset", "smoke", "--set", "data.n_train=200", "--set", "schedule.epochs=2",
              "--set", "schedule.batch_size=64", "--set", "threat.max_iter=1", "--set", "teachers.robust.epochs=1",
              "--set", "teachers.clean.epochs=1"]


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator: EventAccumulator, tag: str) -> tuple[list[int], np.ndarray]:
    points = accumulator.Scalars(tag)
    return [point.step for point in points], np.array([point.value for point in points])


def mlflow_run(uri: str, name: str):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("art-bmtad")
    (run,) = [run for run in client.search_runs([experiment.experiment_id]) if run.info.run_name == name]
    return client, run


def history_of(client: MlflowClient, run, key: str) -> tuple[list[int], np.ndarray]:
    points = sorted(client.get_metric_history(run.info.run_id, key), key=lambda metric: metric.step)
    return [point.step for point in points], np.array([point.value for point in points])


@pytest.fixture(autouse=True)
def no_tracking_server(monkeypatch):
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(variable, raising=False)


def test_python_api_follows_a_trainer_into_tensorboard_and_an_mlflow_file_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())  # MLflow's local file store
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    trainer, scheduler = make_trainer("bmtard")
    seen_by_the_trainers_own_callback = []
    trainer.on_epoch_end = seen_by_the_trainers_own_callback.append
    with open_tracking(["tensorboard", "mlflow"], tmp_path, "bmtard") as tracker:
        tracker.log_params({"schedule": {"epochs": 3, "milestones": [2]}, "method": "bmtard"})
        tracker.follow(trainer)
        fit(trainer, scheduler)
        tracker.log_evaluation({"robust_accuracy": {"clean": 0.75, "pgd20": 0.25}, "worst_case_accuracy": 0.2},
                               step=3)
    history = trainer.history
    assert len(seen_by_the_trainers_own_callback) == 3  # the trainer's own callback still runs
    keys = [key for key in history.steps if key.startswith(("temperature", "weight", "entropy"))]
    assert keys, f"B-MTARD records its temperatures, weights and entropies: {list(history.steps)}"
    n_steps = 3 * STEPS_PER_EPOCH

    board = events(tmp_path / "tensorboard" / "bmtard")
    for key in ["loss", *keys]:
        steps, values = scalars(board, metric_name("train/", key))
        assert steps == list(range(1, n_steps + 1))
        np.testing.assert_allclose(values, history.steps[key], rtol=1e-6)  # TensorBoard keeps float32
    steps, values = scalars(board, "epoch/val_clean_acc")
    assert steps == [1, 2, 3]
    np.testing.assert_allclose(values, [epoch["val_clean_acc"] for epoch in history.epochs], rtol=1e-6)
    assert scalars(board, "eval/w_robust_pgd20") == ([3], pytest.approx([0.5]))
    params = board.Tensors("params/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| schedule.milestones | [2] |" in params and "| method | bmtard |" in params

    client, run = mlflow_run((tmp_path / "mlruns").as_uri(), "bmtard")
    assert run.data.params == {"schedule.epochs": "3", "schedule.milestones": "[2]", "method": "bmtard"}
    for key in ["loss", *keys]:
        steps, values = history_of(client, run, metric_name("train/", key))
        assert steps == list(range(1, n_steps + 1))
        np.testing.assert_allclose(values, history.steps[key])
    assert history_of(client, run, "epoch/val_pgd_acc")[1].tolist() == [e["val_pgd_acc"] for e in history.epochs]
    assert run.data.metrics["eval/clean"] == 0.75 and run.data.metrics["eval/worst_case"] == 0.2
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_log_history_logs_only_what_is_new():
    class Recording:
        def __init__(self):
            self.calls = []

        def log_params(self, params):
            pass

        def log_metrics(self, metrics, step):
            self.calls.append((step, dict(metrics)))

        def flush(self):
            pass

        def close(self):
            pass

    from art_bmtad.trainers.history import History

    history, backend = History(), Recording()
    history.steps.update({"loss": [1.0, 0.5]})
    history.epochs.append({"epoch": 1, "loss": 0.75, "note": "text"})
    tracker = RunTracker([backend])
    tracker.log_history(history)
    tracker.log_history(history)  # nothing new: nothing logged twice
    history.steps["loss"].append(0.25)
    tracker.log_history(history)
    assert backend.calls == [(1, {"train/loss": 1.0}), (2, {"train/loss": 0.5}), (1, {"epoch/loss": 0.75}),
                             (3, {"train/loss": 0.25})]
    assert flatten({"a": {"b": 1, "c": None}, "d": (1, 2)}) == {"a.b": 1, "a.c": None, "d": "[1, 2]"}
    assert metric_name("train/", "loss/robust") == "train/loss.robust"
    assert not RunTracker()  # no backend: every call is a no-op


def test_train_with_log_writes_both_backends_in_the_run_folder(tmp_path):
    run = tmp_path / "run"
    assert cli.main(["--quiet", "train", *TINY_TRAIN, "--set", f"teachers.cache_dir={tmp_path / 'cache'}",
                     "--log", "tensorboard,mlflow", "--out", str(run)]) == 0
    import json

    history = json.loads((run / "history.json").read_text())
    n_steps = len(history["steps"]["loss"])
    board = events(run / "tensorboard" / "bmtard")
    steps, values = scalars(board, "train/loss")
    assert steps == list(range(1, n_steps + 1)) and n_steps == 2 * 3  # 2 epochs of 180 images in batches of 64
    np.testing.assert_allclose(values, history["steps"]["loss"], rtol=1e-6)
    assert scalars(board, "epoch/val_pgd_acc")[0] == [1, 2]
    client, tracked = mlflow_run(f"sqlite:///{run / 'mlflow.db'}", "bmtard")
    assert tracked.data.params["defence"] == "bmtard" and tracked.data.params["schedule.epochs"] == "2"
    assert tracked.data.params["threat.max_iter"] == "1"
    np.testing.assert_allclose(history_of(client, tracked, "train/loss")[1], history["steps"]["loss"])


@pytest.mark.slow  # a whole benchmark: teachers, one defence, its evaluation
def test_bench_with_log_records_each_defences_evaluation(tmp_path):
    run = tmp_path / "bench"
    from tests.conftest import TINY_BENCH

    assert cli.main(["--quiet", "bench", "--preset", "smoke", *TINY_BENCH, "--set",
                     f"teachers.cache_dir={tmp_path / 'cache'}", "--defences", "plain", "--log", "mlflow",
                     "--out", str(run)]) == 0
    import json

    results = json.loads((run / "results.json").read_text())
    (row,) = results["defences"]
    client, tracked = mlflow_run(f"sqlite:///{run / 'mlflow.db'}", "plain")
    assert tracked.data.metrics["eval/clean"] == pytest.approx(row["accuracy"]["clean"])
    assert tracked.data.metrics["eval/worst_case"] == pytest.approx(row["accuracy"]["worst_case"])
    assert history_of(client, tracked, "epoch/val_clean_acc")[0] == [1]  # epoch-wise defences: logged at the end


def test_tune_with_log_tracks_each_trial(tmp_path):
    pytest.importorskip("optuna", reason="art-bmtad tune needs the 'tune' extra")
    from tests.test_tune import tiny_args

    run = tmp_path / "study"
    assert cli.main(["--quiet", "tune", *tiny_args(tmp_path / "cache"), "--pruner", "none", "--trials", "2",
                     "--log", "tensorboard", "--out", str(run)]) == 0
    for number in (0, 1):
        board = events(run / "tensorboard" / f"trial-{number}")
        assert scalars(board, "train/loss")[0][0] == 1 and scalars(board, "epoch/val_pgd_acc")[0] == [1, 2]
        (step,), (score,) = scalars(board, "trial/score")
        assert 0 <= score <= 1 and step in (1, 2)
        params = board.Tensors("params/text_summary")[0].tensor_proto.string_val[0].decode()
        assert f"| trial | {number} |" in params and "| balancing.temperature_lr |" in params


def test_unknown_or_missing_backends_stop_before_any_work(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", *TINY_TRAIN, "--log", "wandb", "--out", str(run)]) == 2
    assert "unknown tracker 'wandb'; known trackers: mlflow, tensorboard" in capsys.readouterr().err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert cli.main(["bench", *TINY_TRAIN, "--log", "mlflow", "--out", str(run)]) == 2
    assert "--log mlflow needs the mlflow package: pip install 'art-bmtad[mlflow]'" in capsys.readouterr().err
    assert not run.exists()


def test_the_built_in_trackers_register_through_the_plugin_hook():
    assert list_trackers() == ["mlflow", "tensorboard"]
    (plugin,) = [info for info in list_plugins() if info.source.name == "trackers"]
    assert plugin.source.builtin and plugin.registers["trackers"] == ["mlflow", "tensorboard"]
