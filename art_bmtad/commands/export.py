"""``art-bmtad export``: a run's student as a verified ONNX, TorchScript or safetensors file, or a timm model folder
with its model card (``art_bmtad.deploy``)."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import add_quiet_option

FORMATS = ("onnx", "torchscript", "safetensors", "timm")

DESCRIPTION = """\
Export a run's student with its normalisation folded in: the exported model takes float32 NCHW pixels in
[0, 1], like the ART classifier, returns logits, and has a dynamic batch axis. Beside it, FILE.json (the
sidecar) records the input shape, classes and class names, the threat model the student was trained for
(from the run's config.yaml), the student it came from and the verification:

The file is run as a server would (onnxruntime, torch.jit.load, or the weights reloaded) on real test images
of the run's dataset, at batch 1 and 64, and compared with the PyTorch student: it must match within
1e-4 x max(1, max |logit|) with the same predictions; otherwise nothing is written and the status is 2.

ONNX needs the onnx extra: pip install 'art-bmtad[onnx]'. Check the exported file under attack with
`art-bmtad eval --model FILE` (clean and transfer attacks crafted on the PyTorch student).

--format timm writes a folder in timm's Hugging Face layout instead (config.json, model.safetensors and a model
card README.md with the run's threat model, teachers, recipe and evaluation numbers), which
timm.create_model("local-dir:DIR", pretrained=True) loads; its normalisation stays in config.json, as timm
expects. The card's numbers come from --evaluation, else RUN/robustness.json (art-bmtad eval --out), else the
benchmark's results.json. Only timm architectures (without the CIFAR stem) can be written this way.

Examples:
  art-bmtad export runs/student --format onnx                 # -> runs/student/student.onnx (+ .json)
  art-bmtad export runs/smoke/bmtard --format torchscript --out deploy/bmtard.pt
  art-bmtad export runs/student --format safetensors --overwrite
  art-bmtad export runs/student --format timm --out hub/my-student     # then: hf upload USER/REPO hub/my-student"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, run, "export", help="export a run's student (ONNX, TorchScript, safetensors, a "
                                                         "timm folder), verified against the PyTorch model",
                         description=DESCRIPTION)
    parser.add_argument("run_dir", type=Path, metavar="RUN",
                        help="a run folder (art-bmtad train --out, or a defence's folder of a benchmark) or a saved "
                             "student (.safetensors)")
    parser.add_argument("--format", required=True, choices=FORMATS, dest="export_format",
                        help="onnx (onnxruntime), torchscript (torch.jit.load), safetensors (the folded model's "
                             "weights; the architecture comes from the student's JSON) or timm (a model folder with "
                             "its card, for timm.create_model and the Hugging Face hub)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE|DIR",
                        help="the file to write (default: student.onnx, student.torchscript.pt or "
                             "student.folded.safetensors in the run folder); for timm, the folder (default: RUN/timm)")
    parser.add_argument("--evaluation", type=Path, default=None, metavar="FILE.json",
                        help="timm: the evaluation report for the model card (art-bmtad eval --out, or a "
                             "benchmark's results.json; default: found in the run)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file and its sidecar")
    add_quiet_option(parser)
    parser.add_argument("--data", default=None, metavar="SOURCE",
                        help="dataset of the verification images (default: the run's, from its config.yaml)")
    parser.add_argument("--data-path", type=Path, default=None, metavar="PATH",
                        help="where that dataset lives, for sources that read files")
    parser.add_argument("--n-verify", type=int, default=256, metavar="N",
                        help="test images to verify on (default: %(default)s)")
    parser.add_argument("--onnx-exporter", choices=("torchscript", "dynamo"), default="torchscript",
                        help="torch.onnx.export with dynamo=False (faster here) or dynamo=True (needs onnxscript) "
                             "(default: %(default)s)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Export (the run and the output are checked first), verify, and say what was written.

    Args:
        args: the parsed command line.

    Returns:
        0 (a failed verification raises, and the CLI exits with 2).
    """
    if args.export_format == "timm":
        from art_bmtad.deploy.timm_folder import export_timm_folder

        folder = export_timm_folder(args.run_dir, args.out, overwrite=args.overwrite, evaluation=args.evaluation,
                                    data=args.data, data_path=args.data_path, n_verify=args.n_verify)
        print(folder.describe())
        print(f"load it: timm.create_model('local-dir:{folder.path}', pretrained=True); upload it: hf upload USER/REPO "
              f"{shlex.quote(str(folder.path))}")
        return 0
    if args.evaluation is not None:
        raise ValueError("--evaluation goes with --format timm (the model card)")
    from art_bmtad.deploy.export import export_student

    result = export_student(args.run_dir, args.export_format, args.out, overwrite=args.overwrite, data=args.data,
                            data_path=args.data_path, n_verify=args.n_verify, onnx_exporter=args.onnx_exporter)
    print(f"wrote {result.path} and {result.sidecar.name}; {result.verification.describe()}")
    print(f"serving check: art-bmtad eval --model {shlex.quote(str(result.path))}")
    return 0
