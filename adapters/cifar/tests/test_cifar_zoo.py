"""The ``cifar`` zoo: names, ModelCfg, published file layout in the torch hub cache, strict safe loading."""
from __future__ import annotations

import hashlib
from importlib import metadata

import pytest
import torch

from art_bmtad.models.zoo import MissingWeightsError
from art_bmtad.testing import (WritesEvidence, assert_takes_raw_pixels, one_thread,  # noqa: F401  (fixtures)
                               randomised, torch_hub_fixture)
from art_bmtad_cifar import architectures
from art_bmtad_cifar.plugin import ZOO

HUB_FILE = "cifar10_resnet20-4118986f.pt"


def test_names_and_cfg_follow_the_published_models():
    names = ZOO.list_models()
    assert len(names) == 30 and names[0] == "cifar10_resnet20" and "cifar100_repvgg_a2" in names
    cfg = ZOO.model_cfg("resnet56")  # bare name: the CIFAR-10 model
    assert cfg == ZOO.model_cfg("cifar10_resnet56")
    assert (cfg.num_classes, cfg.input_size, cfg.dataset, cfg.threat_model) == (10, (3, 32, 32), "cifar10", None)
    assert cfg.mean == (0.4914, 0.4822, 0.4465) and cfg.std == (0.2023, 0.1994, 0.2010)
    assert cfg.weights == "$TORCH_HOME/hub/checkpoints/cifar10_resnet56-187c023a.pt"
    cfg100 = ZOO.model_cfg("cifar100_vgg16_bn")
    assert (cfg100.num_classes, cfg100.mean, cfg100.std) == (100, (0.5070, 0.4865, 0.4409), (0.2673, 0.2564, 0.2761))
    assert cfg100.weights.endswith("/cifar100_vgg16_bn-7d8c4031.pt")
    with pytest.raises(KeyError, match="resnet56.*repvgg_a2"):
        ZOO.model_cfg("resnet57")


def test_the_plugin_is_an_entry_point_of_its_distribution():
    points = {point.name: point.value for point in metadata.distribution("art-bmtad-cifar").entry_points
              if point.group == "art_bmtad"}
    assert points == {"cifar": "art_bmtad_cifar.plugin"}


# Parameter counts of the CIFAR-10 models (the repository's table: 0.27M, 0.86M, 9.76M, 2.24M, 7.84M ...)
# and a key of each family as it is spelled in the published files.
PUBLISHED = {
    "resnet20": (272474, "layer2.0.downsample.1.running_var"),
    "resnet56": (855770, "layer3.8.bn2.num_batches_tracked"),
    "vgg11_bn": (9756426, "classifier.6.weight"),
    "vgg19_bn": (20565834, "features.50.running_mean"),
    "mobilenetv2_x1_0": (2236682, "features.18.1.running_var"),
    "mobilenetv2_x0_5": (700490, "features.0.1.running_mean"),
    "repvgg_a0": (7840874, "stage3.13.rbr_identity.running_var"),
    "repvgg_a2": (26815690, "stage1.0.rbr_1x1.conv.weight"),
}


@pytest.mark.parametrize("arch", PUBLISHED)
def test_architectures_have_the_published_size_and_names(arch):
    network = architectures.build(arch, 10)
    count, key = PUBLISHED[arch]
    assert sum(p.numel() for p in network.parameters()) == count
    keys = network.state_dict()
    assert key in keys
    assert "stage4.0.rbr_identity.weight" not in keys  # no identity branch where the stride or width changes


# First 16 hex digits of the SHA-256 of the sorted ``key:shape`` lines of the repository's own CIFAR-10 models
# (computed once from chenyaofo/pytorch-cifar-models): every key and shape of the published files, not a sample.
PUBLISHED_KEY_DIGESTS = {
    "resnet20": "fc15f168ee32ea4c", "resnet56": "aa50cf93ea29e645", "vgg11_bn": "23daeb32b76df0dd",
    "vgg16_bn": "d12ef94ab4e08c53", "vgg19_bn": "9f0d3033684f125e", "mobilenetv2_x0_5": "f60c6c71c6ff1e1a",
    "mobilenetv2_x1_4": "18e50195054c0539", "repvgg_a0": "27fa68d06a7898b5", "repvgg_a2": "c88763e39134abb5",
}


