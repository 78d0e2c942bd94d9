"""Model selection: which validation accuracies pick the epoch whose weights a trainer keeps (light: no torch)."""

SELECTION_METRICS = {"robust": ("val_pgd_acc",), "clean": ("val_clean_acc",), "sum": ("val_clean_acc", "val_pgd_acc")}
"""``select_by`` value -> the per-epoch history keys whose sum is maximised."""
