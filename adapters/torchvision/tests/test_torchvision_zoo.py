"""The ``torchvision`` zoo: cfg from the weights enums, published files in the torch hub cache, safe loading."""
from __future__ import annotations

from importlib import metadata

import pytest
import torch
import torchvision

from art_bmtad.models.zoo import MissingWeightsError
from art_bmtad.testing import (WritesEvidence, assert_takes_raw_pixels, one_thread,  # noqa: F401  (fixtures)
                               outputs_equal, randomised, torch_hub_fixture)
from art_bmtad_torchvision.plugin import ZOO


def test_names_are_torchvision_classification_models():
    names = ZOO.list_models()
    assert names == torchvision.models.list_models(module=torchvision.models)
    assert {"resnet50", "vit_b_16", "convnext_tiny", "densenet121"} <= set(names)
    assert not any(name.startswith(("fcn_", "deeplab", "fasterrcnn", "raft")) for name in names)  # other tasks
    points = {point.name: point.value for point in metadata.distribution("art-bmtad-torchvision").entry_points
              if point.group == "art_bmtad"}
    assert points == {"torchvision": "art_bmtad_torchvision.plugin"}


def test_cfg_comes_from_the_weights_enum():
    cfg = ZOO.model_cfg("resnet50")  # DEFAULT = IMAGENET1K_V2
    assert (cfg.num_classes, cfg.input_size, cfg.dataset) == (1000, (3, 224, 224), "imagenet")
    assert (cfg.mean, cfg.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert cfg.weights == "$TORCH_HOME/hub/checkpoints/resnet50-11ad3fa6.pth"
    assert cfg.architecture == "resnet50 (IMAGENET1K_V2)"
    assert ZOO.model_cfg("resnet50.IMAGENET1K_V1").weights.endswith("/resnet50-0676ba61.pth")
    assert ZOO.model_cfg("vit_b_16.IMAGENET1K_SWAG_E2E_V1").input_size == (3, 384, 384)
    assert ZOO.model_cfg("inception_v3").input_size == (3, 299, 299)
    with pytest.raises(KeyError, match="no classification model 'resnet51'; close: resnet50"):
        ZOO.model_cfg("resnet51")
    with pytest.raises(KeyError, match="no weights 'IMAGENET1K_V3'; it has IMAGENET1K_V1, IMAGENET1K_V2"):
        ZOO.model_cfg("resnet50.IMAGENET1K_V3")


def test_published_file_loads_by_name_from_the_hub_cache(hub):
    reference = randomised(torchvision.models.resnet18(), std=0.05)
    published = {key: value for key, value in reference.state_dict().items() if not key.endswith("num_batches_tracked")}
    torch.save(published, hub / "resnet18-f37072fd.pth")  # a 2017 file: no BatchNorm counters
    assert ZOO.find_weights("resnet18") == hub / "resnet18-f37072fd.pth"
    outputs_equal(ZOO.create("resnet18", pretrained=True), reference, size=64)


def test_densenet_file_with_its_old_key_names_loads(tmp_path):
    reference = randomised(torchvision.models.densenet121(), std=0.05)
    old_names = {key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): value
                 for key, value in reference.state_dict().items() if not key.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in old_names  # the published (pre-PyTorch 0.4.1) file
    torch.save(old_names, tmp_path / "densenet121-a639ec97.pth")
    outputs_equal(ZOO.create("densenet121", weights=tmp_path), reference, size=32)


def test_googlenet_loads_its_auxiliary_heads_then_drops_them(tmp_path):
    googlenet = torchvision.models.googlenet(aux_logits=True, transform_input=True, init_weights=False)
    reference = randomised(googlenet, std=0.05)
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    loaded = ZOO.create("googlenet", weights=path)
    assert loaded.aux1 is None and loaded.aux2 is None
    outputs_equal(loaded, reference, size=64)
    assert isinstance(loaded.train()(torch.rand(2, 3, 64, 64)), torch.Tensor)  # plain logits when training too


@pytest.mark.parametrize("check", ["create", "find_weights"])
def test_missing_file_names_the_exact_path(hub, check):
    with pytest.raises(MissingWeightsError) as caught:
        ZOO.create("resnet50", pretrained=True) if check == "create" else ZOO.find_weights("resnet50")
    message = str(caught.value)
    assert f"{hub / 'resnet50-11ad3fa6.pth'}." in message and f"folder {hub} " in message
    assert "ResNet50_Weights.IMAGENET1K_V2" in message and "download=True" in message


def test_pickle_payload_is_refused_and_not_executed(hub, tmp_path):
    evidence = tmp_path / "executed"
    payload = {"fc.weight": torch.zeros(1000, 512), "payload": WritesEvidence(evidence)}
    torch.save(payload, hub / "resnet18-f37072fd.pth")
    with pytest.raises(ValueError, match="refused to load .*not unpickled"):
        ZOO.create("resnet18", pretrained=True)
    assert not evidence.exists()


def test_published_classes_only_with_weights(hub):
    with pytest.raises(ValueError, match="1000 classes, not num_classes=10"):
        ZOO.create("resnet18", pretrained=True, num_classes=10)
    assert ZOO.create("resnet18", num_classes=10).fc.out_features == 10


def test_normalisation_sits_inside_the_classifier_built_by_the_front_door(hub):
    """Through art-bmtad's front door the classifier takes raw pixels: d(logit)/d(pixel) = d(logit)/d(input) / std,
    with the ImageNet std of the weights' transforms (here on 64x64 inputs, which a ResNet pools globally)."""
    from art_bmtad.models.classifier import create_classifier

    torch.save(randomised(torchvision.models.resnet18(), std=0.05).state_dict(), hub / "resnet18-f37072fd.pth")
    classifier = create_classifier("torchvision/resnet18", dataset=None, input_size=(3, 64, 64), pretrained=True,
                                   device="cpu")
    assert_takes_raw_pixels(classifier, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), label=281, size=64)


def test_input_size_builds_size_dependent_models_only_without_weights(hub):
    with torch.device("meta"):  # shapes only: ViT-B/16 has 86M parameters
        vit = ZOO.create("vit_b_16", input_size=(3, 32, 32), num_classes=10)
    assert vit.image_size == 32 and vit.encoder.pos_embedding.shape == (1, 5, 768)  # 2x2 patches + class token
    with pytest.raises(ValueError, match=r"published weights are for 224x224 images, not input_size=\(3, 32, 32\)"):
        ZOO.create("vit_b_16", pretrained=True, input_size=(3, 32, 32))
    with pytest.raises(ValueError, match=r"3-channel images, not input_size=\(1, 8, 8\)"):
        ZOO.create("resnet18", input_size=(1, 8, 8))
