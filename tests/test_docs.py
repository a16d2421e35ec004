"""The docs run as written: every shell command, Python block and TOML config of README.md and docs/*.md.

What is run:
- shell: each line of a ```sh / ```bash / ```console block, each line of a bare ``` block that starts
  with a command (`deepsci`, `python`, `.venv/bin/python`; a leading `$ ` is dropped and the lines after
  it are its output), and each indented `deepsci ...` line of the text. Commands run through bash in a
  workspace that mirrors the repository root (its entries linked, so `runs/` and output files land in
  the workspace), one workspace per doc, in the doc's order, with `.venv/bin` first on PATH and
  DEEPSCI_FAST=1 (training commands cap their epochs, deepsci.cli.fast). Before it on PATH, a warm `deepsci`
  (tests/warm_deepsci.py) runs each command in a process forked from one that imported the library once.
- python: each ```python block, in the doc's order, in one interpreter per doc (a block sees the names of
  the blocks before it; a child of the warm one, which imported the library only), in the same workspace.
- toml: each ```toml block must parse and validate as a config: a whole config (one with `name`) as
  written, a fragment (a section) completed with `name` and a bundled `data.source`; one whose [train] names
  an equation (`train.physics`) as a physics-informed config.

A block that cannot run as written (a placeholder path, an hour-long benchmark) is marked in the doc by
`<!-- no-run -->` on the line before it: it is reported as skipped, with its line. Nothing is skipped
otherwise. Test ids name the doc and the block's first line: `README.md:22`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NO_RUN = "<!-- no-run -->"
SHELL_LANGS = {"sh", "bash", "shell", "console"}
COMMAND = re.compile(r"^(\$ )?(deepsci|python3?|\.venv/bin/\S+|make)\b")
TIMEOUT = 900  # seconds for one command or one doc's Python blocks

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    """One runnable piece of a doc: `kind` is "shell", "python" or "toml"; `line` is 1-based."""

    doc: Path
    line: int
    kind: str
    code: str
    no_run: bool

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def extract(doc: Path) -> list[Block]:
    """Every shell command, Python block and TOML block of a Markdown file, in order."""
    lines = doc.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        marked = i > 0 and lines[i - 1].strip() == NO_RUN
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence:
            lang = fence.group(1).lower()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
            body = lines[i + 1:end]
            blocks += _fenced(doc, i + 2, lang, body, marked)
            i = end + 1
            continue
        if re.match(r"^ {4,}deepsci\b", line):
            blocks.append(Block(doc, i + 1, "shell", line.strip(), marked))
        i += 1
    return blocks


def _fenced(doc: Path, first: int, lang: str, body: list[str], marked: bool) -> list[Block]:
    """The runnable pieces of one fenced block whose first body line is `first`."""
    if lang == "python":
        return [Block(doc, first - 1, "python", textwrap.dedent("\n".join(body)), marked)]
    if lang == "toml":
        return [Block(doc, first - 1, "toml", "\n".join(body), marked)]
    if lang in SHELL_LANGS or (lang == "" and any(COMMAND.match(b.strip()) for b in body)):
        prompted = any(b.strip().startswith("$ ") for b in body)
        commands = []
        for k, text in enumerate(body):
            text = text.strip()
            if not text or text.startswith("#") or (prompted and not text.startswith("$ ")):
                continue  # a comment, or the output printed after a `$ ` command
            commands.append((first + k, text.removeprefix("$ ")))
        return [Block(doc, first - 1, "shell", "\n".join(f"{n}\t{c}" for n, c in commands), marked)]
    return []  # prose in a fence (output, a table, a diagram): not code


ALL = [b for doc in DOCS for b in extract(doc)]


# -- workspaces -------------------------------------------------------------------------------------
_workspaces: dict[Path, Path] = {}


def workspace(doc: Path) -> Path:
    """A folder mirroring the repository root (its entries linked, `runs` left out) for one doc."""
    if doc not in _workspaces:
        folder = Path(tempfile.mkdtemp(prefix=f"docs-{doc.stem}-"))
        for entry in ROOT.iterdir():
            if entry.name not in ("runs", ".git", ".pytest_cache", ".mypy_cache") and not entry.name.endswith(".csv"):
                (folder / entry.name).symlink_to(entry)
        _workspaces[doc] = folder
    return _workspaces[doc]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DEEPSCI_FAST"] = "1"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@functools.cache
def warm_bin() -> Path:
    """The folder of the warm `deepsci` and `warm-python` (tests/warm_deepsci.py: the library imported once per
    test worker instead of once per command), started on first use."""
    spec = importlib.util.spec_from_file_location("warm_deepsci", Path(__file__).with_name("warm_deepsci.py"))
    assert spec is not None and spec.loader is not None
    warm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(warm)
    folder = Path(tempfile.mkdtemp(prefix="warm-"))
    warm.install(folder, environment())
    return folder


def command_environment() -> dict[str, str]:
    """environment(), with the warm `deepsci` first on PATH."""
    env = environment()
    env["PATH"] = f"{warm_bin()}{os.pathsep}{env['PATH']}"
    return env


# -- running ----------------------------------------------------------------------------------------
def run_shell(block: Block) -> None:
    for entry in block.code.splitlines():
        number, command = entry.split("\t", 1)
        done = subprocess.run(["bash", "-c", command], cwd=workspace(block.doc), env=command_environment(),
                              capture_output=True, text=True, timeout=TIMEOUT)
        if done.returncode != 0:
            pytest.fail(f"{block.doc.relative_to(ROOT)}:{number}: `{command}` exited {done.returncode}\n"
                        f"stdout (end):\n{done.stdout[-2000:]}\nstderr (end):\n{done.stderr[-3000:]}", pytrace=False)


_python_results: dict[Path, dict[int, str]] = {}

RUNNER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
results = {}
failed = None
for line, code in blocks:
    if failed is not None:
        results[line] = f"not run: the block at line {failed} failed first"
        continue
    try:
        exec(compile(code, f"<{sys.argv[2]}:{line}>", "exec"), namespace)
        results[line] = "ok"
    except BaseException:
        results[line] = traceback.format_exc(limit=-6)
        failed = line
json.dump(results, open(sys.argv[3], "w"))
"""


