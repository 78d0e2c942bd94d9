"""The recipe: layers (preset, file, overrides), the saved recipe loading back, and errors that name the key."""
from __future__ import annotations

import pytest

from art_bmtad import cli
from art_bmtad.recipes.presets import PRESETS, list_presets
from art_bmtad.recipes.recipe import ConfigError, Recipe, load_recipe, recipe_from_dict, write_recipe


def test_every_preset_resolves_and_round_trips_through_its_saved_file(tmp_path) -> None:
    for name in list_presets():
        needs_file = PRESETS[name].get("data", {}).get("source") == "npz"  # CIFAR-10: no file is assumed
        recipe = load_recipe(name, overrides={"data.path": "cifar10.npz"} if needs_file else {})
        assert recipe.preset == name
        path = write_recipe(recipe, tmp_path / name / "config.yaml")
        assert load_recipe(config_file=path) == recipe


@pytest.mark.parametrize("preset", ["cifar10-cpu", "cifar10-cpu-strong", "cifar10-paper"])
def test_cifar10_presets_name_both_ways_to_give_the_data(preset) -> None:
    with pytest.raises(ConfigError) as caught:
        load_recipe(preset)
    message = str(caught.value)
    assert "--data-path FILE.npz" in message and "--data cifar10" in message and "--download" in message


def test_layers_override_in_order_preset_file_overrides(tmp_path) -> None:
    (tmp_path / "r.yaml").write_text("preset: smoke\nschedule:\n  epochs: 7\n  lr: 0.2\n")
    recipe = load_recipe(config_file=tmp_path / "r.yaml", overrides=["schedule.epochs=2", "threat.eps=8/255"])
    assert recipe.preset == "smoke" and recipe.student.model == PRESETS["smoke"]["student"]["model"]
    assert (recipe.schedule.epochs, recipe.schedule.lr) == (2, 0.2)
    assert recipe.threat.eps == pytest.approx(8 / 255)
    assert recipe.schedule.momentum == Recipe().schedule.momentum  # untouched keys keep the defaults


def test_toml_files_and_comma_lists(tmp_path) -> None:
    (tmp_path / "r.toml").write_text('defences = "bmtard, ard"\n[data]\nval_size = 100\n')
    recipe = load_recipe("smoke", tmp_path / "r.toml")
    assert recipe.defences == ["bmtard", "ard"]
    assert recipe.data.val_size == 100 and isinstance(recipe.data.val_size, int)  # a count stays a count


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("schedule.epoch=3", r"unknown key 'schedule.epoch' \(did you mean schedule.epochs\?\); allowed keys of "
                             r"'schedule': epochs, batch_size"),
        ("colour=red", r"unknown key 'colour'; allowed keys of the recipe: preset, defences"),
        ("teachers.robust.modle=x", r"unknown key 'teachers.robust.modle'.*allowed keys of 'teachers.robust': model"),
        ("schedule.epochs=ten", r"schedule.epochs: expected an integer, got 'ten' \(str\)"),
        ("schedule.epochs=2.5", r"schedule.epochs: expected an integer, got 2.5"),
        ("schedule.augment=3", r"schedule.augment: expected true or false, got 3"),
        ("threat.eps=big", r"threat.eps: expected a number or a fraction such as 8/255, got 'big'"),
        ("data.n_train=[1]", r"data.n_train: expected an integer or null, got \[1\]"),
        ("schedule=3", r"schedule: expected a mapping of keys, got 3"),
        ("defences=[bmtard,nope]", r"defences\[1\]: unknown value 'nope'; allowed: ard, art-awp, art-fbf, "
                                   r"art-madry-pgd, art-trades, bmtard, mtard, rslad, plain"),
        ("student.model=resnet9000", r"student.model: unknown model 'resnet9000'; closest: timm/resnet\d+.*; zoos: "),
        ("teachers.clean.model=nope", r"teachers.clean.model: unknown model 'nope'"),
        ("teachers.robust.kind=pgd", r"teachers.robust.kind: unknown value 'pgd'; allowed: clean, madry, trades"),
        ("data.source=mnist", r"data.source: unknown value 'mnist'; allowed: cifar10, cifar100, digits"),
        ("evaluation.attacks=[pgd20,deepfool]", r"evaluation.attacks\[1\]: unknown value 'deepfool'; allowed: clean, "
                                                r"fgsm, pgd20, cw, autoattack"),
        ("schedule.select_by=loss", r"schedule.select_by: unknown value 'loss'; allowed: robust, clean, sum, null"),
        ("schedule.milestones=[5,2]", r"schedule.milestones: expected increasing epochs"),
        ("balancing.kl_scale=0", r"balancing.kl_scale: expected a number > 0, got 0"),
        ("teachers.clean.milestones=[2]", r"teachers.clean.milestones: only for robust teachers"),
        ("teachers.robust.milestones=[8]", r"teachers.robust.milestones: expected increasing epochs in \[1, 8\)"),
        ("balancing.t_min=2", r"balancing: expected t_min <= t_init <= t_max, got 2.0, 1.0, 10.0"),
        ("balancing.weight_lr=-0.1", r"balancing.weight_lr: expected a number >= 0, got -0.1"),
    ],
)
def test_errors_name_the_key_and_the_allowed_values(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_recipe("smoke", overrides=[override])


def test_unknown_preset_and_bad_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="preset: unknown value 'smok'; allowed: smoke, cifar10-cpu, cifar10-cpu-strong, cifar10-paper"):
        load_recipe("smok")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(ConfigError, match="use .yaml, .yml or .toml"):
        load_recipe(config_file=tmp_path / "r.json")
    (tmp_path / "r.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_recipe(config_file=tmp_path / "r.yaml")
    with pytest.raises(ConfigError, match="must look like group.key=value"):
        load_recipe("smoke", overrides=["schedule.epochs"])


def test_missing_teacher_checkpoint_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="teachers.robust.checkpoint: no saved classifier"):
        load_recipe("smoke", overrides={"teachers.robust.checkpoint": str(tmp_path / "absent.safetensors")})


def test_recipe_from_dict_checks_types_without_names() -> None:
    recipe = recipe_from_dict({"schedule": {"epochs": 3}, "threat": {"eps": "4/255"}})
    assert recipe.schedule.epochs == 3 and recipe.threat.eps == pytest.approx(4 / 255)


@pytest.mark.parametrize("command", ["bench", "train"])
def test_cli_reports_config_errors_before_anything_runs(command: str, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = cli.main([command, "--preset", "smoke", "--out", str(out), "--set", "defences=[bmtard,foo]"])
    assert code == 2
    assert "defences[1]: unknown value 'foo'; allowed:" in capsys.readouterr().err
    assert not out.exists()
