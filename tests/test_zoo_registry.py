"""Model zoos in the registry: name resolution, listing, the models command, the front door, save/load of a
non-timm zoo model, plain weights with arch=, sidecar checks, failing zoo plugins, recipe checks."""
from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from art_bmtad import cli, hookimpl
from art_bmtad.discovery import DISABLE_AUTOLOAD_ENV, PluginWarning
from art_bmtad.models.classifier import create_classifier, model_spec
from art_bmtad.models.classifier_files import load_classifier, save_classifier
from art_bmtad.models.zoo import MissingWeightsError, ModelCfg, ModelZoo
from art_bmtad.recipes.recipe import ConfigError, check_pretrained_teachers, load_recipe
from art_bmtad.registry import (
    UnknownNameError,
    create_model,
    get_plugin_manager,
    list_models,
    list_plugins,
    list_zoos,
    model_cfg,
    qualified_name,
    reset_plugin_manager,
)

TINY_CFG = ModelCfg(num_classes=10, input_size=(1, 8, 8), mean=(0.5,), std=(0.25,), dataset="digits",
                    threat_model="Linf", weights="<weights>/tiny_mlp.safetensors", architecture="MLP")


def _tiny_mlp(width: int = 16, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, num_classes))


def _find_weights(model: str, weights: str | Path | None = None) -> Path:
    path = Path(weights or "weights") / "tiny_mlp.safetensors"
    if not path.is_file():
        raise MissingWeightsError(f"tiny/{model}: put tiny_mlp.safetensors in the folder {path.parent}")
    return path


def _create(model: str, *, pretrained=False, weights=None, num_classes=None, input_size=None, width=16,
            download=False):
    if input_size is not None:
        raise ValueError(f"tiny/{model} takes 1x8x8 inputs, not {input_size}")
    module = _tiny_mlp(width, num_classes or 10)
    if pretrained:
        from art_bmtad.models.classifier_files import load_weights

        if download:  # the zoo's own download path: here, published weights of seed 0
            _write_tiny_weights(Path(weights or "weights"))

        load_weights(module, _find_weights(model, weights))
    return module


def _cfg(model: str) -> ModelCfg:
    if model not in ("mlp", "mlp_wide"):
        raise KeyError(model)
    return TINY_CFG


TINY = ModelZoo("tiny", lambda: ["mlp", "mlp_wide"], _cfg, _create, "a throwaway test zoo", _find_weights)


def _plugin(name: str, register_body) -> types.ModuleType:
    module = types.ModuleType(name)
    module.art_bmtad_register_zoos = hookimpl(register_body)
    return module


@pytest.fixture(autouse=True)
def tiny_zoo(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelZoo]:
    """The built-in plugins (timm) plus the zoo ``tiny``, registered at run time and removed afterwards."""
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    plugin = _plugin("tiny_zoo_plugin", lambda register: register(TINY))
    get_plugin_manager().register(plugin, name="tiny-zoo")
    try:
        yield TINY
    finally:
        get_plugin_manager().unregister(plugin)
        reset_plugin_manager()


# ----------------------------------------------------------------------------- names


def test_qualified_bare_and_registered_names_resolve():
    assert qualified_name("tiny/mlp") == "tiny/mlp"
    assert qualified_name("test_resnet") == "timm/test_resnet"
    assert qualified_name("timm/test_resnet") == "timm/test_resnet"
    assert model_cfg("tiny/mlp") == TINY_CFG
    assert isinstance(create_model("tiny/mlp", width=4, num_classes=None)[1], nn.Linear)  # None is dropped
    assert create_model("tiny/mlp", width=4)[1].out_features == 4


@pytest.mark.parametrize(("name", "expected"), [
    ("tiny/mpl", r"unknown model 'tiny/mpl'; closest: tiny/mlp"),
    ("test_resnt", r"unknown model 'test_resnt'; closest: timm/test_resnet"),
    ("tinny/mlp", r"unknown model 'tinny/mlp'; closest: tiny/mlp, tiny/mlp_wide; zoos: "),
    ("robustbench/Zhang2019Theoretically", r"; no zoo 'robustbench' is installed: install its plugin \(`pip install "
                                           r"-e adapters/robustbench` in a source checkout, or `pip install "
                                           r"art-bmtad-robustbench`\)"),
])
def test_an_unknown_name_lists_close_matches_and_the_zoos(name, expected):
    with pytest.raises(UnknownNameError, match=expected) as raised:
        create_model(name)
    assert "zoos: timm, tiny" in str(raised.value)


