"""The timm zoo: ModelCfg from pretrained_cfg, pretrained weights offline from a local file or a local Hugging Face
cache (timm's own published layout), a pickle payload refused, normalisation placed by the front door."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import torch

from art_bmtad.models.classifier import create_classifier, model_spec
from art_bmtad.models.zoo import MissingWeightsError
from art_bmtad.registry import model_cfg
from art_bmtad.testing import WritesEvidence
from art_bmtad_timm import zoo

HUB_ID = "timm/test_resnet.r160_in1k"  # test_resnet's default pretrained tag


@pytest.fixture(scope="module")
def published() -> dict[str, torch.Tensor]:
    """test_resnet's weights as timm publishes them: 1000 ImageNet classes, timm's own key names."""
    torch.manual_seed(0)
    return timm.create_model("test_resnet").state_dict()


def _hub_cache(root: Path, state: dict[str, torch.Tensor], revision: str = "0123abcd") -> Path:
    """A Hugging Face hub cache holding HUB_ID's model.safetensors, laid out as huggingface_hub writes it."""
    repo = root / f"models--{HUB_ID.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    safetensors.torch.save_file(state, str(snapshot / "model.safetensors"))
    return snapshot / "model.safetensors"


def _same(module: torch.nn.Module, state: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> bool:
    loaded = module.state_dict()
    return loaded.keys() == state.keys() and all(
        torch.equal(loaded[key], value) for key, value in state.items() if not key.startswith(skip))


def test_model_cfg_comes_from_timms_pretrained_cfg():
    cfg = model_cfg("timm/resnet18")
    assert (cfg.num_classes, cfg.input_size, cfg.dataset) == (1000, (3, 224, 224), "imagenet")
    assert (cfg.mean, cfg.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert cfg.weights.endswith("models--timm--resnet18.a1_in1k")
    with pytest.raises(KeyError):
        zoo.model_cfg("no_such_model")


def test_pretrained_from_a_local_safetensors_file(tmp_path, published):
    path = tmp_path / "test_resnet.safetensors"
    safetensors.torch.save_file(published, str(path))
    assert _same(zoo.create("test_resnet", pretrained=True, weights=path), published)
    ten = zoo.create("test_resnet", pretrained=True, weights=path, num_classes=10)  # timm's new head
    assert ten.fc.weight.shape == (10, ten.fc.in_features)
    assert _same(ten, {k: v for k, v in published.items() if not k.startswith("fc.")} | ten.fc.state_dict(
        prefix="fc."), skip=("fc.",))


def test_pretrained_from_a_local_hugging_face_cache(tmp_path, published, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    file = _hub_cache(tmp_path, published)
    assert zoo.find_weights("test_resnet", tmp_path) == file
    assert _same(zoo.create("test_resnet", pretrained=True, weights=tmp_path), published)


def test_missing_weights_name_the_file_and_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match=rf"model.safetensors or pytorch_model.bin of {HUB_ID} in the "
                                                  rf"Hugging Face cache folder {tmp_path}/models--timm--test_resnet"):
        zoo.create("test_resnet", pretrained=True, weights=tmp_path)
    with pytest.raises(MissingWeightsError, match=f"weight file {tmp_path}/gone.pth not found"):
        zoo.find_weights("test_resnet", tmp_path / "gone.pth")


def test_a_pickle_payload_is_refused_and_not_executed(tmp_path, published):
    marker, path = tmp_path / "executed.txt", tmp_path / "evil.pth"
    torch.save({"state_dict": published, "hook": WritesEvidence(marker)}, path)
    with pytest.raises(ValueError, match="refused to load"):
        zoo.create("test_resnet", pretrained=True, weights=path)
    assert not marker.exists()


def test_the_front_door_puts_timms_normalisation_in_the_classifier(tmp_path, published):
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file(published, str(path))
    classifier = create_classifier("timm/test_resnet", dataset="cifar10", num_classes=10, pretrained=True,
                                   weights=path, device="cpu")
    spec = model_spec(classifier)
    assert (spec.mean, spec.std, spec.input_shape) == ((0.5,) * 3, (0.5,) * 3, (3, 32, 32))  # timm's, not CIFAR's
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    raw = torch.from_numpy(x).requires_grad_(True)
    model = classifier.model.eval()
    torch.nn.functional.cross_entropy(model((raw - 0.5) / 0.5), torch.tensor([1, 2])).backward()
    gradient = classifier.loss_gradient(x, np.eye(10, dtype=np.float32)[[1, 2]])
    np.testing.assert_allclose(gradient, raw.grad.numpy(), rtol=1e-4, atol=1e-7)  # w.r.t. raw [0, 1] pixels
