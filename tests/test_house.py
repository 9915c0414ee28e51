"""The package's shape: data flows one way (routes -> domain -> store), so no module imports
another that imports it back, no import hides inside a function to dodge a cycle, and domain
modules never read the request. Read with `ast` from the source, nothing imported."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fieldwalk"
README = PACKAGE.parent / "README.md"

# Domain and store modules: functions that take plain values and a database. They may read
# the app's configuration, never the request, the request's user or the session.
DOMAIN = (
    "geo",
    "ids",
    "categories",
    "routing",
    "spreadsheet",
    "gis",
    "observations/model",
    "observations/record",
    "observations/serialize",
    "observations/duplicates",
    "observations/moderation",
    "observations/personal",
    "photos/pipeline",
    "photos/files",
    "photos/model",
    "photos/attach",
    "photos/faces",
    "photos/public",
    "photos/redact",
    "places/model",
    "places/summary",
    "places/transfer",
    "walks/model",
    "parties/model",
    "zones/model",
    "tasks/states",
    "tasks/model",
    "tasks/suggest",
    "tasks/links",
    "tasks/progress",
    "tasks/closure",
    "privacy/retention",
    "privacy/devices",
    "privacy/export",
    "open311/formats",
    "open311/services",
    "open311/public",
    "open311/georeport",
    "open311/intake",
    "open311/client",
    "open311/channel",
    "tasks/notices",
    "tasks/conversation",
    "tasks/cases",
    "tasks/bulk",
    "tasks/party_record",
    "residents/model",
    "users",
    "mail",
    "ops/keys",
    "reports/periods",
    "reports/figures",
)
REQUEST_STATE = {"request", "g", "session"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(node: ast.Import | ast.ImportFrom, here: str, is_package: bool) -> list[str]:
    """The fieldwalk modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = here.split(".") if is_package else here.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([node.module] if node.module else [])])
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("fieldwalk"):
            found.append(name)
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Each module's fieldwalk imports, and every import made inside a function."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    local: list[str] = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        inner = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            # flaskr's factory registers the blueprints inside create_app
            and not (name == "fieldwalk" and function.name == "create_app")
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = imported_modules(node, name, path.name == "__init__.py")
                if targets and id(node) in inner:
                    local.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
                graph[name].update(t for t in targets if t != name and name != "fieldwalk")
    return graph, local


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle():
    graph, _local = import_graph()
    assert len(graph) > 40
    assert cycles(graph) == []


def test_cycle_finder_sees_a_cycle():
    """The check above can fail: two modules importing each other are found."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_fieldwalk_import_is_hidden_inside_a_function():
    _graph, local = import_graph()
    assert local == []


def test_domain_modules_never_read_the_request():
    offenders = []
    for relative in DOMAIN:
        path = PACKAGE / f"{relative}.py"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                names = {alias.name for alias in node.names} & REQUEST_STATE
                offenders += [f"{relative}: {name}" for name in sorted(names)]
    assert offenders == []


def test_readme_code_map_names_every_module_and_folder():
    """README's code map is the house's floor plan: every module in it, nothing gone."""
    text = README.read_text()
    code_map = text[text.index("## Code map") :]
    code_map = code_map[: code_map.index("\n## ", 1)]
    named = set(re.findall(r"`(fieldwalk/[\w/]+(?:\.py)?)`", code_map))
    for entry in re.findall(r"`(fieldwalk/[\w/]+/)`[^|]*\|[^|]*", code_map):
        named.add(entry)
    listed = {
        f"fieldwalk/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }
    packages = {f"fieldwalk/{p.relative_to(PACKAGE).as_posix()}/" for p in PACKAGE.glob("*/")}
    packages = {p for p in packages if (PACKAGE.parent / p / "__init__.py").exists()}
    mentioned = set()
    for row in code_map.splitlines():
        for folder in re.findall(r"`(fieldwalk/\w+/)`", row):
            for name in re.findall(r"`(\w+)\.py`", row):
                mentioned.add(f"{folder}{name}.py")
    mentioned |= {n for n in named if n.endswith(".py")}
    assert sorted(listed - mentioned) == []
    assert sorted(packages - named) == []
    assert sorted(n for n in mentioned if not (PACKAGE.parent / n).exists()) == []