def test_listing_by_zoo_and_filter():
    assert list_models("tiny") == ["tiny/mlp", "tiny/mlp_wide"]
    assert list_models("tiny", filter="WIDE") == ["tiny/mlp_wide"]
    assert list_models(filter="mlp_w*") == ["tiny/mlp_wide"]  # a pattern matches the name inside the zoo too
    assert "timm/test_resnet" in list_models(filter="test_res")
    assert [zoo.name for zoo in list_zoos()] == ["timm", "tiny"]
    with pytest.raises(UnknownNameError, match="unknown model zoo 'nope'; zoos: timm, tiny"):
        list_models("nope")


def test_models_command_prints_the_zoo_table(capsys):
    assert cli.main(["models", "--zoo", "tiny", "--filter", "wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "input", "normalisation", "classes", "dataset", "threat", "weights"]
    assert lines[1].split() == ["tiny/mlp_wide", "1x8x8", "0.5", "/", "0.25", "10", "digits", "Linf",
                                "<weights>/tiny_mlp.safetensors"]
    assert len(lines) == 2


def test_plugins_command_names_zoos_and_counts_them_on_request(capsys):
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "tiny-zoo: tiny_zoo_plugin (registered at run time)\n  zoos: tiny\n" in out
    assert "timm: art_bmtad_timm.plugin (art-bmtad " in out and "  zoos: timm\n" in out
    assert cli.main(["plugins", "--count"]) == 0
    out = capsys.readouterr().out
    assert "zoos: tiny (2 models)" in out
    import timm

    assert f"zoos: timm ({len(timm.list_models())} models)" in out


def test_a_failing_zoo_plugin_warns_and_the_other_zoos_stay():
    def broken(register):
        raise RuntimeError("no zoo today")

    get_plugin_manager().register(_plugin("broken_zoo", broken), name="broken-zoo")
    get_plugin_manager().register(_plugin("not_a_zoo", lambda register: register("timm")), name="not-a-zoo")
    with pytest.warns(PluginWarning) as warned:
        names = [zoo.name for zoo in list_zoos()]
        held = {plugin.source.name: plugin.registers["zoos"] for plugin in list_plugins()}
    assert names == ["timm", "tiny"] and held["tiny-zoo"] == ["tiny"] and held["broken-zoo"] == []
    messages = [str(warning.message) for warning in warned]
    assert any("'broken-zoo' failed to register zoos: RuntimeError('no zoo today')" in m for m in messages)
    assert any("'not-a-zoo' failed to register zoos" in m and "ModelZoo, not str" in m for m in messages)


def test_the_first_plugin_to_register_a_zoo_name_keeps_it():
    impostor = ModelZoo("tiny", lambda: ["other"], _cfg, _create)
    get_plugin_manager().register(_plugin("impostor", lambda register: register(impostor)), name="impostor")
    with pytest.warns(PluginWarning, match="'impostor' registers zoo 'tiny', which plugin 'tiny-zoo' already "
                                           "registered; keeping the first"):
        assert list_models("tiny") == ["tiny/mlp", "tiny/mlp_wide"]


# ----------------------------------------------------------------------------- front door


def _write_tiny_weights(folder: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    import safetensors.torch

    torch.manual_seed(seed)
    state = _tiny_mlp().state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(state, str(folder / "tiny_mlp.safetensors"))
    return state


def test_pretrained_takes_the_zoos_normalisation_over_the_datasets(tmp_path):
    state = _write_tiny_weights(tmp_path)
    classifier = create_classifier("tiny/mlp", dataset="digits", pretrained=True, weights=tmp_path, device="cpu")
    spec = model_spec(classifier)
    assert (spec.mean, spec.std) == ((0.5,), (0.25,))  # the weights' own, not digits' (0.3053,), (0.3760,)
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        expected = classifier.model.eval()((torch.from_numpy(x) - 0.5) / 0.25).numpy()
    np.testing.assert_allclose(classifier.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(classifier.model[1].weight, state["1.weight"])
    fresh = create_classifier("tiny/mlp", dataset="digits", device="cpu")  # trained from scratch: the dataset's
    assert model_spec(fresh).mean == (0.3053,)


def test_pretrained_weights_of_other_classes_are_refused_and_missing_ones_named(tmp_path):
    _write_tiny_weights(tmp_path)
    with pytest.raises(ValueError, match="published weights have 10 classes and the dataset 100"):
        create_classifier("tiny/mlp", dataset=types.SimpleNamespace(num_classes=100, input_shape=(1, 8, 8),
                                                                    mean=(0.5,), std=(0.25,)), pretrained=True)
    with pytest.raises(MissingWeightsError, match=f"folder {tmp_path / 'elsewhere'}"):
        create_classifier("tiny/mlp", dataset="digits", pretrained=True, weights=tmp_path / "elsewhere")


def test_download_is_asked_for_explicitly_and_goes_through_the_zoo(tmp_path):
    with pytest.raises(ValueError, match="download=True fetches published weights: it needs pretrained=True"):
        create_classifier("tiny/mlp", dataset="digits", download=True)
    classifier = create_classifier("tiny/mlp", dataset="digits", pretrained=True, download=True, weights=tmp_path)
    assert (tmp_path / "tiny_mlp.safetensors").is_file() and "download" not in model_spec(classifier).model_kwargs
    assert torch.equal(classifier.model[1].weight, _write_tiny_weights(tmp_path / "again")["1.weight"])
    recipe = load_recipe("smoke", None, {"teachers.robust.model": "tiny/mlp", "teachers.robust.pretrained": True,
                                         "teachers.weights_dir": str(tmp_path / "empty"), "teachers.download": True})
    check_pretrained_teachers(recipe, ["robust"])  # the zoo will fetch it: no early stop


def test_a_zoo_refusing_the_data_shape_is_a_value_error():
    with pytest.raises(ValueError, match=r"tiny/mlp takes 1x8x8 inputs, not \(3, 32, 32\)"):
        create_classifier("tiny/mlp", dataset="cifar10")


# ----------------------------------------------------------------------------- save and load


def test_a_non_timm_zoo_model_round_trips_with_its_arguments(tmp_path):
    classifier = create_classifier("tiny/mlp", dataset="digits", width=8, device="cpu")
    path = save_classifier(classifier, tmp_path / "student", note="x")
    meta = json.loads((tmp_path / "student.json").read_text())
    assert (meta["name"], meta["model_kwargs"], meta["format"]) == ("tiny/mlp", {"width": 8}, "art-bmtad-checkpoint/2")
    loaded = load_classifier(path, device="cpu")
    x = np.random.default_rng(1).random((5, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x), classifier.predict(x))
    assert loaded.model[1].out_features == 8


def test_a_plain_state_dict_loads_when_the_architecture_is_named(tmp_path):
    module = _tiny_mlp()
    path = tmp_path / "teacher.pth"
    torch.save({"state_dict": {f"module.{key}": value for key, value in module.state_dict().items()}}, path)
    with pytest.raises(FileNotFoundError, match=r"teacher.pth has no sidecar .*teacher.json.*--arch"):
        load_classifier(path)
    loaded = load_classifier(path, arch="tiny/mlp", device="cpu")
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(loaded.predict(x.numpy())), module((x - 0.5) / 0.25))


def test_a_plain_module_saves_rebuildably_when_its_builder_is_named(tmp_path):
    module = _tiny_mlp(width=4)
    save_classifier(module, tmp_path / "m", name="tiny/mlp", model_kwargs={"width": 4}, nb_classes=10,
                    input_shape=(1, 8, 8), mean=(0.5,), std=(0.25,))
    loaded = load_classifier(tmp_path / "m.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(loaded.model.state_dict().values(), module.state_dict().values()))


@pytest.mark.parametrize(("change", "message"), [
    ({"input_shape": [1, 8]}, r"field 'input_shape' must be 3 integers > 0"),
    ({"input_shape": [1, 8, 8.0]}, r"field 'input_shape' must be 3 integers > 0"),
    ({"num_classes": 0}, r"field 'num_classes' must be an integer > 0"),
    ({"num_classes": True}, r"field 'num_classes' must be an integer > 0"),
    ({"name": 7}, r"field 'name' must be a registry model name"),
    ({"mean": [0.5, 0.5]}, r"field 'mean' must be 1 finite numbers"),
    ({"std": [0.0]}, r"field 'std' must be positive numbers"),
    ({"model_kwargs": {"width": {"nested": 1}}}, r"field 'model_kwargs' must be an object of JSON scalars"),
    ({"model_kwargs": [8]}, r"field 'model_kwargs' must be an object of JSON scalars"),
    ({"layers": 3}, r"unknown fields \['layers'\]"),
    ({"name": "tiny/nope"}, r"unknown model 'tiny/nope'; closest: tiny/mlp"),
])
def test_each_sidecar_field_is_checked_before_anything_is_built(tmp_path, change, message):
    save_classifier(create_classifier("tiny/mlp", dataset="digits"), tmp_path / "m")
    sidecar = tmp_path / "m.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **change}))
    with pytest.raises(ValueError, match=message):
        load_classifier(tmp_path / "m.safetensors")


def test_a_format_1_sidecar_still_loads_with_its_cifar_stem(tmp_path):
    classifier = create_classifier("test_resnet", dataset="cifar10", cifar_stem=True, device="cpu")
    path = save_classifier(classifier, tmp_path / "old")
    meta = json.loads((tmp_path / "old.json").read_text())
    meta.update(format="art-bmtad-checkpoint/1", name="test_resnet", cifar_stem=True, model_kwargs={})
    (tmp_path / "old.json").write_text(json.dumps(meta))
    loaded = load_classifier(path, device="cpu")
    assert model_spec(loaded).model_kwargs == {"cifar_stem": True} and model_spec(loaded).name == "timm/test_resnet"
    assert isinstance(loaded.model.maxpool, nn.Identity)


# ----------------------------------------------------------------------------- recipes and the CLI


def test_a_mistyped_zoo_teacher_is_named_with_its_closest_models(tmp_path):
    with pytest.raises(ConfigError, match=r"teachers.robust.checkpoint: no saved classifier at tiny/mpl; nor a model "
                                          r"of an installed zoo: unknown model 'tiny/mpl'; closest: tiny/mlp"):
        load_recipe("smoke", None, {"teachers.robust.checkpoint": "tiny/mpl"})
    (tmp_path / "t.json").write_text("{}")
    (tmp_path / "t.pth").write_bytes(b"")
    assert load_recipe("smoke", None, {"teachers.robust.checkpoint": str(tmp_path / "t.pth")})  # .pth + sidecar


def test_recipe_model_names_go_through_the_registry(tmp_path):
    with pytest.raises(ConfigError, match=r"student.model: unknown model 'tiny/mpl'; closest: tiny/mlp"):
        load_recipe("smoke", None, {"student.model": "tiny/mpl"})
    recipe = load_recipe("smoke", None, {"student.model": "tiny/mlp", "teachers.clean.model": "tiny/mlp_wide"})
    assert recipe.student.model == "tiny/mlp"
    recipe = load_recipe("smoke", None, {"teachers.robust.model": "tiny/mlp", "teachers.robust.pretrained": True,
                                         "teachers.weights_dir": str(tmp_path)})  # loading needs no weights
    check_pretrained_teachers(recipe, ["clean"])  # nor a run that does not use that teacher
    with pytest.raises(ConfigError, match=r"teachers.robust.model: tiny/mlp: put tiny_mlp.safetensors in the folder "
                                          f"{tmp_path}"):
        check_pretrained_teachers(recipe, ["robust", "clean"])
    _write_tiny_weights(tmp_path)
    check_pretrained_teachers(recipe, ["robust", "clean"])


def test_train_with_a_zoo_teacher_stops_before_any_work_without_its_weights(tmp_path, capsys):
    status = cli.main(["--quiet", "train", "--preset", "smoke", "--robust-teacher", "tiny/mlp", "--weights-dir",
                       str(tmp_path / "w"), "--out", str(tmp_path / "run")])
    assert status == 2
    assert f"put tiny_mlp.safetensors in the folder {tmp_path / 'w'}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_eval_finds_a_pth_file_and_builds_it_from_arch(tmp_path, capsys):
    module = _tiny_mlp()
    torch.save(module.state_dict(), tmp_path / "teacher.pth")
    argv = ["--quiet", "eval", "--model", str(tmp_path / "teacher.pth"), "--data", "digits", "--attacks", "fgsm",
            "--n-examples", "20", "--no-sanity-checks"]
    assert cli.main(argv) == 2
    assert f"{tmp_path / 'teacher.pth'} has no sidecar" in capsys.readouterr().err
    assert cli.main([*argv, "--arch", "tiny/mlp"]) == 0
    assert "mean (0.5), std (0.25)" in capsys.readouterr().out  # the zoo's normalisation, not digits'


def test_plain_weights_take_the_datas_normalisation_when_the_zoos_does_not_fit_its_channels(tmp_path):
    import timm

    torch.save(timm.create_model("test_resnet", num_classes=10, in_chans=1).state_dict(), tmp_path / "w.pth")
    loaded = load_classifier(tmp_path / "w.pth", arch="test_resnet", dataset="digits", device="cpu")
    spec = model_spec(loaded)
    assert (spec.input_shape, spec.mean, spec.std) == ((1, 8, 8), (0.3053,), (0.376,))  # timm's cfg has 3 channels


def test_listing_a_zoo_imports_neither_torch_nor_the_other_zoos_libraries():
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, types
        from art_bmtad import cli, hookimpl
        from art_bmtad.models.zoo import ModelCfg, ModelZoo
        from art_bmtad.registry import get_plugin_manager

        zoo = ModelZoo("light", lambda: ["a", "b"], lambda name: ModelCfg(num_classes=3), lambda name, **kw: None)
        plugin = types.ModuleType("light_plugin")
        plugin.art_bmtad_register_zoos = hookimpl(lambda register: register(zoo))
        get_plugin_manager().register(plugin, name="light")
        assert cli.main(["models", "--zoo", "light"]) == 0
        print(sorted(m for m in ("torch", "timm", "numpy", "torchvision", "art") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, DISABLE_AUTOLOAD_ENV: "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["light/a", "light/b"] and lines[-1] == "[]"
