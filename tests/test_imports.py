"""The import graph of src/deepsci has no cycle (DESIGN.md: the flow runs one way).

Every import counts, lazy ones inside functions included; imports under `if TYPE_CHECKING:` do not
(they never run). A package's `__init__` is a module of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in (SRC / "deepsci").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # drop TYPE_CHECKING blocks before collecting imports
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            node.body = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """The first cycle of a directed graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_sees_a_cycle_and_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_deepsci() -> None:
    mods = _modules()
    known = set(mods)
    graph = {name: _imports(name, path, known) for name, path in mods.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# -- the layering of DESIGN.md: a room imports only rooms below it ---------------------------------------
#: each room's floor; a module may import its own room and rooms on lower floors. theory and evaluation
#: share a floor beside the flow; config assembles the spec types the rooms below own; folder and run are
#: the run folder, which reads weights into any model. analyses (the typed values the report draws: explanations,
#: the physics and molecule summaries) stands beside explain, whose results it gathers for experiment.
#: physics_run (a physics-informed run: an equation, no dataset) stands beside experiment.
FLOORS = {"errors": 0, "section": 0, "tasks": 1, "data": 2, "models": 3, "training": 4, "rules": 5, "evaluation": 6, "theory": 6,
          "explain": 7, "analyses": 7, "report": 8, "config": 9, "folder": 9, "run": 10, "notebook": 10, "experiment": 11, "physics_run": 11, "estimators": 12,
          "sweep": 12, "cli": 13, "__main__": 14, "": 14}
#: imports that still run upward, each with its reason (issue 22's note lists them)
UPWARD_ALLOWED = {
    # critical initialisation is the theory's result: its solver has one home (theory/criticality) and the
    # initialiser calls it on use, when init = "critical"
    ("deepsci.models.init", "deepsci.theory.criticality"),
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs of an import graph where a module imports a room on a higher floor."""
    return [(name, target) for name in sorted(graph) for target in sorted(graph[name] - {"deepsci"})
            if FLOORS[_room(target)] > FLOORS[_room(name)]]


def test_every_room_has_a_floor() -> None:
    rooms = {_room(m) for m in _modules()}
    assert rooms <= set(FLOORS), f"rooms without a floor in FLOORS: {sorted(rooms - set(FLOORS))}"


def test_no_room_imports_a_room_above_it() -> None:
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    found = [pair for pair in upward(graph) if pair not in UPWARD_ALLOWED]
    assert not found, "imports that run up the house: " + ", ".join(f"{a} -> {b}" for a, b in found)


def test_upward_sees_an_upward_import_and_not_a_downward_one() -> None:
    graph = {"deepsci.data.build": {"deepsci.training.trainer", "deepsci.tasks"}, "deepsci.training.trainer":
             {"deepsci.data.batch"}, "deepsci.tasks": set(), "deepsci.data.batch": set()}
    assert upward(graph) == [("deepsci.data.build", "deepsci.training.trainer")]


# -- dispatch by registry, not by name ------------------------------------------------------------------
def _comparisons(pattern: str, exclude: tuple[str, ...]) -> list[str]:
    import re

    regex = re.compile(pattern)
    hits = []
    for path in sorted((SRC / "deepsci").rglob("*.py")):
        rel = str(path.relative_to(SRC))
        if rel in exclude:
            continue
        hits += [f"{rel}:{i}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if regex.search(line)]
    return hits


def test_task_names_are_compared_in_at_most_five_places() -> None:
    """Tasks dispatch through deepsci.tasks (issue 22: 89 comparisons of a task name before)."""
    hits = _comparisons(r"task (==|!=|in|not in) ", exclude=("deepsci/tasks.py",))
    assert len(hits) <= 5, f"{len(hits)} comparisons of a task name: {hits}"


DATA_KIND_COMPARISON = (r"kind\)? *(==|!=|in|not in) *\(?[\"'](table|graph|signal|image|sequence|set|series|text|multi)"
                        r"[\"']")


def test_data_kinds_are_compared_in_at_most_five_places() -> None:
    """Data kinds dispatch through the builder registry (deepsci.data.build.BUILDERS)."""
    hits = _comparisons(DATA_KIND_COMPARISON, exclude=("deepsci/data/build.py",))
    assert len(hits) <= 5, f"{len(hits)} comparisons of a data kind: {hits}"


def test_the_comparison_patterns_see_a_comparison() -> None:
    import re

    assert re.search(DATA_KIND_COMPARISON, 'if dataset.summary.kind == "text":')
    assert re.search(DATA_KIND_COMPARISON, "if kind not in ('sequence', 'signal'):")
    assert not re.search(DATA_KIND_COMPARISON, 'if values.dtype.kind == "O":')
    assert re.search(r"task (==|!=|in|not in) ", 'if task == "regression":')