@pytest.mark.parametrize("arch", PUBLISHED_KEY_DIGESTS)
def test_every_key_and_shape_is_the_repository_own(arch):
    with torch.device("meta"):
        state = architectures.build(arch, 10).state_dict()
    lines = sorted(f"{key}:{tuple(value.shape)}" for key, value in state.items())
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] == PUBLISHED_KEY_DIGESTS[arch]


def test_published_file_loads_by_name_from_the_hub_cache(hub):
    reference = randomised(architectures.build("resnet20", 10))
    torch.save(reference.state_dict(), hub / HUB_FILE)  # the published files are plain state dicts
    loaded = ZOO.create("resnet20", pretrained=True).eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x), rtol=0, atol=0)


def test_cifar100_mobilenet_loads_from_a_named_file_or_folder(tmp_path):
    reference = randomised(architectures.build("mobilenetv2_x0_5", 100))
    path = tmp_path / "cifar100_mobilenetv2_x0_5-9f915757.pt"
    torch.save(reference.state_dict(), path)
    x = torch.rand(2, 3, 32, 32)
    for weights in (path, tmp_path):
        assert ZOO.find_weights("cifar100_mobilenetv2_x0_5", weights) == path
        loaded = ZOO.create("cifar100_mobilenetv2_x0_5", weights=weights).eval()
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("check", ["create", "find_weights"])
def test_missing_file_names_the_exact_path_and_the_download_option(hub, check):
    with pytest.raises(MissingWeightsError) as caught:
        ZOO.create("resnet56", pretrained=True) if check == "create" else ZOO.find_weights("resnet56")
    message = str(caught.value)
    assert f"{hub / 'cifar10_resnet56-187c023a.pt'}" in message and f"folder {hub}" in message
    assert "releases/download/resnet/cifar10_resnet56-187c023a.pt" in message and "download=True" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_a_folder_that_does_not_exist_reports_the_file_expected_inside(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"not found: .*/absent/cifar100_resnet32-84213ce6\.pt\."):
        ZOO.find_weights("cifar100_resnet32", tmp_path / "absent")


def test_pickle_payload_in_the_hub_file_is_refused_and_not_executed(hub, tmp_path):
    evidence = tmp_path / "executed"
    torch.save({"conv1.weight": torch.zeros(16, 3, 3, 3), "payload": WritesEvidence(evidence)}, hub / HUB_FILE)
    with pytest.raises(ValueError, match="refused to load .*not unpickled"):
        ZOO.create("resnet20", pretrained=True)
    assert not evidence.exists()


def test_classes_other_than_the_published_ones_only_without_weights(hub):
    with pytest.raises(ValueError, match="10 classes, not num_classes=7"):
        ZOO.create("resnet20", pretrained=True, num_classes=7)
    head = ZOO.create("resnet20", num_classes=7).fc
    assert head.out_features == 7


def test_normalisation_sits_inside_the_classifier_built_by_the_front_door(hub):
    """Through art-bmtad's front door the classifier takes raw pixels: d(logit)/d(pixel) = d(logit)/d(input) / std."""
    from art_bmtad.models.classifier import create_classifier

    torch.save(randomised(architectures.build("resnet20", 10)).state_dict(), hub / HUB_FILE)
    classifier = create_classifier("cifar/resnet20", dataset=None, pretrained=True, device="cpu")
    cfg = ZOO.model_cfg("resnet20")
    assert_takes_raw_pixels(classifier, cfg.mean, cfg.std, label=3)


def test_input_size_must_have_three_channels_and_vgg_32x32():
    assert ZOO.create("resnet20", input_size=(3, 16, 16))(torch.rand(1, 3, 16, 16)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"3-channel images, not input_size=\(1, 8, 8\)"):
        ZOO.create("resnet20", input_size=(1, 8, 8))
    with pytest.raises(ValueError, match=r"32x32 images, not input_size=\(3, 64, 64\)"):
        ZOO.create("vgg11_bn", input_size=(3, 64, 64))