def python_results(doc: Path) -> dict[int, str]:
    """Run the doc's Python blocks (not marked no-run) in order, in one interpreter of their own (forked from the
    warm one); status per block."""
    if doc not in _python_results:
        blocks = [(b.line, b.code) for b in ALL if b.doc == doc and b.kind == "python" and not b.no_run]
        folder = workspace(doc)
        spec, result = folder / ".docs-blocks.json", folder / ".docs-results.json"
        spec.write_text(json.dumps(blocks))
        command = [str(warm_bin() / "warm-python"), "-c", RUNNER, str(spec), str(doc.relative_to(ROOT)), str(result)]
        done = subprocess.run(command, cwd=folder, env=environment(), capture_output=True, text=True, timeout=TIMEOUT)
        if not result.is_file():
            message = f"the interpreter died (exit {done.returncode}): {done.stderr[-3000:]}"
            _python_results[doc] = {line: message for line, _ in blocks}
        else:
            _python_results[doc] = {int(k): v for k, v in json.loads(result.read_text()).items()}
    return _python_results[doc]


def check_toml(block: Block) -> None:
    import tomllib

    from deepsci.config import config_from_dict
    from deepsci.config.physics import is_physics, physics_config_from_dict

    raw = tomllib.loads(block.code)
    if is_physics(raw):  # a physics-informed run: an equation, no [data] (deepsci.config.physics)
        physics_config_from_dict({"name": "doc", **raw}, source=block.id)
        return
    if "name" not in raw:  # a fragment (one section): completed into the smallest whole config
        raw["name"] = "doc"
        data = raw.setdefault("data", {})
        if isinstance(data, dict):
            data.setdefault("source", "solubility")
    config_from_dict(raw, source=block.id)  # a whole config (it has a name) is validated as written


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_doc_block_runs_as_written(block: Block) -> None:
    if block.no_run:
        pytest.skip(f"{block.id} is marked {NO_RUN} in the doc")
    if block.kind == "shell":
        run_shell(block)
    elif block.kind == "python":
        status = python_results(block.doc).get(block.line, "the runner returned no result for this block")
        if status != "ok":
            pytest.fail(f"{block.id}: python block failed\n{status}", pytrace=False)
    else:
        check_toml(block)


def test_the_harness_finds_the_docs_blocks(capsys) -> None:
    """The extractor sees the blocks the docs hold (a change in fences must not make them vanish)."""
    counts = {kind: sum(1 for b in ALL if b.kind == kind and not b.no_run) for kind in ("shell", "python", "toml")}
    marked = [b.id for b in ALL if b.no_run]
    commands = sum(len(b.code.splitlines()) for b in ALL if b.kind == "shell" and not b.no_run)
    with capsys.disabled():
        print(f"\ndocs harness: {len(DOCS)} docs, {counts['shell']} shell blocks ({commands} commands), "
              f"{counts['python']} python blocks, {counts['toml']} toml blocks run; {len(marked)} marked no-run: "
              f"{', '.join(marked) or 'none'}")
    assert counts["shell"] >= 3 and counts["python"] >= 2 and commands >= 8
    readme = [b for b in ALL if b.doc.name == "README.md"]
    assert {"shell", "python"} <= {b.kind for b in readme}


def test_extract_reads_every_kind_of_block(tmp_path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text(textwrap.dedent("""\
        text
        ```sh
        deepsci datasets   # list
        # a comment
        deepsci fit x.toml
        ```
        ```
        $ deepsci theory critical
        output line
        ```
        ```
        plain output, no command
        ```
        <!-- no-run -->
        ```python
        x = 1
        ```
            deepsci evaluate runs/x data.csv
        ```toml
        [train]
        epochs = 2
        ```
        """))
    blocks = extract(doc)
    assert [(b.kind, b.line, b.no_run) for b in blocks] == [
        ("shell", 2, False), ("shell", 7, False), ("python", 15, True), ("shell", 18, False), ("toml", 19, False)]
    assert blocks[0].code == "3\tdeepsci datasets   # list\n5\tdeepsci fit x.toml"
    assert blocks[1].code == "8\tdeepsci theory critical"
