"""art-bmtad zoo ``robustbench``: RobustBench's CIFAR-10/100 models by their RobustBench names.

The architectures are carried here (written for art-bmtad with the key names of RobustBench's files), so
the zoo works without the ``robustbench`` package; weights load from RobustBench's layout
``<model_dir>/<dataset>/<threat_model>/<name>.pt`` through :mod:`art_bmtad.models.classifier_files`. Registered by
:mod:`art_bmtad_robustbench.plugin`.
"""
