"""Where a study lives: the SQLite file in the run folder by default, or any database Optuna's ``RDBStorage`` takes
(``tune --storage URL``: ``sqlite:////mnt/studies/study.db``, ``postgresql://user:password@host/db``,
``mysql+pymysql://...``), so that processes on many machines work on one study.

The study records the settings it was created with (``tune.json`` without the trial count and the storage); a
process that opens it with other settings is refused, naming the keys that differ, so every machine searches the
same space on the same data. Settings that depend on the machine (device, threads, file locations) may differ.
``tune.json`` keeps the storage URL with its password masked; a study whose URL has a password is resumed or
joined with ``--storage`` given again.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from art_bmtad.utils.errors import ConfigError

if TYPE_CHECKING:
    import optuna

STUDY_FILE = "study.db"
SETTINGS_ATTR = "art_bmtad_settings"
"""The study's user attribute holding the settings it was created with."""
MACHINE_KEYS = ("n_trials", "storage", "format", "recipe.device", "recipe.threads", "recipe.teachers.cache_dir",
                "recipe.teachers.weights_dir", "recipe.data.path", "recipe.data.root")
"""Settings that may differ between the processes of one study."""
MASK = "***"


def storage_url(folder: Path) -> str:
    """Optuna's SQLite storage URL of the study in ``folder`` (the default storage)."""
    return f"sqlite:///{(Path(folder) / STUDY_FILE).resolve()}"


def study_storage(storage: str | None, folder: Path) -> str:
    """The storage URL a study uses: ``storage``, else the SQLite file in ``folder``."""
    return storage or storage_url(folder)


def check_storage(storage: str | None) -> None:
    """A database URL SQLAlchemy can parse (``dialect[+driver]://...``), checked before any work.

    Raises:
        ConfigError: names the option and shows a valid form.
    """
    if storage is None:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(storage)
    except ArgumentError:
        raise ConfigError(f"--storage {shown(storage)}: not a database URL; e.g. sqlite:////path/study.db or "
                          "postgresql://user:password@host/database") from None


def shown(storage: str | None) -> str | None:
    """The URL with its password masked (what ``tune.json`` and messages show)."""
    if storage is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except ArgumentError:
        return storage.split("@")[-1]  # whatever it is, no credentials in a message
    return url.render_as_string(hide_password=True) if url.password else storage


def resumed_storage(saved: str | None, given: str | None, folder: Path) -> str | None:
    """The storage of a study resumed or joined from ``folder``: ``tune.json``'s, or ``--storage`` given again.

    Raises:
        ConfigError: ``--storage`` names another study's storage, or the saved one's password is needed.
    """
    if given is None:
        if saved is not None and MASK in saved:
            raise ConfigError(f"{folder}: the study is in {saved}; give --storage with its password again (it is not "
                              "saved)")
        return saved
    if shown(given) != (saved or shown(storage_url(folder))):
        raise ConfigError(f"--storage {shown(given)}: the study of {folder} is in {saved or storage_url(folder)}")
    return given


def check_same_study(study: "optuna.Study", settings: dict[str, Any]) -> None:
    """Record ``settings`` in a new study, or refuse a study created with other settings.

    Raises:
        ConfigError: names the keys that differ.
    """
    from art_bmtad.trainers.training_checkpoints import differing_keys

    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is None:
        study.set_user_attr(SETTINGS_ATTR, settings)
        return
    changed = [key for key in differing_keys(recorded, settings)
               if not any(key == machine or key.startswith(f"{machine}.") for machine in MACHINE_KEYS)]
    if changed:
        raise ConfigError(f"the study in this storage was created with other settings ({', '.join(changed)}); use the "
                          "same options as the process that created it, or another storage")
