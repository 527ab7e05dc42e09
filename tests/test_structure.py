"""The package's shape: imports point downward and never in a circle; modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "depthblur_cli"

#: Layers, lowest first: a module may import only from its own layer or below.
#: command -> batch/pipeline -> render/estimation/models/imaging -> colour/errors.
#: The wings ``batch``, ``options`` and ``pipeline`` hold modules of several layers; their
#: packages themselves are empty (:func:`test_wing_packages_import_nothing`).
LAYERS = [
    (
        "depthblur_cli",
        "depthblur_cli.errors",
        "depthblur_cli.memory",
        "depthblur_cli.batch",
        "depthblur_cli.options",
        "depthblur_cli.pipeline",
        "depthblur_cli.options.defaults",
    ),
    (
        "depthblur_cli.colour",
        "depthblur_cli.threads",
        "depthblur_cli.resample",
        "depthblur_cli.imaging.arrays",
        "depthblur_cli.pipeline.records",
        "depthblur_cli.models.paths",
        "depthblur_cli.imaging.formats",
        "depthblur_cli.imaging.files",
        "depthblur_cli.imaging.patterns",
        "depthblur_cli.imaging.pixels",
        "depthblur_cli.imaging.storage",
        "depthblur_cli.imaging.metadata",
    ),
    (
        "depthblur_cli.models",
        "depthblur_cli.imaging",
        "depthblur_cli.estimation",
        "depthblur_cli.render",
        "depthblur_cli.render.effects",
        "depthblur_cli.pipeline.outputs",
    ),
    ("depthblur_cli.pipeline.options", "depthblur_cli.pipeline.compose", "depthblur_cli.pipeline.modelbox"),
    (
        "depthblur_cli.pipeline.photo",
        "depthblur_cli.batch.run",
        "depthblur_cli.batch.engines",
        "depthblur_cli.batch.cluster",
    ),
    ("depthblur_cli.api", "depthblur_cli.cli", "depthblur_cli.server", "depthblur_cli.__main__"),
]

#: Longest module, lines; the renderer's orchestration is one cohesive algorithm.
MAX_LINES = 500
#: Most modules directly under the package: the root floor is a few wings, not a flat room.
MAX_ROOT_MODULES = 10
#: Packages that only group modules of different layers: no code, no imports.
WINGS = ("batch", "options", "pipeline")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best, rank = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, rank = len(name), i
    assert rank is not None, f"{module} is in no layer of tests/test_structure.py"
    return rank


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("depthblur_cli"):
                found.add(node.module)
                for alias in node.names:  # "from depthblur_cli.render import coc" imports a module
                    if (
                        (PACKAGE.parent / (node.module + "." + alias.name).replace(".", "/"))
                        .with_suffix(".py")
                        .exists()
                    ):
                        found.add(node.module + "." + alias.name)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("depthblur_cli")}
        found.discard(name)
        graph[name] = found
    return graph


def test_imports_point_downward():
    wrong = []
    for module, targets in _imports().items():
        if module == "depthblur_cli":
            continue  # the package root imports the one-call API lazily, on first use
        for target in targets:
            if _layer(target) > _layer(module):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports pointing upward: " + ", ".join(sorted(wrong))


def test_import_graph_has_no_cycle():
    graph = {m: {t for t in ts if t in _imports_keys()} for m, ts in _imports().items() if m != "depthblur_cli"}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def _imports_keys() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("*.py")} - {"depthblur_cli"}


def test_no_module_is_too_long():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_root_floor_is_a_few_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, f"{len(root)} modules directly under depthblur_cli/: {root}"


def test_wing_packages_import_nothing():
    for wing in WINGS:
        tree = ast.parse((PACKAGE / wing / "__init__.py").read_text(encoding="utf-8"))
        code = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        assert not code, f"depthblur_cli/{wing}/__init__.py holds code: the wing's modules are imported by name"


#: Longest function body, lines (its docstring not counted; a long signature is fine).
MAX_BODY_LINES = 80


def test_no_function_body_is_too_long():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                documented = len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                start = body[1].lineno if documented else body[0].lineno
                if (node.end_lineno or start) - start + 1 > MAX_BODY_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert not long, f"function bodies over {MAX_BODY_LINES} lines: {long}"


def test_the_tests_mirror_the_package():
    tests = Path(__file__).resolve().parent
    wings = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    missing = [w for w in wings if not any((tests / w).glob("test_*.py"))]
    assert not missing, f"wings with no tests/<wing>/test_*.py: {missing}"
    strays = sorted(p.name for p in tests.glob("*/") if p.is_dir() and p.name not in {*wings, "__pycache__"})
    assert strays == [], f"test folders that are no wing of the package: {strays}"
