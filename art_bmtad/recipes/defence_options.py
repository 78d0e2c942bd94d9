"""Each defence's own options in the benchmark: the defaults of its paper, and the recipe's overrides on top.

Every defence trains under the recipe's shared threat model (``eps``, ``eps_step``, ``max_iter``) and schedule;
what only one defence has (TRADES' ``beta``, AWP's ``gamma``, FBF's FGSM step, the distillation losses'
``kl_scale`` and balancing rates) starts from the value its paper uses (:data:`PAPER_DEFAULTS`), the recipe's
``balancing`` group sets the distillation ones for all distillation defences, and ``defence_options.<name>``
overrides any of them for one defence. ``results.json`` records both the paper's defaults and the options used.

Light on purpose (no torch): the recipe checks ``defence_options`` with :func:`check_defence_options`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from art_bmtad.utils.errors import ConfigError

PLAIN = "plain"
"""Standard training without an adversary: the benchmark's reference row, not a registered defence."""

DISTILLATION_BALANCING = {
    "bmtard": ("temperature_lr", "weight_lr", "t_min", "t_max", "t_init", "entropy_balance", "loss_balance"),
    "mtard": ("weight_lr",),
    "rslad": (),
    "ard": (),
}
"""The distillation defences and the ``balancing`` keys each one takes (all take ``kl_scale``)."""


@dataclass(frozen=True)
class PaperDefaults:
    """A defence's own options as its paper sets them, and where they come from.

    Attributes:
        options: option name -> value (FBF's step as ``eps_step_factor``, a multiple of eps).
        reference: the paper and the setting the values are taken from.
    """

    options: dict[str, Any] = field(default_factory=dict)
    reference: str = ""


PAPER_DEFAULTS: dict[str, PaperDefaults] = {
    PLAIN: PaperDefaults({}, "standard training: cross-entropy on natural inputs"),
    "art-madry-pgd": PaperDefaults({}, "Madry et al. 2018: training on PGD examples only, with the shared threat "
                                       "model's PGD"),
    "art-trades": PaperDefaults({"beta": 6.0}, "Zhang et al. 2019 (TRADES), CIFAR-10: beta = 6"),
    "art-awp": PaperDefaults({"mode": "PGD", "gamma": 0.01, "beta": 6.0, "warmup": 0},
                             "Wu et al. 2020 (AWP), AT-AWP on CIFAR-10: gamma = 1e-2 (TRADES-AWP: 5e-3)"),
    "art-fbf": PaperDefaults({"eps_step_factor": 1.25},
                             "Wong et al. 2020 (FBF): one FGSM step of 1.25 eps from a uniform start (10/255 at "
                             "eps 8/255), cyclic learning rate peaking at 0.21"),
    "bmtard": PaperDefaults({"kl_scale": 1.0, "temperature_lr": 0.001, "weight_lr": 0.025, "t_min": 1.0,
                             "t_max": 10.0, "t_init": 1.0, "entropy_balance": True, "loss_balance": True},
                            "Zhao et al. 2024 (B-MTARD), CIFAR-10 (kl_scale 10 in the released CIFAR-100 scripts)"),
    "mtard": PaperDefaults({"kl_scale": 1.0, "weight_lr": 0.025}, "Zhao et al. 2022 (MTARD), CIFAR-10"),
    "rslad": PaperDefaults({"kl_scale": 1.0}, "Zi et al. 2021 (RSLAD), CIFAR-10"),
    "ard": PaperDefaults({"kl_scale": 1.0}, "Goldblum et al. 2020 (ARD), CIFAR-10"),
}
"""The built-in defences' own options as their papers set them."""

ALLOWED_OPTIONS: dict[str, tuple[str, ...]] = {
    PLAIN: (),
    "art-madry-pgd": (),
    "art-trades": ("beta",),
    "art-awp": ("mode", "gamma", "beta", "warmup"),
    "art-fbf": ("eps_step",),
    **{name: ("kl_scale", *keys) for name, keys in DISTILLATION_BALANCING.items()},
}
"""Options ``defence_options.<name>`` may set for the built-in defences (a plugin's defence takes any)."""


def check_defence_options(name: str, options: dict[str, Any]) -> None:
    """Refuse options a built-in defence does not have, naming the allowed ones.

    Raises:
        ValueError: an unknown option of a built-in defence.
    """
    allowed = ALLOWED_OPTIONS.get(name)
    unknown = [key for key in options if allowed is not None and key not in allowed]
    if unknown:
        raise ConfigError(f"defence_options.{name}.{unknown[0]}: not an option of {name}; allowed: "
                          f"{', '.join(allowed) or 'none (it has only the shared threat model and schedule)'}")


def paper_options(name: str, eps: float) -> dict[str, Any]:
    """The paper's own options of ``name`` as factory keywords (FBF's step resolved against ``eps``)."""
    options = dict(PAPER_DEFAULTS[name].options) if name in PAPER_DEFAULTS else {}
    if "eps_step_factor" in options:
        options["eps_step"] = options.pop("eps_step_factor") * eps
    return options


def paper_defaults_entry(name: str) -> dict[str, Any] | None:
    """``{"options", "reference"}`` for ``results.json``, or ``None`` for a defence without recorded defaults."""
    defaults = PAPER_DEFAULTS.get(name)
    return None if defaults is None else {"options": dict(defaults.options), "reference": defaults.reference}
