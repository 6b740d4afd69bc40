"""The structure of ``portfolio/``'s imports, read from the source (nothing is imported here).

* Every import is at the top of its module. An import inside a function (``importlib.import_module``
  included) is allowed only for an optional heavy dependency or a job named by its path, on a line
  that says why: ``# lazy: <reason>`` (for a call, on its line or the line above).
* A module over 400 lines says why at its top (``Over 400 lines: <reason>`` in its docstring).
* No circle at module level. Importing ``a.b.c`` runs ``a/b/__init__.py`` first, so a package's
  ``__init__`` counts as imported too (unless it is a package of the importing module, which is being
  imported already); the root package ``portfolio`` is always imported first and is left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "portfolio"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(body: list[ast.stmt]):  # type: ignore[no-untyped-def]
    """The imports a module runs when it is imported (``if TYPE_CHECKING:`` blocks aside)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(handler.body for handler in node.handlers), node.orelse, node.finalbody):
                yield from _module_level_imports(block)
        elif isinstance(node, ast.With):
            yield from _module_level_imports(node.body)


def _targets(node: ast.Import | ast.ImportFrom, current: str) -> set[str]:
    """The ``portfolio`` modules an import statement runs, parent packages included."""
    named: set[str] = set()
    if isinstance(node, ast.Import):
        named = {alias.name for alias in node.names if alias.name in MODULES}
    else:
        base = node.module or ""
        if node.level:
            package = current.split(".") if MODULES[current].name == "__init__.py" else current.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            if f"{base}.{alias.name}" in MODULES:
                named.add(f"{base}.{alias.name}")
            elif base in MODULES:
                named.add(base)
    mine = current.split(".")
    being_imported = {".".join(mine[:i]) for i in range(1, len(mine) + 1)}
    parents = {".".join(name.split(".")[:i]) for name in named for i in range(2, name.count(".") + 1)}
    return (named - {current}) | (parents - being_imported)


def _graph() -> dict[str, set[str]]:
    return {name: set().union(*(_targets(node, name) for node in _module_level_imports(tree.body)))
            for name, tree in TREES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circle_at_module_level() -> None:
    assert _cycles(_graph()) == []


def test_the_circle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_a_package_init_counts_as_imported() -> None:
    # evidence's views import the assessment forms: that runs portfolio/blueprints/assessment/__init__.py
    node = ast.parse("from portfolio.blueprints.assessment.forms import AssessmentForm").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _targets(node, "portfolio.blueprints.evidence.views") == {
        "portfolio.blueprints.assessment.forms", "portfolio.blueprints.assessment"}


def _is_dynamic_import(node: ast.AST) -> bool:
    """``importlib.import_module(...)`` or ``__import__(...)``: an import the graph cannot see."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"})


def test_imports_inside_functions_say_why() -> None:
    unexplained = []
    for name, tree in TREES.items():
        lines = MODULES[name].read_text(encoding="utf-8").splitlines()
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                static = isinstance(node, ast.Import | ast.ImportFrom)
                if not (static or _is_dynamic_import(node)):
                    continue
                said = lines[node.lineno - 1] if static else lines[node.lineno - 2] + lines[node.lineno - 1]
                if "# lazy:" not in said:
                    unexplained.append(f"{MODULES[name].relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert sorted(set(unexplained)) == [], (
        "import at the top of the module; inside a function only an optional heavy dependency, "
        "with '# lazy: <reason>' on its line")


MAX_LINES = 400


def test_a_long_module_says_why() -> None:
    unexplained = [f"{MODULES[name].relative_to(ROOT)}: {len(MODULES[name].read_text(encoding='utf-8').splitlines())}"
                   for name, tree in TREES.items()
                   if len(MODULES[name].read_text(encoding="utf-8").splitlines()) > MAX_LINES
                   and "Over 400 lines:" not in (ast.get_docstring(tree) or "")]
    assert unexplained == [], "split the module, or say at its top why it is one: 'Over 400 lines: <reason>'"
