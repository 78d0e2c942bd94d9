"""Every Python and console block of README.md and docs/*.md runs here, and what a block shows as output is compared.

The blocks are run with Sybil. Of the three tools that run documentation examples (pytest-examples, Sybil,
pytest-codeblocks), Sybil is the one whose parsers are plain objects we can extend: it gives every document one
namespace, so a page's blocks build on each other as a reader runs them; it reads directives from HTML comments
that the rendered page hides (``<!-- skip: next "reason" -->`` marks a block as not run and says why, and pytest
reports that reason); and a parser of a few lines runs ``console`` blocks and compares their shown output.
pytest-examples checks Python blocks only (and lints them); pytest-codeblocks runs Python and shell blocks but
has no shared per-page state beyond concatenation and no place for a skip reason the rendered page hides.

Conventions the pages follow:

* ``python`` blocks run in order in one namespace per page, in a fresh working folder per page; what they print
  is compared with an ``output`` block right after them (doctest's ``...`` and whitespace rules).
* ``console`` blocks run in bash in the same folder with ``art-bmtad`` on the PATH. Lines starting with ``$ ``
  are commands followed by the output they must print (``...`` matches anything, ``<cwd>`` is the working
  folder); a block without prompts is one script that must succeed.
* A block that cannot run here (it needs a GPU, published weights, CIFAR-10, a network or an hour) is preceded
  by ``<!-- skip: next "why" -->``; ``test_every_block_runs_or_says_why`` holds every page to that.
* Teachers go to one teacher cache for the whole session, so pages that use the same small teachers train them
  once.
"""
from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import SkipTest

import pytest
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN_LANGUAGES = ("python", "console")
SLOW_PAGES = {"cli.md", "tuning.md", "teachers.md", "evaluation.md", "distributed.md", "deployment.md",
              "tracking.md"}
"""Pages whose blocks train several runs (tens of seconds each): run with the slow tests."""
BLOCK_TIMEOUT_S = 600
LAST_OUTPUT = "__shown_output__"
CHECKER = doctest.OutputChecker()
CHECK_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run_python(example: Example) -> None:
    """Execute the block in the page's namespace; keep what it printed for an ``output`` block after it."""
    __tracebackhide__ = True
    source = "\n" * example.line + example.parsed
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, example.path, "exec"), example.namespace)  # noqa: S102 - the page's own code
    example.namespace.pop("__builtins__", None)
    example.namespace[LAST_OUTPUT] = printed.getvalue()


def check_output(example: Example) -> None:
    """Compare the block before (which must have run) with this shown output."""
    printed = example.namespace.pop(LAST_OUTPUT, None)
    if printed is None:
        raise SkipTest("the block this output belongs to did not run")
    _compare(example.parsed, printed, f"{example.path}:{example.line}")


def run_console(example: Example) -> None:
    """Run the block in bash: prompted commands with their shown output, or the whole block as one script."""
    lines = str(example.parsed).splitlines()
    where = f"{example.path}:{example.line}"
    if not any(line.startswith("$ ") for line in lines):
        _bash("set -eo pipefail\n" + "\n".join(lines), where, expect_error=False)
        return
    for command, shown in _sessions(lines):
        expect_error = ": error:" in shown
        printed = _bash(command, where, expect_error=expect_error)
        _compare(shown.replace("<cwd>", os.getcwd()), printed, f"{where}: $ {command}")


def _sessions(lines: list[str]) -> list[tuple[str, str]]:
    """Split a prompted block into (command, shown output); a command continues over trailing backslashes."""
    sessions: list[tuple[str, list[str]]] = []
    continuing = False
    for line in lines:
        if line.startswith("$ ") or continuing:
            text = line[2:] if line.startswith("$ ") and not continuing else line
            if continuing:
                sessions[-1] = (sessions[-1][0] + "\n" + text, sessions[-1][1])
            else:
                sessions.append((text, []))
            continuing = line.rstrip().endswith("\\")
        elif sessions:
            sessions[-1][1].append(line)
    return [(command, "\n".join(shown) + "\n") for command, shown in sessions]


def _bash(script: str, where: str, *, expect_error: bool) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "200"}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=BLOCK_TIMEOUT_S)
    if expect_error:
        assert done.returncode != 0, f"{where}: expected an error from\n{script}\nbut it succeeded"
        said = (done.stdout + done.stderr).splitlines()
        return "".join(line + "\n" for line in said if line.startswith("art-bmtad"))  # the CLI's own lines
    assert done.returncode == 0, (f"{where}: exit status {done.returncode} from\n{script}\n"
                                  f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
    return done.stdout


def _compare(shown: str, printed: str, where: str) -> None:
    shown = shown if shown.endswith("\n") else shown + "\n"
    assert CHECKER.check_output(shown, printed, CHECK_FLAGS), (
        f"{where}: the page shows\n{shown}but the run printed\n{printed}")


SYBIL = Sybil(parsers=[SkipParser(), CodeBlockParser("python", run_python), CodeBlockParser("output", check_output),
                       CodeBlockParser("console", run_console)])


@pytest.fixture(scope="session")
def teacher_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("teacher-cache")


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _marks(path: Path) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if path.name in SLOW_PAGES else []


@pytest.mark.parametrize("page", [pytest.param(p, id=_page_id(p), marks=_marks(p)) for p in PAGES])
def test_page_blocks_run(page: Path, tmp_path: Path, teacher_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ART_BMTAD_CACHE", str(teacher_cache))
    document = SYBIL.parse(page)
    ran = 0
    for example in document.examples():
        try:
            example.evaluate()
        except SkipTest:
            document.namespace.pop(LAST_OUTPUT, None)  # an output block after a skipped block is not compared
            continue
        ran += 1
    if ran == 0:
        pytest.skip("no block of this page runs here")


FENCE = re.compile(r"^```(\w+)", re.MULTILINE)
SKIP_WITH_REASON = re.compile(r'<!--\s*skip:\s*next\s+"[^"]{10,}"\s*-->\s*$')


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_block_runs_or_says_why(page: Path) -> None:
    """A Python or console block is either run or preceded by a skip directive that gives a reason."""
    text = page.read_text(encoding="utf-8")
    lines = text.splitlines()
    unexplained = []
    for match in FENCE.finditer(text):
        if match.group(1) not in RUN_LANGUAGES:
            continue
        line = text.count("\n", 0, match.start())
        before = lines[line - 1] if line else ""
        if "skip:" in before and not SKIP_WITH_REASON.search(before):
            unexplained.append(f"{page.name}:{line + 1}: {before.strip()}")
    assert not unexplained, "skipped blocks must say why:\n" + "\n".join(unexplained)
