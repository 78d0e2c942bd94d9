"""Where the ``robustbench`` zoo's files live: RobustBench's ``<model_dir>/<dataset>/<threat_model>/<name>.pt``.

Finding a file builds no model and imports no torch (the front door checks weights before any work).
``download`` goes through RobustBench's own download path, only when asked for explicitly.
"""
from __future__ import annotations

from pathlib import Path

from art_bmtad.models.weight_files import require_weight_file
from art_bmtad.models.zoo import MissingWeightsError, weights_file_or_folder
from art_bmtad_robustbench import catalog


def weights_path(model: str, weights: str | Path | None = None) -> Path:
    """The file ``create(model, pretrained=True, weights=weights)`` reads, present or not.

    Args:
        model: a name of the zoo.
        weights: a weight file (by its suffix: ``.pt``, ...), else RobustBench's ``model_dir``; ``None``:
            ``$ART_BMTAD_ROBUSTBENCH_DIR`` or ``./models``.
    """
    file, folder = weights_file_or_folder(weights)
    return file if file is not None else catalog.weight_path(model, folder)


def find_weights(model: str, weights: str | Path | None = None) -> Path:
    """:func:`weights_path` when the file is there.

    Raises:
        MissingWeightsError: it is not; the message names the file, the folder, the layout and ``download=True``.
    """
    path = weights_path(model, weights)
    return require_weight_file(
        path, model=f"robustbench/{model}", put=f"RobustBench's {path.name}",
        download_hint=" and the robustbench package",
        folder_hint=f"RobustBench's layout <model_dir>/<dataset>/<threat_model>/<name>.pt; model_dir is "
                    f"${catalog.MODEL_DIR_ENV} or ./models, or weights= in Python, --weights-dir on the command line")


def download(model: str, weights: str | Path | None = None) -> Path:
    """Fetch the file through RobustBench's own download (Google Drive via gdown) unless it is there.

    Raises:
        MissingWeightsError: the ``robustbench`` package is not installed (the message says what to do instead).
    """
    path = weights_path(model, weights)
    if path.is_file():
        return path
    dataset, threat, name = catalog.parse_name(model)
    try:
        from robustbench.model_zoo import model_dicts
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
        from robustbench.utils import download_gdrive_new
    except ImportError as err:
        raise MissingWeightsError(
            f"robustbench/{model}: download=True goes through RobustBench's own download, and the robustbench "
            f"package is not installed ({err}). Install it (pip install robustbench: it pins timm==1.0.9, see this "
            f"adapter's README) or put {path.name} in {path.parent} yourself"
        ) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    download_gdrive_new(model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)][name]["gdrive_id"], path)
    return path
