"""Time whole ``art-bmtad`` processes, the way a user's shell runs them: help, each sub-command's help, plugins.

Each command runs ``--runs`` times in a fresh interpreter; the table shows the median and the fastest wall time
against its target (help: 0.5 s, ``plugins``: 2 s), and the median CPU time (user + system) of the process, which
a busy machine inflates far less than the wall time. The exit status is 1 when a median wall time misses its
target.

    .venv/bin/python benchmarks/cli_speed.py            # 5 runs each
    .venv/bin/python benchmarks/cli_speed.py --runs 9
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from art_bmtad.cli import COMMANDS

HELP_TARGET_S = 0.5
PLUGINS_TARGET_S = 2.0


def cases() -> list[tuple[list[str], float]]:
    """Every command line to time with its target: top-level help, each sub-command's help, plugins."""
    help_cases = [["--help"], ["--version"], *([name, "--help"] for name in available_commands())]
    return [*((argv, HELP_TARGET_S) for argv in help_cases), (["plugins"], PLUGINS_TARGET_S)]


def available_commands() -> list[str]:
    """The sub-commands whose module exists in this checkout (the CLI skips the others)."""
    folder = Path(__file__).resolve().parents[1] / "art_bmtad" / "commands"
    return [name for name in COMMANDS if (folder / f"{name}.py").is_file()]


def executable() -> list[str]:
    """The installed ``art-bmtad`` script next to this interpreter, else ``python -m art_bmtad``."""
    script = Path(sys.executable).with_name("art-bmtad")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "art_bmtad"]


def time_command(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system) of ``runs`` runs of the command, output discarded."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([*executable(), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default: %(default)s)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{' '.join(executable())}: {args.runs} runs each, {os.cpu_count()} CPUs, load average {load:.2f} "
          f"at start\n")
    print("| command | median s | fastest s | CPU s (median) | target s | met |")
    print("|---|---:|---:|---:|---:|---|")
    missed = 0
    for argv, target in cases():
        seconds, cpu = time_command(argv, args.runs)
        median = statistics.median(seconds)
        missed += median >= target
        print(f"| `art-bmtad {' '.join(argv)}` | {median:.3f} | {min(seconds):.3f} | {statistics.median(cpu):.3f} | "
              f"{target:.1f} | {'yes' if median < target else '**no**'} |", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
