"""The front door (create_classifier) through the timm adapter: shapes, normalisation inside the classifier,
CIFAR stem, devices."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from art_bmtad.models.classifier import model_spec
from art_bmtad.utils.device import art_device_type, resolve_device
from art_bmtad_timm import apply_cifar_stem, timm_classifier


@pytest.mark.parametrize(
    ("name", "dataset", "kwargs"),
    [("test_resnet", "digits", {}), ("test_vit", "cifar10", {}), ("test_efficientnet", "cifar100", {})],
)
def test_classifier_shapes_and_contract(name, dataset, kwargs):
    classifier = timm_classifier(name, dataset=dataset, device="cpu", **kwargs)
    spec = model_spec(classifier)
    x = np.random.default_rng(0).random((3, *spec.input_shape), dtype=np.float32)
    assert classifier.predict(x).shape == (3, spec.num_classes)
    assert classifier.input_shape == spec.input_shape
    assert classifier.nb_classes == {"digits": 10, "cifar10": 10, "cifar100": 100}[dataset]
    assert tuple(classifier.clip_values) == (0.0, 1.0)
    assert isinstance(classifier.loss, nn.CrossEntropyLoss)
    assert isinstance(classifier.optimizer, torch.optim.SGD)


def test_explicit_arguments_win_over_the_preset():
    classifier = timm_classifier(
        "test_resnet", dataset="cifar10", num_classes=7, input_size=(3, 16, 16), mean=(0.5,) * 3
    )
    spec = model_spec(classifier)
    assert (spec.num_classes, spec.input_shape, spec.mean) == (7, (3, 16, 16), (0.5, 0.5, 0.5))
    assert spec.std == (0.2470, 0.2435, 0.2616)
    assert classifier.predict(np.zeros((2, 3, 16, 16), np.float32)).shape == (2, 7)


def test_without_a_dataset_the_zoo_cfg_fills_what_is_not_given():
    spec = model_spec(timm_classifier("test_resnet", dataset=None, num_classes=3))
    assert (spec.num_classes, spec.input_shape, spec.mean, spec.std) == (3, (3, 160, 160), (0.5,) * 3, (0.5,) * 3)


def test_normalisation_is_art_preprocessing_and_gradients_are_in_pixel_space():
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    classifier = timm_classifier("test_resnet", dataset=None, num_classes=4, input_size=(3, 16, 16), mean=mean, std=std)
    model = classifier.model.eval()
    x = np.random.default_rng(1).random((5, 3, 16, 16), dtype=np.float32)
    labels = np.array([0, 1, 2, 3, 1])

    art_grad = classifier.loss_gradient(x, np.eye(4, dtype=np.float32)[labels])

    x_raw = torch.from_numpy(x).requires_grad_(True)
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    nn.functional.cross_entropy(model((x_raw - mean_t) / std_t), torch.from_numpy(labels)).backward()
    np.testing.assert_allclose(art_grad, x_raw.grad.numpy(), rtol=1e-4, atol=1e-7)

    # the model itself does not normalise: fed raw pixels, its gradient is a different one
    x_unnormalised = torch.from_numpy(x).requires_grad_(True)
    nn.functional.cross_entropy(model(x_unnormalised), torch.from_numpy(labels)).backward()
    assert not np.allclose(art_grad, x_unnormalised.grad.numpy(), rtol=1e-2)
    with torch.no_grad():
        np.testing.assert_allclose(
            classifier.predict(x), model((torch.from_numpy(x) - mean_t) / std_t).numpy(), rtol=1e-4, atol=1e-5
        )


def test_cifar_stem_on_a_deep_stem_keeps_32x32_at_the_stem():
    plain = timm_classifier("test_resnet", dataset="cifar10").model
    stem = timm_classifier("test_resnet", dataset="cifar10", cifar_stem=True).model
    first = stem.conv1[0]
    assert (first.kernel_size, first.stride, first.padding) == ((3, 3), (1, 1), (1, 1))
    assert isinstance(stem.maxpool, nn.Identity)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert stem.maxpool(stem.act1(stem.bn1(stem.conv1(x)))).shape[-2:] == (32, 32)
        assert plain.maxpool(plain.act1(plain.bn1(plain.conv1(x)))).shape[-2:] == (8, 8)
        assert stem(x).shape == (2, 10)
    assert (model_spec(stem).name, model_spec(stem).model_kwargs) == ("timm/test_resnet", {"cifar_stem": True})


def test_cifar_stem_replaces_a_plain_7x7_stem():
    import timm

    model = apply_cifar_stem(timm.create_model("resnet18", num_classes=10))
    assert isinstance(model.conv1, nn.Conv2d)
    assert (model.conv1.kernel_size, model.conv1.stride, model.conv1.in_channels) == ((3, 3), (1, 1), 3)
    assert isinstance(model.maxpool, nn.Identity)


def test_cifar_stem_refuses_non_resnet_models():
    with pytest.raises(ValueError, match="ResNet-family.*VisionTransformer"):
        timm_classifier("test_vit", dataset="cifar10", cifar_stem=True)


def test_module_input_and_optimizer_factory():
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    classifier = timm_classifier(module, dataset="digits", optimizer=functools.partial(torch.optim.AdamW, lr=1e-3))
    assert classifier.model is module
    assert model_spec(module).name is None
    assert isinstance(classifier.optimizer, torch.optim.AdamW)
    assert classifier.optimizer.param_groups[0]["lr"] == 1e-3
    assert classifier.predict(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)


def test_channels_last_converts_the_model():
    classifier = timm_classifier("test_resnet", dataset="cifar10", channels_last=True)
    weight = classifier.model.conv1[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert classifier.predict(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("no_such_model",), {}, "unknown model 'timm/no_such_model'"),
        (("test_resnt",), {}, "unknown model 'timm/test_resnt'; closest: timm/test_resnet"),
        (("test_resnet",), {"dataset": "mnist"}, "unknown dataset preset 'mnist'"),
        ((nn.Linear(2, 2),), {"dataset": None, "num_classes": 3}, r"\['input_shape', 'mean', 'std'\] not given"),
        (("test_resnet",), {"mean": (0.5,)}, "one value per channel"),
        (("test_resnet",), {"std": (0.5, 0.0, 0.5)}, "std must be positive"),
        (("test_resnet",), {"checkpoint_path": "weights.pth"}, "outside art-bmtad's safe loader"),
        ((nn.Linear(2, 2),), {"drop_rate": 0.1}, r"\['drop_rate'\] apply to registry names"),
    ],
)
def test_adapter_errors_name_the_problem(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        timm_classifier(*args, **kwargs)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert art_device_type(torch.device("cpu")) == "cpu"
    assert art_device_type(torch.device("cuda", 0)) == "gpu"
    with pytest.raises(ValueError, match="'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
