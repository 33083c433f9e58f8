"""The architecture as the source states it: imports run one way, with no cycle, and the tree stays readable.

The import graph is built from the source files (every ``import`` and ``from ... import``, at any
depth), so the test fails on a cycle or an upward import even where it is hidden in a function.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from nr_helpers import REPO

PACKAGES = ("neurender", "scenes", "data_gen")
LAYERS = (
    ("neurender.base",),
    ("scenes",),
    ("data_gen",),
    ("neurender.effects", "neurender.space", "neurender.metrics", "neurender.data", "neurender.stats",
     "neurender.device"),
    ("neurender.models", "neurender.baselines"),
    ("neurender.run",),
    ("neurender.training", "neurender.inference"),
    ("neurender.evaluation",),
    ("neurender.commands", "neurender.__main__"),
)
"""Lowest first: a module imports only from its own layer or the ones below (docs/architecture.md)."""
FUNCTION_IMPORTS_ALLOWED = ("neurender.commands", "data_gen.worker")
"""Command entry points and render workers may import the project inside a function; nothing else."""
MAX_LOOSE_MODULES = 8


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _target(name: str, modules: dict) -> str | None:
    """The project module an imported name refers to (a module, or the module holding the name)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path, modules: dict) -> list[tuple[str, bool]]:
    """(imported project module, imported inside a function) of every import statement in ``path``."""
    tree, found = ast.parse(path.read_text()), []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [f"{child.module}.{alias.name}" for alias in child.names]
            for name in names:
                target = _target(name, modules)
                if target:
                    found.append((target, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {t for t, _ in _imports(path, modules) if t != name} for name, path in modules.items()}


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no layer of LAYERS: add it to docs/architecture.md and here")


def test_the_import_graph_has_no_cycle():
    graph, state, stack = _graph(), {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_a_cycle_is_found_when_there_is_one(monkeypatch):
    """The cycle check itself can fail: a graph with a loop is refused."""
    import pytest

    monkeypatch.setattr(sys.modules[__name__], "_graph", lambda: {"a": {"b"}, "b": {"c"}, "c": {"a"}})
    with pytest.raises(AssertionError, match="a -> b -> c -> a"):
        test_the_import_graph_has_no_cycle()


def test_imports_run_one_way():
    upward = [f"{module} imports {target}" for module, targets in _graph().items() for target in targets
              if _layer(target) > _layer(module)]
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


SIDE_BY_SIDE = ("neurender.training", "neurender.inference")
"""Layers whose packages stand beside each other: prediction never imports training, nor training inference."""


def test_prediction_and_training_stand_side_by_side():
    graph = _graph()
    crossing = [f"{module} imports {target}" for module, targets in graph.items() for target in targets
                for a in SIDE_BY_SIDE for b in SIDE_BY_SIDE
                if a != b and module.startswith(a) and target.startswith(b)]
    assert not crossing, "\n".join(sorted(crossing))


def test_project_imports_inside_functions_only_in_entry_points_and_workers():
    modules = _modules()
    hidden = [f"{name} imports {target} in a function" for name, path in modules.items()
              if not name.startswith(FUNCTION_IMPORTS_ALLOWED)
              for target, in_function in _imports(path, modules) if in_function]
    assert not hidden, "\n".join(hidden)


def test_few_modules_loose_at_the_top_of_neurender():
    loose = sorted(p.name for p in (REPO / "neurender").glob("*.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, loose
    for package in (p for p in (REPO / "neurender").iterdir() if any(p.glob("*.py"))):
        init = package / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), \
            f"{package.name}/__init__.py says what it owns and may import"


def test_the_test_folders_are_the_packages():
    """tests/ mirrors the code: tests/neurender/NAME/ holds the tests of the subpackage neurender.NAME."""
    folders = [p for p in (REPO / "tests" / "neurender").iterdir() if p.is_dir() and any(p.glob("test_*.py"))]
    assert folders and all((REPO / "neurender" / p.name / "__init__.py").is_file() for p in folders), folders
    assert not [p for p in (REPO / "tests").iterdir() if p.is_dir() and any(p.glob("test_*.py"))
                and not (REPO / p.name / "__init__.py").is_file()], "a top-level test folder is a top-level package"


def test_help_and_version_import_neither_torch_nor_mitsuba_nor_tyro():
    code = ("import sys; from neurender.commands.cli import main; main(['--help']); main(['--version']); "
            "print(sorted(m for m in ('torch', 'mitsuba', 'drjit', 'tyro') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    from importlib.metadata import version

    assert out.strip().splitlines()[-1] == "[]", out
    assert f"neurender {version('neurender')}" in out and "bench predict" in out


def test_predict_runs_without_a_training_module(pair_dataset, tmp_path):
    """Issue 49: `neurender predict --checkpoint pretrained:ao` built out of training (the GAN's
    discriminator, two optimisers, TensorBoard); now its walk enters no ``neurender.training`` module."""
    view = next(pair_dataset.rglob("000.exr"))
    code = ("import sys; from neurender.commands.cli import main; "
            f"status = main(['predict', '--checkpoint', 'pretrained:ao', '--input', {str(view)!r}, '--out', "
            f"{str(tmp_path / 'out')!r}]); "
            "print(status, sorted(m for m in sys.modules if m.startswith('neurender.training') or m == 'tensorboard'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []", out
    assert list((tmp_path / "out").rglob("*.exr"))
