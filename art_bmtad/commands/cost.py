"""``art-bmtad cost``: what a model costs at inference (``art_bmtad.deploy.cost``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from art_bmtad.commands import add_command
from art_bmtad.commands.recipe_options import add_device_options, add_output_options, at_least

DESCRIPTION = """\
The inference cost of one or more models, each a run folder (its student), a saved student file, or a
registered model name such as timm/resnet18 (fresh weights: cost does not depend on their values):
parameters, FLOPs per image (torch.utils.flop_counter; a multiply-add is 2 FLOPs), weight size on disk,
peak activation memory of one forward, and latency and throughput at batch 1 and at --batch-size, after a
warm-up, as the median and spread of --repeats timed forwards in inference mode. The model runs with its
normalisation folded in, on [0, 1] pixels, as an exported student would.

Examples:
  art-bmtad cost runs/student
  art-bmtad cost runs/smoke/bmtard timm/resnet18 --data digits --threads 1 --out cost.json
  art-bmtad cost runs/student --device cuda --batch-size 256 --repeats 50"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, run, "cost", help="inference cost: params, FLOPs, weights, memory, latency",
                         description=DESCRIPTION)
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="a run folder, a saved student (.safetensors), or a model name (e.g. timm/resnet18)")
    parser.add_argument("--batch-size", type=at_least(1), default=128, metavar="B",
                        help="the batch size timed besides 1 (default: %(default)s)")
    parser.add_argument("--repeats", type=at_least(3), default=20, metavar="N",
                        help="timed forwards per batch size (default: %(default)s)")
    parser.add_argument("--warmup", type=at_least(0), default=5, metavar="N",
                        help="untimed forwards before them (default: %(default)s)")
    data = parser.add_argument_group("data")
    data.add_argument("--data", default="cifar10", metavar="SOURCE",
                      help="for model names: the dataset that sets classes and input size (default: %(default)s)")
    data.add_argument("--dataset", dest="data", help=argparse.SUPPRESS)  # the earlier spelling still works
    add_device_options(parser)
    output = add_output_options(parser, out_help="also write the reports to this JSON file", metavar="FILE")
    output.add_argument("--json", dest="out", type=Path, help=argparse.SUPPRESS)  # the earlier spelling
    output.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return parser


def run(args: argparse.Namespace) -> int:
    """Load every model first (a bad name stops before any timing), measure each, print the table.

    Args:
        args: the parsed command line.

    Returns:
        0.
    """
    from art_bmtad.deploy.cost import cost_table, measure_cost
    from art_bmtad.deploy.folded import fold_normalisation
    from art_bmtad.deploy.sources import load_source
    from art_bmtad.run import check_output_file, write_atomic
    from art_bmtad.utils.device import physical_cores, resolve_device

    if args.out is not None:
        check_output_file(args.out, option="--out", overwrite=args.overwrite)
    device = resolve_device(args.device or "auto")
    sources = [load_source(model, device=str(device), dataset=args.data) for model in args.models]
    reports = [
        measure_cost(fold_normalisation(source.classifier), source.classifier.input_shape, label=source.label,
                     device=device, batch_sizes=(1, args.batch_size), repeats=args.repeats, warmup=args.warmup,
                     threads=args.threads or physical_cores(), weights_file=source.weights_file)
        for source in sources
    ]
    print(cost_table(reports), end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, json.dumps([report.to_dict() for report in reports], indent=2) + "\n")
    return 0

