"""The ``robustbench`` zoo: RobustBench names, normalisation, its folder layout and file formats, safe loading."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
import torch

from art_bmtad.models.zoo import MissingWeightsError
from art_bmtad.testing import (WritesEvidence, assert_takes_raw_pixels, one_thread,  # noqa: F401  (fixture)
                               outputs_equal, randomised)
from art_bmtad_robustbench import catalog, zoo
from art_bmtad_robustbench.plugin import ZOO


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    """RobustBench's default ``./models``, in a fresh working folder."""
    monkeypatch.delenv(catalog.MODEL_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return Path("models")


@pytest.fixture
def tiny_trades_entry(monkeypatch) -> str:
    """A WRN-10-1 filed like TRADES' models (with ``sub_block1`` in its files), to run the loading path fast."""
    entries = {**catalog.MODELS[("cifar10", "Linf")], "TinyTrades": catalog.Entry("wrn", 10, 1, sub_block1=True)}
    monkeypatch.setitem(catalog.MODELS, ("cifar10", "Linf"), entries)
    return "TinyTrades"


def write(path: Path, state: dict, *, prefix: str = "", wrapper: str | None = None, **extra) -> Path:
    """Save ``state`` the way RobustBench's files hold it: prefixed keys, an optional wrapper dict, extra entries."""
    payload = {prefix + key: value for key, value in state.items()}
    payload = {wrapper: payload, **extra} if wrapper else {**payload, **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def test_names_are_robustbench_names_with_its_defaults(model_dir):
    names = ZOO.list_models()
    assert len(names) == len(set(names)) == 53
    assert {"Zhang2019Theoretically", "Carmon2019Unlabeled", "Rice2020Overfitting", "Engstrom2019Robustness",
            "Gowal2020Uncovering_28_10_extra", "cifar10/L2/Rice2020Overfitting", "cifar100/Linf/Gowal2020Uncovering",
            "cifar100/Linf/Rice2020Overfitting"} <= set(names)
    cfg = ZOO.model_cfg("Zhang2019Theoretically")
    assert cfg == ZOO.model_cfg("cifar10/Linf/Zhang2019Theoretically")
    assert (cfg.num_classes, cfg.input_size, cfg.dataset, cfg.threat_model) == (10, (3, 32, 32), "cifar10", "Linf")
    assert (cfg.mean, cfg.std, cfg.architecture) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "WideResNet-34-10")
    assert cfg.weights == str(Path("models/cifar10/Linf/Zhang2019Theoretically.pt"))
    with pytest.raises(KeyError, match="no cifar100/L2 models; it has cifar10/Linf, cifar10/L2, cifar100/Linf"):
        ZOO.model_cfg("cifar100/L2/Gowal2020Uncovering")
    with pytest.raises(KeyError, match="no cifar10/Linf model 'Zhang2019'; it has Andriushchenko2020Understanding"):
        ZOO.model_cfg("Zhang2019")


@pytest.mark.parametrize("name, mean, std", [
    ("Engstrom2019Robustness", (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    ("Rice2020Overfitting", (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    ("Gowal2020Uncovering_28_10_extra", (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    ("Hendrycks2019Using", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # RobustBench's 2x - 1
    ("Carmon2019Unlabeled", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    ("cifar100/Linf/Gowal2020Uncovering", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    ("cifar100/Linf/Rice2020Overfitting", (0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
     (0.2673342858792401, 0.2564384629170883, 0.27615047132568404)),
])
def test_normalisation_is_the_one_of_robustbench_wrapper(name, mean, std):
    cfg = ZOO.model_cfg(name)
    assert (cfg.mean, cfg.std) == (mean, std)


# Parameter counts (TRADES' WRN-34-10 has 46.2M, WRN-28-10 36.5M) and keys as spelled in RobustBench's files.
PUBLISHED = {
    "Zhang2019Theoretically": (46160474, ["block1.layer.0.convShortcut.weight", "block3.layer.4.bn2.running_var",
                                          "fc.bias"]),
    "Carmon2019Unlabeled": (36479194, ["block2.layer.3.conv2.weight", "bn1.num_batches_tracked"]),
    "Rice2020Overfitting": (184531674, ["block3.layer.0.convShortcut.weight"]),
    "Gowal2020Uncovering_28_10_extra": (36479194, ["init_conv.weight", "layer.2.block.3.conv_1.weight",
                                                   "layer.1.block.0.shortcut.weight", "logits.bias"]),
    "Engstrom2019Robustness": (23520842, ["layer4.2.bn3.running_mean", "layer1.0.shortcut.1.weight", "linear.weight"]),
    "Wong2020Fast": (11171146, ["layer2.0.shortcut.0.weight", "layer4.1.bn2.bias"]),
    "cifar10/L2/Rice2020Overfitting": (11172170, ["bn.running_var", "layer3.0.shortcut.0.weight"]),
    "cifar100/Linf/Gowal2020Uncovering": (266888756, ["layer.0.block.9.batchnorm_1.weight"]),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_architectures_have_the_published_size_and_key_names(name):
    with torch.device("meta"):  # shapes only: a WRN-70-16 is 267M parameters
        network = zoo.build(catalog.entry(name), ZOO.model_cfg(name).num_classes)
    count, keys = PUBLISHED[name]
    assert sum(p.numel() for p in network.parameters()) == count
    assert set(keys) <= set(network.state_dict())
    assert not any(key.startswith(("sub_block1.", "mu", "sigma")) for key in network.state_dict())


def key_digest(state: dict) -> str:
    """First 16 hex digits of the SHA-256 of the sorted ``key:shape`` lines of a state dict."""
    lines = sorted(f"{key}:{tuple(value.shape)}" for key, value in state.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# key_digest of the state dicts of RobustBench's own classes for these entries (sub_block1 left out), computed
# once from RobustBench's model_zoo/architectures: every key and shape of the published files, not a sample.
PUBLISHED_KEY_DIGESTS = {
    "Zhang2019Theoretically": "988dca94f95fe41f",
    "Carmon2019Unlabeled": "45dc6e274a9595af",
    "Gowal2020Uncovering_28_10_extra": "74e85057ebad3c26",
    "Engstrom2019Robustness": "634b7c2799c46043",
    "Sehwag2021Proxy_R18": "2d73bebb37a67c02",
    "Wong2020Fast": "45c12c8990e9171a",
    "cifar10/L2/Rice2020Overfitting": "d318bd78c0b4a8e2",
    "cifar100/Linf/Rice2020Overfitting": "a91167f594b2cebb",
}


@pytest.mark.parametrize("name", PUBLISHED_KEY_DIGESTS)
def test_every_key_and_shape_is_robustbench_own(name):
    with torch.device("meta"):
        network = zoo.build(catalog.entry(name), ZOO.model_cfg(name).num_classes)
    assert key_digest(network.state_dict()) == PUBLISHED_KEY_DIGESTS[name]


def test_trades_file_with_module_prefix_and_unused_sub_block_loads_by_name(model_dir, tiny_trades_entry):
    reference = randomised(zoo.build(catalog.entry(tiny_trades_entry), 10))
    unused = {"sub_block1.layer.0.conv1.weight": torch.randn(16, 16, 3, 3)}
    write(model_dir / "cifar10/Linf/TinyTrades.pt", {**reference.state_dict(), **unused},
          prefix="module.", wrapper="state_dict", epoch=76)
    outputs_equal(ZOO.create(tiny_trades_entry, pretrained=True), reference)


def test_last_wrapper_and_mu_sigma_buffers_load_into_the_preact_resnet(model_dir):
    """Andriushchenko2020Understanding's file is {"last": ..., "best": ...}; Wong2020Fast's wrapper kept mu/sigma."""
    reference = randomised(zoo.build(catalog.entry("Wong2020Fast"), 10))
    cfg = ZOO.model_cfg("Wong2020Fast")
    buffers = {"mu": torch.tensor(cfg.mean).view(1, 3, 1, 1), "sigma": torch.tensor(cfg.std).view(1, 3, 1, 1)}
    write(model_dir / "cifar10/Linf/Wong2020Fast.pt", {**reference.state_dict(), **buffers}, wrapper="last")
    outputs_equal(ZOO.create("Wong2020Fast", pretrained=True), reference)


def test_model_prefix_and_a_file_or_model_dir_given_as_weights(tmp_path, model_dir):
    reference = randomised(zoo.build(catalog.entry("cifar10/L2/Rice2020Overfitting"), 10))
    root = tmp_path / "elsewhere"
    path = write(root / "cifar10/L2/Rice2020Overfitting.pt", reference.state_dict(), prefix="model.")
    for weights in (path, root):
        assert ZOO.find_weights("cifar10/L2/Rice2020Overfitting", weights) == path
        outputs_equal(ZOO.create("cifar10/L2/Rice2020Overfitting", weights=weights), reference)


def test_model_dir_from_the_environment(tmp_path, monkeypatch, tiny_trades_entry):
    monkeypatch.setenv(catalog.MODEL_DIR_ENV, str(tmp_path / "rb"))
    reference = randomised(zoo.build(catalog.entry(tiny_trades_entry), 10))
    write(tmp_path / "rb/cifar10/Linf/TinyTrades.pt", reference.state_dict())
    assert ZOO.model_cfg(tiny_trades_entry).weights == str(tmp_path / "rb/cifar10/Linf/TinyTrades.pt")
    outputs_equal(ZOO.create(tiny_trades_entry, pretrained=True), reference)


def test_a_file_with_another_normalisation_is_refused(model_dir):
    state = randomised(zoo.build(catalog.entry("Wong2020Fast"), 10)).state_dict()
    raw = {"mu": torch.zeros(1, 3, 1, 1), "sigma": torch.ones(1, 3, 1, 1)}
    write(model_dir / "cifar10/Linf/Wong2020Fast.pt", {**state, **raw})
    with pytest.raises(ValueError, match=r"normalisation \[0.0, 0.0, 0.0\] / \[1.0, 1.0, 1.0\] is not the one"):
        ZOO.create("Wong2020Fast", pretrained=True)


@pytest.mark.parametrize("check", ["create", "find_weights"])
def test_missing_file_names_the_exact_file_and_folder(model_dir, check):
    with pytest.raises(MissingWeightsError) as caught:
        if check == "create":
            ZOO.create("Zhang2019Theoretically", pretrained=True)
        else:
            ZOO.find_weights("Zhang2019Theoretically")
    message = str(caught.value)
    expected = Path("models/cifar10/Linf/Zhang2019Theoretically.pt").absolute()
    assert f"not found: {expected}." in message and f"in the folder {expected.parent} " in message
    assert "download=True" in message and catalog.MODEL_DIR_ENV in message


def test_a_model_dir_that_does_not_exist_reports_the_file_expected_inside(tmp_path):
    with pytest.raises(MissingWeightsError, match="not found: .*/absent/cifar100/Linf/Gowal2020Uncovering.pt"):
        ZOO.find_weights("cifar100/Linf/Gowal2020Uncovering", tmp_path / "absent")
    with pytest.raises(MissingWeightsError, match=r"not found: .*/absent/Wong2020Fast\.pt\."):
        ZOO.find_weights("Wong2020Fast", tmp_path / "absent" / "Wong2020Fast.pt")  # a file, by its suffix


@pytest.mark.skipif(importlib.util.find_spec("robustbench") is not None, reason="robustbench is installed")
def test_download_without_the_robustbench_package_says_what_to_do(model_dir):
    with pytest.raises(MissingWeightsError, match="robustbench package is not installed.*pip install robustbench"):
        ZOO.create("Zhang2019Theoretically", pretrained=True, download=True)
    assert not (model_dir / "cifar10").exists()


def test_download_goes_through_robustbench_own_download(model_dir, monkeypatch):
    """With the robustbench package (faked here: no network in tests), download=True asks RobustBench's
    ``download_gdrive_new`` for the model's Google Drive id, into RobustBench's layout, then loads safely."""
    import enum
    import sys
    import types

    reference = randomised(zoo.build(catalog.entry("Wong2020Fast"), 10))
    requests = []

    def download_gdrive_new(gdrive_id, path):
        requests.append((gdrive_id, Path(path)))
        torch.save(reference.state_dict(), path)

    datasets = enum.Enum("BenchmarkDataset", {"cifar_10": "cifar10", "cifar_100": "cifar100"})
    threats = enum.Enum("ThreatModel", {"Linf": "Linf", "L2": "L2"})
    fakes = {
        "robustbench": types.ModuleType("robustbench"),
        "robustbench.model_zoo": types.SimpleNamespace(
            model_dicts={datasets.cifar_10: {threats.Linf: {"Wong2020Fast": {"gdrive_id": "ID-OF-WONG"}}}}),
        "robustbench.model_zoo.enums": types.SimpleNamespace(BenchmarkDataset=datasets, ThreatModel=threats),
        "robustbench.utils": types.SimpleNamespace(download_gdrive_new=download_gdrive_new),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(MissingWeightsError):
        ZOO.create("Wong2020Fast", pretrained=True)  # never without download=True
    outputs_equal(ZOO.create("Wong2020Fast", pretrained=True, download=True), reference)
    assert requests == [("ID-OF-WONG", model_dir / "cifar10/Linf/Wong2020Fast.pt")]


def test_pickle_payload_is_refused_and_not_executed(model_dir, tmp_path, tiny_trades_entry):
    evidence = tmp_path / "executed"
    write(model_dir / "cifar10/Linf/TinyTrades.pt", {"conv1.weight": torch.zeros(16, 3, 3, 3)},
          wrapper="state_dict", args=WritesEvidence(evidence))
    with pytest.raises(ValueError, match="refused to load .*not unpickled"):
        ZOO.create(tiny_trades_entry, pretrained=True)
    assert not evidence.exists()


def test_published_classes_only_with_weights(model_dir):
    with pytest.raises(ValueError, match="100 classes, not num_classes=10"):
        ZOO.create("cifar100/Linf/Rice2020Overfitting", pretrained=True, num_classes=10)
    assert ZOO.create("Wong2020Fast", num_classes=7).linear.out_features == 7


def test_normalisation_sits_inside_the_classifier_built_by_the_front_door(model_dir):
    """Through art-bmtad's front door the classifier takes raw pixels: d(logit)/d(pixel) = d(logit)/d(input) / std,
    with the std of RobustBench's Wong2020Fast wrapper; eps budgets stay in pixel space."""
    from art_bmtad.models.classifier import create_classifier

    reference = randomised(zoo.build(catalog.entry("Wong2020Fast"), 10))
    write(model_dir / "cifar10/Linf/Wong2020Fast.pt", reference.state_dict())
    classifier = create_classifier("robustbench/Wong2020Fast", dataset="cifar10", pretrained=True, device="cpu")
    assert_takes_raw_pixels(classifier, *catalog.CIFAR10, label=7)


def test_input_size_must_have_three_channels():
    assert ZOO.create("Wong2020Fast", input_size=(3, 16, 16))(torch.rand(1, 3, 16, 16)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"3-channel images, not input_size=\(1, 8, 8\)"):
        ZOO.create("Wong2020Fast", input_size=(1, 8, 8))
