"""One reader of "a fraction or a count" (command lines and recipes) and one dotted-key nester (overrides and
tuning trials)."""
from __future__ import annotations

import pytest

from art_bmtad import cli
from art_bmtad.recipes.recipe import ConfigError, load_recipe, merge_dotted
from art_bmtad.tuning.space import apply_values
from art_bmtad.utils.numbers import parse_count_or_fraction, parse_fraction


@pytest.mark.parametrize("text, value", [("8/255", 8 / 255), (" 0.03 ", 0.03), ("1e-3", 0.001), ("1", 1.0),
                                         ("-1/4", -0.25)])
def test_a_fraction_reads_as_a_float(text: str, value: float) -> None:
    parsed = parse_fraction(text)
    assert parsed == pytest.approx(value, rel=1e-15) and type(parsed) is float


@pytest.mark.parametrize("text, value", [("200", 200), (" 7 ", 7), ("0.1", 0.1), ("1/10", 0.1), ("0", 0)])
def test_digits_read_as_a_count_and_anything_else_as_a_fraction(text: str, value: float) -> None:
    parsed = parse_count_or_fraction(text)
    assert parsed == pytest.approx(value) and type(parsed) is type(value)


@pytest.mark.parametrize("parse", [parse_fraction, parse_count_or_fraction])
@pytest.mark.parametrize("text", ["big", "1/0", "", "inf", "8//255"])
def test_what_is_neither_is_named(parse, text: str) -> None:
    with pytest.raises(ValueError, match=f"not a number or fraction: {text!r}"):
        parse(text)


@pytest.mark.parametrize("args", [
    ["eval", "--eps", "big"],
    ["teachers", "--eps", "big"],
    ["tune", "--pilot", "big"],
    ["train", "--val-size", "big"],
])
def test_every_command_line_option_refuses_alike(args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {args[1]}: not a number or fraction: 'big'" in err and "Traceback" not in err


def test_a_recipe_reads_fractions_with_the_same_reader() -> None:
    assert load_recipe("smoke", overrides=["threat.eps=8/255"]).threat.eps == pytest.approx(8 / 255)
    with pytest.raises(ConfigError, match=r"threat.eps: expected a number or a fraction such as 8/255, got 'big'"):
        load_recipe("smoke", overrides=["threat.eps=big"])


def test_dotted_keys_nest_and_merge_without_changing_the_base() -> None:
    base = {"schedule": {"epochs": 1, "lr": 0.1}, "seed": 0}
    merged = merge_dotted(base, {"schedule.epochs": 3, "balancing.t_min": 0.5, "seed": 7})
    assert merged == {"schedule": {"epochs": 3, "lr": 0.1}, "seed": 7, "balancing": {"t_min": 0.5}}
    assert base == {"schedule": {"epochs": 1, "lr": 0.1}, "seed": 0}


def test_overrides_and_tuning_trials_set_the_same_recipe() -> None:
    values = {"schedule.lr": 0.05, "balancing.temperature_lr": 0.002}
    overridden = load_recipe("smoke", overrides=values)
    tuned, applied = apply_values(load_recipe("smoke"), values)
    assert applied == values and tuned == overridden
    assert (tuned.schedule.lr, tuned.balancing.temperature_lr) == (0.05, 0.002)
