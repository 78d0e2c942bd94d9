"""Checkpoints: safe loading (no pickle), unwrapping, strict keys, sha256, atomic save, round trip."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from art_bmtad.models.classifier_files import load_classifier, load_state_dict, load_weights, read_metadata, save_classifier
from art_bmtad_timm import timm_classifier


def _record_execution(marker: str) -> None:
    """What the malicious pickle would run: leaves a file behind as evidence."""
    Path(marker).write_text("executed")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return _record_execution, (self.marker,)


class _CustomState:
    """An innocent custom class: still needs pickle to be rebuilt."""

    def __init__(self):
        self.epoch = 3


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 3)


@pytest.fixture
def tiny() -> _Tiny:
    torch.manual_seed(0)
    return _Tiny()


@pytest.fixture
def state(tiny) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in tiny.state_dict().items()}


def _digits_input(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 8, 8), dtype=np.float32)


def _assert_same_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("target", ["student.safetensors", "student.json", "."])
def test_round_trip_gives_identical_predictions(tmp_path, target):
    classifier = timm_classifier("test_resnet", dataset="digits", device="cpu")
    classifier.fit(_digits_input(8), np.arange(8), nb_epochs=1, batch_size=8)  # moves BN statistics off init
    classifier.model.eval()
    saved = save_classifier(classifier, tmp_path / "student", epochs=1)
    assert saved == tmp_path / "student.safetensors"

    loaded = load_classifier(tmp_path / target, device="cpu")

    np.testing.assert_array_equal(loaded.predict(_digits_input()), classifier.predict(_digits_input()))
    assert loaded.nb_classes == 10 and loaded.input_shape == (1, 8, 8)


def test_metadata_and_cifar_stem_survive_the_round_trip(tmp_path):
    classifier = timm_classifier("test_resnet", dataset="cifar10", cifar_stem=True, drop_rate=0.1)
    save_classifier(classifier, tmp_path / "teacher.safetensors", note="hello")

    meta = json.loads((tmp_path / "teacher.json").read_text())
    assert meta["name"] == "timm/test_resnet" and meta["num_classes"] == 10 and meta["input_shape"] == [3, 32, 32]
    assert meta["mean"] == [0.4914, 0.4822, 0.4465] and meta["std"] == [0.2470, 0.2435, 0.2616]
    assert "cifar_stem" not in meta and meta["model_kwargs"] == {"cifar_stem": True, "drop_rate": 0.1}
    assert meta["extra"] == {"note": "hello"} and meta["art_bmtad_version"]

    loaded = load_classifier(tmp_path / "teacher.safetensors")
    assert isinstance(loaded.model.maxpool, nn.Identity) and loaded.model.conv1[0].stride == (1, 1)
    assert loaded.model.drop_rate == 0.1


def test_save_of_a_plain_module_needs_metadata(tmp_path, tiny):
    with pytest.raises(ValueError, match=r"\['num_classes', 'input_shape', 'mean', 'std'\]"):
        save_classifier(tiny, tmp_path / "m")
    save_classifier(tiny, tmp_path / "m", nb_classes=3, input_shape=(1, 8, 8), mean=(0.5,), std=(0.25,))
    assert read_metadata(tmp_path / "m.safetensors")["name"] is None
    with pytest.raises(ValueError, match="names no architecture"):
        load_classifier(tmp_path / "m.safetensors")


def test_pickle_payload_is_refused_and_not_executed(tmp_path, state):
    marker = tmp_path / "executed.txt"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": state, "hook": _Payload(marker)}, path)

    with pytest.raises(ValueError, match=r"refused to load .*evil\.pt.*_record_execution.*not unpickled"):
        load_state_dict(path)
    assert not marker.exists()

    # control: the file really is a code-execution payload when unpickled the unsafe way
    torch.load(path, weights_only=False)
    assert marker.read_text() == "executed"


def test_custom_class_in_checkpoint_is_refused(tmp_path, state):
    path = tmp_path / "custom.pth"
    torch.save({"model": state, "meta": _CustomState()}, path)
    with pytest.raises(ValueError, match=r"refused to load .*custom\.pth.*_CustomState"):
        load_state_dict(path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_file_gives_a_clear_error(tmp_path, state, suffix):
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        safetensors.torch.save_file(state, str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"cannot read .*weights\{suffix}.*truncated or corrupt"):
        load_state_dict(path)


def test_missing_file_and_unsupported_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_state_dict(tmp_path / "nothing.pt")
    (tmp_path / "weights.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported checkpoint type 'weights.npz'"):
        load_state_dict(tmp_path / "weights.npz")


def _prefixed(state, prefix):
    return {prefix + key: value for key, value in state.items()}


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: {"state_dict": s, "epoch": 7, "best_acc": 0.91},
        lambda s: {"model": s, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}},
        lambda s: {"model_state_dict": s},
        lambda s: {"net": s},
        lambda s: {"state_dict": _prefixed(s, "module.")},
        lambda s: _prefixed(s, "_orig_mod."),
        lambda s: {"last": {"state_dict": _prefixed(s, "module.")}, "best": {}},  # RobustBench (Kireev2021...)
        lambda s: {"state_dict": _prefixed(s, "model.")},  # RobustBench (Chen2020Efficient): normaliser wrapper
    ],
    ids=["plain", "state_dict", "model", "model_state_dict", "net", "module", "compiled", "rb_last", "rb_model"],
)
def test_wrappers_and_prefixes_are_unwrapped(tmp_path, state, wrap):
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(state), path)
    fresh = _Tiny()
    load_weights(fresh, path)
    _assert_same_weights(fresh, state)


def test_checkpoint_without_state_dict_names_its_entries(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"epoch": 3, "weights": [torch.zeros(2)]}, path)
    with pytest.raises(ValueError, match=r"holds no state dict: entries \['epoch', 'weights'\]"):
        load_state_dict(path)


def test_key_mismatch_lists_missing_and_unexpected_keys(tmp_path, state):
    state = dict(state)
    del state["fc.bias"]
    state["head.weight"] = torch.zeros(3, 2)
    path = tmp_path / "mismatch.safetensors"
    safetensors.torch.save_file(state, str(path))
    model = _Tiny()
    before = {key: value.clone() for key, value in model.state_dict().items()}

    with pytest.raises(ValueError, match=r"missing keys \(1\): fc\.bias; unexpected keys \(1\): head\.weight"):
        load_weights(model, path)
    _assert_same_weights(model, before)  # no silent partial load


def test_shape_mismatch_is_named(tmp_path, state):
    state = dict(state, **{"fc.weight": torch.zeros(5, 2)})
    path = tmp_path / "shape.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"fc\.weight: checkpoint \(5, 2\) vs model \(3, 2\)"):
        load_weights(_Tiny(), path)


def test_sha256_is_verified(tmp_path, state):
    path = tmp_path / "weights.safetensors"
    safetensors.torch.save_file(state, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_state_dict(path, sha256=digest.upper()).keys() == state.keys()
    with pytest.raises(ValueError, match=f"sha256 mismatch for .*weights.safetensors: expected 0{{64}}, got {digest}"):
        load_state_dict(path, sha256="0" * 64)


def test_failed_save_leaves_the_earlier_files_intact(tmp_path, monkeypatch):
    classifier = timm_classifier("test_resnet", dataset="digits")
    save_classifier(classifier, tmp_path / "student")
    good = {name: (tmp_path / name).read_bytes() for name in ("student.safetensors", "student.json")}

    def failing_save(tensors, metadata=None):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save", failing_save)
    with torch.no_grad():
        classifier.model.fc.weight.zero_()
    with pytest.raises(OSError, match="disk full"):
        save_classifier(classifier, tmp_path / "student", note="second attempt")

    assert {path.name for path in tmp_path.iterdir()} == set(good)  # no temporary files left
    assert {name: (tmp_path / name).read_bytes() for name in good} == good
    monkeypatch.undo()
    assert not torch.equal(load_classifier(tmp_path).model.fc.weight, classifier.model.fc.weight)


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe not text", "is not valid JSON"),
    (b"{\"name\": ", "is not valid JSON"),
    (b"[1, 2]", "does not hold a JSON object|is not an art-bmtad checkpoint description"),
    (b"{\"format\": \"something-else\"}", "is not an art-bmtad checkpoint description"),
])
def test_a_damaged_or_foreign_description_is_named(tmp_path, content, message):
    (tmp_path / "m.json").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_metadata(tmp_path / "m.safetensors")
    with pytest.raises(FileNotFoundError, match="checkpoint metadata not found"):
        read_metadata(tmp_path / "other.safetensors")
