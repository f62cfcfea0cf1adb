"""The package's layout holds: no import cycle, no module importing another's private names,
and each sandbox kind keeping its operations at home (issue 12). Reads the source with ast;
nothing is imported or run."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "sandprint"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in module ``name``,
    at the top or inside a function, relative imports resolved."""
    path = MODULES[name]
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, [a.name for a in node.names], node.lineno))
    return out


def _edges() -> dict[str, set[str]]:
    """module -> the sandprint modules it imports (``from pkg import sub`` counts as sub)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for mod, names, _line in _imports(m):
            if not mod.startswith("sandprint"):
                continue
            targets = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in MODULES]
            if len(targets) < len(names) or not names:
                targets.append(mod)
            graph[m].update(t for t in targets if t in MODULES and t != m)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected part with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    parts: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return parts


def _is_parent_package(importer: str, imported: str) -> bool:
    return importer.startswith(imported + ".")


def test_no_import_cycle():
    graph = _edges()
    # a package's __init__ importing its own modules, which import the package back for a
    # sibling, is not a cycle between modules: leave out module -> its own parent package
    graph = {m: {t for t in ts if not _is_parent_package(m, t)} for m, ts in graph.items()}
    assert _cycles(graph) == []


def test_the_walker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_private_names_of_another():
    bad = []
    for m in MODULES:
        for mod, names, line in _imports(m):
            if not mod.startswith("sandprint"):
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{MODULES[m].relative_to(PKG.parent)}:{line} takes {n} from {mod}")
    assert bad == []


def test_each_sandbox_kind_has_one_home():
    # the modules the issue 12 layout removed stay removed, and the homes exist
    for gone in ("merging", "diffing", "seccomp_profile", "check", "compare", "fix",
                 "reports.text", "reports.html", "profiler.recording", "k8s.pods"):
        assert f"sandprint.{gone}" not in MODULES, gone
    for home in ("recording", "seccomp.profile", "seccomp.formats", "seccomp.ops",
                 "seccomp.filter", "landlock.config", "landlock.ops", "landlock.ruleset",
                 "verify.replay", "verify.judge", "verify.fix", "verify.drift",
                 "profiler.session", "profiler.pod_record", "k8s.manifests", "k8s.install"):
        assert f"sandprint.{home}" in MODULES, home


def test_recording_model_is_read_from_its_own_module():
    # later stages read the model from sandprint.recording, never from inside the recorder
    for m in MODULES:
        if m.startswith("sandprint.profiler"):
            continue
        for mod, _names, line in _imports(m):
            assert mod != "sandprint.profiler.recording", f"{m}:{line}"


def test_the_cli_offers_the_names_of_the_enums():
    """click checks a closed set's names before the library parses them into its enum: the
    lists are the enums' own (the CLI does not import the enums, which would load jsonschema
    on every start)."""
    from sandprint.cli import main
    from sandprint.landlock.compat import CompatLevel
    from sandprint.landlock.config import RulesetFormat
    from sandprint.seccomp.profile import DefaultAction, ProfileFormat

    def choices(command, option):
        param = next(p for p in command.params if option in p.opts)
        return sorted(param.type.choices)

    generate = main.commands["generate"]
    assert choices(generate.commands["seccomp"], "--default-action") == \
        sorted(a.value for a in DefaultAction)
    assert choices(generate.commands["seccomp"], "--format") == \
        sorted(f.value for f in ProfileFormat)
    assert choices(generate.commands["landlock"], "--format") == \
        sorted(f.value for f in RulesetFormat)
    assert choices(main.commands["exec"], "--compat") == sorted(c.value for c in CompatLevel)
