"""The plugin system: hooks, entry-point discovery, the registry, registration with ART and the CLI."""
from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from art.defences.trainer import Trainer
from art.estimators.classification import PyTorchClassifier
from torch import nn

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from art_bmtad import cli, hookspecs
from art_bmtad.discovery import DISABLE_AUTOLOAD_ENV, PluginWarning
from art_bmtad.plugins.defences import TRAINERS
from art_bmtad.registry import (
    create_dataset,
    create_defence,
    create_model,
    get_plugin_manager,
    list_datasets,
    list_defences,
    list_models,
    list_plugins,
    list_zoos,
    reset_plugin_manager,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).parent / "plugin_example"
BUILTIN_DEFENCES = ["ard", "art-awp", "art-fbf", "art-madry-pgd", "art-trades", "bmtard", "mtard", "rslad"]
TEACHERS = {
    "bmtard": ("robust_teacher", "clean_teacher"),
    "mtard": ("robust_teacher", "clean_teacher"),
    "rslad": ("robust_teacher",),
    "ard": ("robust_teacher",),
}
THREAT_MODEL = {"eps": 8 / 255, "eps_step": 4 / 255, "max_iter": 2}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Guard: plugins installed on this machine stay out, and every test discovers afresh."""
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` standing in for site-packages, with third-party autoload on."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV)
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for path in tmp_path.glob("*.py"):
            sys.modules.pop(path.stem, None)


def install(site: Path, distribution: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Lay out modules and a ``.dist-info`` (METADATA, entry_points.txt) as ``pip install`` would."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    lines = [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(["[art_bmtad]", *lines, ""]))


def install_module_plugin(site: Path, distribution: str, source: str, name: str = "plugin") -> None:
    """A one-module distribution ``distribution`` 0.0.1 whose entry point ``name`` is ``source``."""
    module = distribution.replace("-", "_")
    install(site, distribution, "0.0.1", {name: module}, {module: textwrap.dedent(source)})


@pytest.fixture
def example(site_dir: Path) -> dict:
    """The example distribution of ``tests/plugin_example``, installed from its own ``pyproject.toml``."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    modules = {path.stem: path.read_text() for path in EXAMPLE.glob("*.py")}
    install(site_dir, project["name"], project["version"], project["entry-points"]["art_bmtad"], modules)
    return project


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """64 sklearn digits as (N, 1, 8, 8) float32 in [0, 1] with int64 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images[:64, None] / 16.0).astype(np.float32), data.target[:64].astype(np.int64)


class TinyConvNet(nn.Module):
    """Conv, ReLU, linear on 1x8x8 inputs. Not an ``nn.Sequential``: ART's wrapper would return every
    layer's output for one, which its TRADES and FBF trainers misread."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


def classifier(model: nn.Module | None = None) -> PyTorchClassifier:
    """A :class:`TinyConvNet` (or ``model``) as an ART classifier on 1x8x8 inputs in [0, 1]."""
    model = model or TinyConvNet()
    return PyTorchClassifier(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )


def fits_one_epoch(trainer: Trainer, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``trainer.fit`` with the common call changes the student's weights."""
    model = trainer.get_classifier().model
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit(x, y, validation_data=None, nb_epochs=1, batch_size=32)
    return any(not torch.equal(old, new) for old, new in zip(before, model.parameters()))


def plugins_by_name() -> dict:
    """The loaded plugins by name."""
    return {plugin.source.name: plugin for plugin in list_plugins()}


# ----------------------------------------------------------------------------- built-ins


def test_builtin_plugins_register_the_contract_names() -> None:
    assert list_defences() == BUILTIN_DEFENCES
    assert [zoo.name for zoo in list_zoos()] == ["timm"] and "timm/resnet18" in list_models()
    assert [name for name in list_models() if "/" not in name] == []  # no single models among the built-ins
    assert "digits" in list_datasets()
    assert all(plugin.source.builtin for plugin in list_plugins())


def test_every_hook_has_a_spec() -> None:
    get_plugin_manager().check_pending()


@pytest.mark.parametrize("one_hot", [False, True], ids=["indices", "one-hot"])
@pytest.mark.parametrize("name", BUILTIN_DEFENCES)
def test_builtin_defence_fits_one_epoch(name: str, one_hot: bool, digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    teachers = {role: classifier() for role in TEACHERS.get(name, ())}
    trainer = create_defence(name, classifier(), **teachers, **THREAT_MODEL)
    assert isinstance(trainer, Trainer)
    assert fits_one_epoch(trainer, x, np.eye(10, dtype=np.float32)[y] if one_hot else y)


def test_fbf_takes_index_labels_for_validation_too(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    trainer = create_defence("art-fbf", classifier(), eps=0.1)
    trainer.fit(x, y, validation_data=(x[:16], y[:16]), nb_epochs=1, batch_size=32)  # ART's own FBF raises here


def test_builtin_timm_zoo() -> None:
    model = create_model("timm/resnet18", num_classes=10, drop_rate=None)  # None is dropped
    assert model.fc.out_features == 10
    assert create_model("resnet18").fc.out_features == 1000  # bare names are timm's


def test_builtin_dataset() -> None:
    dataset = create_dataset("digits", n_train=100, n_test=None)  # None is dropped
    assert dataset.x_train.shape[1:] == (1, 8, 8)
    assert len(dataset.x_train) + len(dataset.x_val) == 100


@pytest.mark.parametrize(
    ("create", "args", "known"),
    [
        (create_defence, ("nope", None), "bmtard, mtard"),
        (create_model, ("nope",), "timm"),
        (create_dataset, ("nope",), "digits"),
    ],
    ids=["defence", "model", "dataset"],
)
def test_unknown_name_lists_known_names(create, args: tuple, known: str) -> None:
    with pytest.raises(KeyError) as raised:
        create(*args)
    assert isinstance(raised.value, ValueError)
    assert "'nope'" in str(raised.value) and known in str(raised.value)


# ----------------------------------------------------------------------------- third-party plugins


def test_third_party_plugin_is_discovered(example: dict, digits: tuple[np.ndarray, np.ndarray]) -> None:
    plugin = plugins_by_name()["example"]
    assert (plugin.source.distribution, plugin.source.version) == (example["name"], example["version"])
    assert not plugin.source.builtin
    assert plugin.registers == {"defences": ["example-fgsm"], "models": ["example-mlp"], "datasets": [], "trackers": [], "zoos": []}
    model = create_model("example-mlp", hidden=None)  # None is dropped: the factory's default applies
    assert model[1].out_features == 32
    assert fits_one_epoch(create_defence("example-fgsm", classifier(model), **THREAT_MODEL), *digits)
    get_plugin_manager().check_pending()


def test_disable_variable_skips_third_party(example: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert "example" not in plugins_by_name()
    assert list_defences() == BUILTIN_DEFENCES


def test_broken_plugin_warns_and_the_rest_load(example: dict, site_dir: Path) -> None:
    install_module_plugin(site_dir, "art-bmtad-broken", "import a_module_that_does_not_exist\n", name="broken")
    with pytest.warns(PluginWarning, match=r"'broken' \(art-bmtad-broken 0\.0\.1\).*ModuleNotFoundError"):
        names = list_defences()
    assert names == sorted([*BUILTIN_DEFENCES, "example-fgsm"])


def test_failing_hook_warns_and_the_rest_load(example: dict, site_dir: Path) -> None:
    source = """
        from art_bmtad import hookimpl

        @hookimpl
        def art_bmtad_register_models(register):
            raise RuntimeError("no zoo today")
    """
    install_module_plugin(site_dir, "art-bmtad-failing", source)
    with pytest.warns(PluginWarning, match=r"'plugin' \(art-bmtad-failing 0\.0\.1\).*no zoo today"):
        assert [name for name in list_models() if "/" not in name] == ["example-mlp"]


def test_duplicate_name_warns_and_the_first_wins(site_dir: Path) -> None:
    source = """
        from art_bmtad import hookimpl

        @hookimpl
        def art_bmtad_register_defences(register):
            register("bmtard", lambda classifier, **kwargs: None)
    """
    install_module_plugin(site_dir, "art-bmtad-copycat", source)
    with pytest.warns(PluginWarning, match=r"'plugin' \(art-bmtad-copycat 0\.0\.1\) registers defence 'bmtard'"):
        plugins = plugins_by_name()
    assert plugins["plugin"].registers["defences"] == []
    assert "bmtard" in plugins["bmtad-defences"].registers["defences"]


def test_cli_lists_plugins_with_distribution(example: dict, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "example: art_bmtad_example (art-bmtad-example-plugin 0.1.0)\n  defences: example-fgsm\n" in out
    assert "bmtad-defences: art_bmtad.plugins.defences (art-bmtad " in out


def test_cli_help_explains_plugins(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plugins", "--help"])
    assert exited.value.code == 0
    assert DISABLE_AUTOLOAD_ENV in capsys.readouterr().out


# ----------------------------------------------------------------------------- ART integration


def test_register_with_art_exposes_the_trainers() -> None:
    import art.defences.trainer as art_trainers

    import art_bmtad.trainers
    from art_bmtad.art_integration import register_with_art

    try:
        register_with_art()
        register_with_art()
        from art.defences.trainer import AdversarialTrainerBMTARDPyTorch

        assert AdversarialTrainerBMTARDPyTorch is art_bmtad.trainers.AdversarialTrainerBMTARDPyTorch
        assert all(getattr(art_trainers, name) is getattr(art_bmtad.trainers, name) for name in TRAINERS.values())
    finally:
        for name in TRAINERS.values():
            vars(art_trainers).pop(name, None)


def test_importing_art_bmtad_leaves_art_untouched() -> None:
    script = f"""
        import art_bmtad, art_bmtad.registry
        art_bmtad.registry.list_defences()
        import art.defences.trainer as t
        assert not [n for n in {list(TRAINERS.values())!r} if hasattr(t, n)], "ART was changed"
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- documentation


HOOKSPECS = [f for f in vars(hookspecs).values() if hasattr(f, "art_bmtad_spec")]
SIGNATURES = [f"{spec.__name__}({', '.join(inspect.signature(spec).parameters)})" for spec in HOOKSPECS]


def test_hookspecs_are_typed_and_have_docstrings() -> None:
    assert len(HOOKSPECS) == 5
    for spec in HOOKSPECS:
        assert spec.__doc__
        assert all(p.annotation is not p.empty for p in inspect.signature(spec).parameters.values())


@pytest.mark.parametrize("signature", SIGNATURES)
def test_every_hook_is_documented(signature: str) -> None:
    headings = re.findall(r"^### (.+)$", (ROOT / "docs" / "plugins.md").read_text(), flags=re.MULTILINE)
    assert signature in headings
