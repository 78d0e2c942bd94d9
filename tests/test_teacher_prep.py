"""Teacher preparation: cache key, cache hit without training, ART robust trainers, CLI."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from art_bmtad.cli import main
from art_bmtad.data.datasets import load_dataset
from art_bmtad.models.classifier_files import load_classifier, read_metadata
from art_bmtad.pipeline import teacher_prep
from art_bmtad.pipeline.teacher_prep import TeacherConfig, prepare_teacher, resolve_cache_dir, teacher_cache_key, train_teacher

FAST = TeacherConfig(model="test_resnet", epochs=1, batch_size=32, max_iter=1, seed=0)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", n_train=64, n_test=32, val_size=0)


@pytest.fixture
def training_counter(monkeypatch):
    calls = []
    original = teacher_prep.TRAINERS["clean"]

    def counting(*args):
        calls.append(args[1])
        original(*args)

    monkeypatch.setitem(teacher_prep.TRAINERS, "clean", counting)
    return calls


def test_second_call_reuses_the_cached_teacher_without_training(tmp_path, data, training_counter):
    first = prepare_teacher(FAST, data, cache_dir=tmp_path, device="cpu", progress=False)
    second = prepare_teacher(FAST, data, cache_dir=tmp_path, device="cpu", progress=False)

    assert (first.cached, second.cached) == (False, True)
    assert len(training_counter) == 1
    assert first.key == second.key and second.path == tmp_path / first.key / "teacher.safetensors"
    np.testing.assert_array_equal(first.classifier.predict(data.x_test), second.classifier.predict(data.x_test))
    assert read_metadata(second.path)["extra"]["teacher"] == json.loads(json.dumps(dataclasses.asdict(FAST)))


def test_out_path_gets_a_loadable_copy(tmp_path, data, training_counter):
    out = tmp_path / "teachers" / "clean_digits"
    teacher = prepare_teacher(FAST, data, cache_dir=tmp_path / "cache", out=out, device="cpu", progress=False)
    assert teacher.path == out.with_suffix(".safetensors") and not teacher.cached
    reloaded = load_classifier(out.with_suffix(".json"), device="cpu")
    np.testing.assert_array_equal(reloaded.predict(data.x_test), teacher.classifier.predict(data.x_test))


def test_cache_key_covers_config_and_data(data):
    key = teacher_cache_key(FAST, data)
    assert key == teacher_cache_key(dataclasses.replace(FAST), data) and len(key) == 64
    assert key != teacher_cache_key(dataclasses.replace(FAST, lr=0.05), data)
    assert key != teacher_cache_key(dataclasses.replace(FAST, kind="madry"), data)
    changed = dataclasses.replace(data, x_train=data.x_train.copy())
    changed.x_train[0, 0, 0, 0] += 0.5
    assert key != teacher_cache_key(FAST, changed)
    relabelled = dataclasses.replace(data, y_train=np.roll(data.y_train, 1))
    assert key != teacher_cache_key(FAST, relabelled)


def test_cache_folder_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(teacher_prep.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)  # the platform's cache folder on Linux, as most users have it
    assert resolve_cache_dir() == Path.home() / ".cache" / "art-bmtad" / "teachers"
    monkeypatch.setenv(teacher_prep.CACHE_ENV, str(tmp_path))
    assert resolve_cache_dir() == tmp_path / "teachers"
    assert resolve_cache_dir(tmp_path / "mine") == tmp_path / "mine"


def test_teachers_cached_before_milestones_existed_keep_their_keys(data):
    """The key of a constant-learning-rate teacher is the hash of its fields as they were before ``milestones``."""
    fields = {k: v for k, v in dataclasses.asdict(FAST).items() if k != "milestones"}
    digest = hashlib.sha256(json.dumps({"format": teacher_prep.CACHE_FORMAT, "config": fields, "mean": data.mean,
                                        "std": data.std}, sort_keys=True).encode())
    for array in (data.x_train, data.y_train):
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    assert teacher_cache_key(FAST, data) == digest.hexdigest()
    decayed = dataclasses.replace(FAST, kind="madry", epochs=2, milestones=(1,))
    assert teacher_cache_key(decayed, data) != teacher_cache_key(dataclasses.replace(decayed, milestones=()), data)


@pytest.mark.parametrize("kind", ["madry", "trades"])
def test_milestones_decay_a_robust_teachers_learning_rate_after_those_epochs(data, kind, monkeypatch, caplog):
    config = dataclasses.replace(FAST, kind=kind, epochs=3, lr=0.05, milestones=(1, 2), eps=4 / 255)
    one_batch = dataclasses.replace(data, x_train=data.x_train[:32], y_train=data.y_train[:32])
    seen = []
    build = teacher_prep.create_classifier

    def recording_classifier(*args, **kwargs):
        classifier = build(*args, **kwargs)
        classifier.optimizer.register_step_pre_hook(lambda optimizer, *_: seen.append(optimizer.param_groups[0]["lr"]))
        return classifier

    monkeypatch.setattr(teacher_prep, "create_classifier", recording_classifier)
    with caplog.at_level(logging.INFO, logger="art_bmtad.pipeline.teacher_prep"):
        train_teacher(config, one_batch, device="cpu", progress=False)
    assert seen == pytest.approx([0.05, 0.005, 0.0005])  # one optimiser step per epoch (one batch)
    lines = [record.getMessage() for record in caplog.records if record.name == "art_bmtad.pipeline.teacher_prep"]
    assert [line.split(" (")[0] for line in lines] == [  # one line per epoch, for logs where no bar is drawn
        f"{kind} teacher {config.model}: epoch {k}/3, lr {lr:g}" for k, lr in ((1, 0.05), (2, 0.005), (3, 0.0005))]


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"kind": "fgsm"}, "unknown teacher kind 'fgsm'"), ({"kind": "madry", "augment": True}, "augment is only"),
     ({"milestones": (1,), "epochs": 3}, "milestones are for robust teachers"),
     ({"kind": "madry", "milestones": (3,), "epochs": 3}, r"milestones must be increasing epochs in \[1, epochs\)")],
)
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(FAST, **changes)


def test_clean_training_lowers_the_training_loss(data):
    config = dataclasses.replace(FAST, epochs=5, batch_size=16, lr=0.05)
    torch.manual_seed(config.seed)
    initial = teacher_prep.create_classifier(config.model, dataset=data, device="cpu")
    trained = train_teacher(config, data, device="cpu", progress=False)
    one_hot = np.eye(10, dtype=np.float32)[data.y_train]
    initial_loss = initial.compute_loss(data.x_train, one_hot, reduction="mean")
    assert trained.compute_loss(data.x_train, one_hot, reduction="mean") < 0.6 * initial_loss
    assert (trained.predict(data.x_train).argmax(1) == data.y_train).mean() > 0.5


def test_augment_changes_what_the_clean_teacher_sees(data):
    plain = train_teacher(FAST, data, device="cpu", progress=False)
    augmented = train_teacher(dataclasses.replace(FAST, augment=True), data, device="cpu", progress=False)
    again = train_teacher(dataclasses.replace(FAST, augment=True), data, device="cpu", progress=False)
    assert not np.allclose(plain.predict(data.x_test), augmented.predict(data.x_test))
    np.testing.assert_array_equal(augmented.predict(data.x_test), again.predict(data.x_test))  # seeded


@pytest.mark.parametrize("kind", ["madry", "trades"])
def test_robust_teachers_train_with_art(data, kind):
    config = dataclasses.replace(FAST, kind=kind, eps=4 / 255, eps_step=2 / 255)
    torch.manual_seed(config.seed)
    initial = teacher_prep.create_classifier(config.model, dataset=data).model.state_dict()
    one_batch = dataclasses.replace(data, x_train=data.x_train[:32], y_train=data.y_train[:32])
    teacher = train_teacher(config, one_batch, device="cpu", progress=False)
    assert not teacher.model.training
    changed = [key for key, value in teacher.model.state_dict().items() if not torch.equal(value, initial[key])]
    assert "fc.weight" in changed and "conv1.0.weight" in changed
    assert teacher.predict(data.x_test).shape == (32, 10)


def test_cli_trains_then_reuses(tmp_path, capsys):
    args = [
        "teachers", "--model", "test_resnet", "--epochs", "1", "--batch-size", "32", "--n-train", "64",
        "--val-size", "0", "--cache-dir", str(tmp_path), "--device", "cpu", "--out", str(tmp_path / "t"),
    ]
    assert main(["--quiet", *args]) == 0
    assert "clean teacher test_resnet trained" in capsys.readouterr().out
    assert main(["--quiet", *args]) == 0
    assert "reused from cache" in capsys.readouterr().out
    assert (tmp_path / "t.safetensors").is_file() and (tmp_path / "t.json").is_file()


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["teachers", "--help"])
    text = capsys.readouterr().out
    options = ["--model", "--data", "--data-path", "--kind", "--epochs", "--batch-size", "--lr", "--eps", "--eps-step",
               "--max-iter", "--beta", "--out", "--cache-dir", "--n-train", "--seed", "--device", "--threads"]
    for option in options:
        assert f"  {option} " in text  # listed with its own help line
    assert "AdversarialTrainerMadryPGD" in text and "AdversarialTrainerTRADESPyTorch" in text


@pytest.mark.parametrize("margin, strong", [(-1.0, True), (1.0, False)])
def test_robust_teacher_is_judged_against_the_student_architecture(tmp_path, margin, strong):
    data = load_dataset("digits", n_train=96, n_test=32, val_size=32)
    config = dataclasses.replace(FAST, kind="madry", eps=0.1, eps_step=0.05, max_iter=2)
    teacher = prepare_teacher(config, data, cache_dir=tmp_path, device="cpu", progress=False)
    verdict = teacher_prep.assess_robust_teacher(teacher.classifier, config, data, student_model="test_resnet",
                                                 student_epochs=1, margin=margin, cache_dir=tmp_path, device="cpu",
                                                 progress=False)
    assert verdict.strong_enough is strong
    assert 0.0 <= verdict.teacher_pgd_acc <= verdict.teacher_clean_acc + 1e-9
    assert ("LIKELY TOO WEAK" in verdict.summary) is not strong
    alone = teacher_prep.assess_robust_teacher(teacher.classifier, config, data, device="cpu", progress=False)
    assert alone.strong_enough is None and alone.baseline_pgd_acc is None
    assert alone.teacher_pgd_acc == pytest.approx(verdict.teacher_pgd_acc)  # seeded attack, same numbers


def test_cli_reports_robust_teacher_strength(tmp_path, capsys):
    args = ["teachers", "--model", "test_resnet", "--kind", "madry", "--epochs", "1", "--batch-size", "32",
            "--n-train", "96", "--val-size", "32", "--max-iter", "1", "--cache-dir", str(tmp_path), "--device", "cpu",
            "--compare-student", "test_resnet", "--compare-epochs", "1"]
    assert main(["--quiet", *args]) == 0
    out = capsys.readouterr().out
    assert "robust teacher: clean" in out and ("likely strong enough" in out or "LIKELY TOO WEAK" in out)


def test_the_student_baseline_follows_the_teachers_schedule_scaled_to_its_epochs(tmp_path, monkeypatch):
    assert teacher_prep.scaled_milestones((9,), 12, 4) == (3,)
    assert teacher_prep.scaled_milestones((6, 9), 12, 2) == (1,)  # 6 -> 1; 9 -> 2, the last epoch: dropped
    assert teacher_prep.scaled_milestones((1,), 12, 4) == ()  # round(1/3) = 0: before the first epoch, dropped
    data = load_dataset("digits", n_train=96, n_test=32, val_size=32)
    teacher_config = dataclasses.replace(FAST, kind="madry", epochs=3, milestones=(2,), eps=0.1, eps_step=0.05,
                                         max_iter=1)
    teacher = prepare_teacher(teacher_config, data, cache_dir=tmp_path, device="cpu", progress=False)
    asked = []
    monkeypatch.setattr(teacher_prep, "prepare_teacher",
                        lambda config, *args, **kwargs: asked.append(config) or teacher)
    teacher_prep.assess_robust_teacher(teacher.classifier, teacher_config, data, student_model="test_resnet",
                                       student_epochs=2, cache_dir=tmp_path, device="cpu", progress=False)
    assert [(c.model, c.kind, c.epochs, c.milestones) for c in asked] == [("test_resnet", "madry", 2, (1,))]
