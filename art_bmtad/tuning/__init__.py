"""Tuning B-MTARD's balance settings on a pilot subset with Optuna (``art-bmtad tune``), in Python::

    from pathlib import Path
    from art_bmtad.recipes.recipe import load_recipe
    from art_bmtad.tuning import Objective, TuneSettings, run_study, write_report

    settings = TuneSettings(load_recipe("smoke"), n_trials=6, pilot_size=0.5, objective=Objective("weighted", 0.5))
    folder = Path("runs/tune"); folder.mkdir(parents=True)
    study = run_study(settings, folder)       # the study lives in runs/tune/study.db
    write_report(study, settings, folder)     # config.yaml (the best recipe), trials.md/.csv, plots

Trials are scored on the validation split; the study's data (:class:`TuningData`) has no test split.

Modules: :mod:`~.space` (searched keys and ranges), :mod:`~.data` (pilot and validation splits),
:mod:`~.objective`, :mod:`~.study` (the Optuna study), :mod:`~.storage` (where it lives: SQLite in the run folder, or
any database), :mod:`~.trials` (scored trials, the best one),
:mod:`~.report` (what the run folder gets).
"""
from art_bmtad.tuning.data import TuningData, load_tuning_data
from art_bmtad.tuning.objective import PARETO, WEIGHTED, Objective
from art_bmtad.tuning.report import best_recipe, write_report, write_trials_table
from art_bmtad.tuning.space import DEFAULT_SPACE, Range, parse_space
from art_bmtad.tuning.storage import STUDY_FILE, storage_url
from art_bmtad.tuning.study import SETTINGS_FILE, TuneSettings, open_study, run_study
from art_bmtad.tuning.trials import best_trial

__all__ = ["DEFAULT_SPACE", "PARETO", "SETTINGS_FILE", "STUDY_FILE", "WEIGHTED", "Objective", "Range",
           "TuneSettings", "TuningData", "best_recipe", "best_trial", "load_tuning_data", "open_study",
           "parse_space", "run_study", "storage_url", "write_report", "write_trials_table"]
