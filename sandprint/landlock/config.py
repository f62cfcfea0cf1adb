"""The landlockconfig format (JSON and TOML): load, validate, write, resolve.

See ``sandprint/schemas/landlockconfig.schema.json``. One model, two spellings: JSON keys are camelCase
(``pathBeneath``, ``allowedAccess``), TOML keys snake_case (``path_beneath``,
``allowed_access``). In this module a configuration is always held as a plain dict in the
**JSON spelling** (the "canonical" form that :func:`parse_config` returns and
:func:`dumps_json` / :func:`dumps_toml` take)::

    {"abi": 6,
     "variable": [{"name": "scratch", "literal": ["/tmp"]}],
     "ruleset": [{"handledAccessFs": ["abi.all"], "handledAccessNet": ["abi.all"]}],
     "pathBeneath": [{"allowedAccess": ["abi.read_execute"], "parent": ["/usr"]}],
     "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}]}

:func:`parse_config` checks what the JSON schema checks and, in addition, what only the
reference parser checks: ``abi`` present when an ``abi.*`` group is used, ports that fit in
16 bits, variable names, ``${var}`` syntax and references to defined variables.

Paths that may not exist
------------------------
The format has no field for it (and unknown keys are errors), so sandprint marks such paths
with a reserved variable, :data:`MAY_NOT_EXIST_VARIABLE`, whose literals are the paths (as
written in ``parent``, after variable expansion) that may be missing when the sandbox is
built. Other landlockconfig tools see an unused variable, which the format allows (and the
reference library skips unopenable paths anyway). The sandprint library skips a marked missing
path with a warning and refuses (InputError) an unmarked one. Use :func:`mark_may_not_exist`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..choices import Choice
from ..errors import InputError
from ..fileio import read_text, write_atomic
from . import rights as R

MAX_ABI = 2**31 - 1
MAX_PORT = 65535
MAY_NOT_EXIST_VARIABLE = "sandprint_may_not_exist"
VARIABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

# canonical (JSON) key -> TOML key
_TOP_TOML = {"abi": "abi", "variable": "variable", "ruleset": "ruleset",
             "pathBeneath": "path_beneath", "netPort": "net_port"}
_ENTRY_TOML = {
    "variable": {"name": "name", "literal": "literal"},
    "ruleset": {"handledAccessFs": "handled_access_fs", "handledAccessNet": "handled_access_net",
                "scoped": "scoped"},
    "pathBeneath": {"allowedAccess": "allowed_access", "parent": "parent"},
    "netPort": {"allowedAccess": "allowed_access", "port": "port"},
}
_TOP_ORDER = ("abi", "variable", "ruleset", "pathBeneath", "netPort")
# which kind of right each list holds
_RIGHT_KIND = {"handledAccessFs": "fs", "handledAccessNet": "net", "scoped": "scope"}
_KIND_WORD = {"fs": "filesystem right", "net": "network right", "scope": "scope"}


# -- reading -----------------------------------------------------------------------------------

def _json_no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    pass


class RulesetFormat(Choice):
    """How a landlockconfig document is spelled: ``json`` (camelCase) or ``toml`` (snake_case).

    The one place that says which format a name, an output's extension or a file's
    extension and content mean."""

    JSON = "json"
    TOML = "toml"

    @classmethod
    def of_output(cls, path: str) -> "RulesetFormat":
        """What a ruleset written to ``path`` is: TOML for ``.toml``, else JSON."""
        return cls.TOML if path.lower().endswith(".toml") else cls.JSON

    @classmethod
    def of_file(cls, path: str, text: str | None = None) -> "RulesetFormat":
        """What the file at ``path`` holds: by extension, else by content (a JSON document
        starts with '{'), else TOML."""
        ext = os.path.splitext(path)[1].lower()
        if ext == ".toml":
            return cls.TOML
        if ext == ".json":
            return cls.JSON
        if text is not None and text.lstrip().startswith("{"):
            return cls.JSON
        return cls.TOML


def guess_format(path: str, text: str | None = None) -> str:
    """"json" or "toml": by extension, else by content (a JSON document starts with '{')."""
    return RulesetFormat.of_file(path, text).value


def loads_config(text: str, fmt: str, source: str = "<config>") -> dict:
    """Parse landlockconfig text (``fmt`` "json" or "toml") and validate it."""
    if fmt == "json":
        try:
            data = json.loads(text, object_pairs_hook=_json_no_duplicates)
        except _DuplicateKey as e:
            raise InputError("key given twice", source=source, field=str(e.args[0]),
                             expected="each key once") from None
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                             source=source) from None
        except RecursionError:
            raise InputError("JSON nested too deeply", source=source) from None
    elif fmt == "toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"invalid TOML: {e}", source=source) from None
    else:
        raise InputError(f"unknown config format {fmt!r}", source=source, expected="json or toml")
    return parse_config(data, source, fmt=fmt)


def load_config(path: str, fmt: str | None = None) -> dict:
    """Read and validate a landlockconfig file (JSON or TOML, by extension or content).

    Returns the canonical (JSON-spelled) dict; raises InputError naming file and field.
    """
    text = read_text(str(path), "landlockconfig file")
    return loads_config(text, fmt or guess_format(str(path), text), str(path))


# -- validating --------------------------------------------------------------------------------

class _Checker:
    def __init__(self, source: str, fmt: str | None):
        self.source = source
        self.fmt = fmt
        self.groups_used_at: str | None = None
        self.refs: list[tuple[str, str]] = []     # (variable name, field) of every ${ref}

    def fail(self, message: str, field: str | None, expected: str | None = None):
        raise InputError(message, source=self.source, field=field, expected=expected)

    def key_of(self, canonical: str, table: dict[str, str]) -> str:
        """How the file spells a canonical key (for error messages)."""
        return table[canonical] if self.fmt == "toml" else canonical

    def map_keys(self, obj: dict, table: dict[str, str], where: str) -> dict:
        """Map the file's keys (either spelling, per self.fmt) onto canonical keys."""
        json_names = set(table)
        toml_names = {v: k for k, v in table.items()}
        out: dict[str, Any] = {}
        for key, value in obj.items():
            fieldname = f"{where}.{key}" if where else key
            canonical = None
            if not isinstance(key, str):
                self.fail("key is not a string", fieldname)
            if self.fmt in (None, "json") and key in json_names:
                canonical = key
            elif self.fmt in (None, "toml") and key in toml_names:
                canonical = toml_names[key]
            if canonical is None:
                other = None
                if key in toml_names and toml_names[key] != key:
                    other = f"JSON spells it '{toml_names[key]}'"
                elif key in json_names and table[key] != key:
                    other = f"TOML spells it '{table[key]}'"
                allowed = ", ".join(self.key_of(k, table) for k in table)
                msg = "unknown field" + (f" ({other})" if other else "")
                self.fail(msg, fieldname, f"one of {allowed}")
            if canonical in out:
                self.fail("key given twice (in both spellings)", fieldname, "each key once")
            out[canonical] = value
        return out

    def nonempty_list(self, value: Any, fieldname: str, what: str) -> list:
        if not isinstance(value, list):
            self.fail(f"not a list ({type(value).__name__})", fieldname, f"a list of {what}")
        if not value:
            self.fail("empty list", fieldname, f"at least one {what}")
        return value

    def rights(self, value: Any, fieldname: str, kind: str) -> list[str]:
        word = _KIND_WORD[kind]
        items = self.nonempty_list(value, fieldname, f"{word} names")
        known = list(R.KINDS[kind]) + list(R.GROUPS[kind])
        out: list[str] = []
        for i, name in enumerate(items):
            f = f"{fieldname}[{i}]"
            if not isinstance(name, str):
                self.fail(f"not a string ({name!r})", f, f"a {word} name")
            if name not in known:
                hint = ""
                for other_kind, table in R.KINDS.items():
                    if other_kind != kind and name in table:
                        hint = f" ({name!r} is a {_KIND_WORD[other_kind]}, not a {word})"
                self.fail(f"unknown {word} {name!r}{hint}", f, "one of " + ", ".join(known))
            if name.startswith("abi.") and self.groups_used_at is None:
                self.groups_used_at = f
            if name not in out:
                out.append(name)
        return out

    def path(self, value: Any, fieldname: str) -> str:
        if not isinstance(value, str):
            self.fail(f"not a string ({value!r})", fieldname, "a path")
        if not value:
            self.fail("empty path", fieldname, "a path")
        if "\0" in value:
            self.fail("path contains a NUL byte", fieldname, "a path")
        try:
            pieces = split_references(value)
        except ValueError as e:
            self.fail(str(e), fieldname, "${name} references closed by '}'")
        for kind, text in pieces:
            if kind == "var":
                if not VARIABLE_NAME.match(text):
                    self.fail(f"invalid variable name {text!r} in reference", fieldname,
                              "a name of ASCII letters, digits and '_', starting with a letter")
                self.refs.append((text, fieldname))
        return value

    def port(self, value: Any, fieldname: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"not an integer ({value!r})", fieldname, "a TCP port number 0..65535")
        if not 0 <= value <= MAX_PORT:
            self.fail(f"port {value} out of range", fieldname, "a TCP port number 0..65535")
        return value


def split_references(text: str) -> list[tuple[str, str]]:
    """``"a/${x}/$$b"`` -> [("lit", "a/"), ("var", "x"), ("lit", "/$b")].

    ``$$`` is a literal ``$``; ``$`` followed by anything else but ``{`` stays as is; an
    unclosed ``${`` raises ValueError.
    """
    out: list[tuple[str, str]] = []
    lit: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n and text[i + 1] == "$":
            lit.append("$")
            i += 2
        elif c == "$" and i + 1 < n and text[i + 1] == "{":
            end = text.find("}", i + 2)
            if end < 0:
                raise ValueError(f"unclosed '${{' at offset {i}")
            if lit:
                out.append(("lit", "".join(lit)))
                lit = []
            out.append(("var", text[i + 2:end]))
            i = end + 1
        else:
            lit.append(c)
            i += 1
    if lit:
        out.append(("lit", "".join(lit)))
    return out


def _dedupe(items: Iterable) -> list:
    out: list = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def parse_config(data: Any, source: str = "<config>", fmt: str | None = None) -> dict:
    """Validate a decoded landlockconfig document; return it in the canonical JSON spelling.

    ``fmt``: "json" (camelCase keys), "toml" (snake_case keys) or None (either). Raises
    :class:`InputError` naming ``source``, the field (``pathBeneath[1].allowedAccess[0]``) and
    what was expected. Lists behave as sets: duplicates are merged, order kept.
    """
    ck = _Checker(source, fmt)
    if not isinstance(data, dict):
        ck.fail(f"not an object ({type(data).__name__})", None, "a landlockconfig object")
    top = ck.map_keys(data, _TOP_TOML, "")
    if not any(k in top for k in ("variable", "ruleset", "pathBeneath", "netPort")):
        names = ", ".join(ck.key_of(k, _TOP_TOML) for k in _TOP_ORDER[1:])
        ck.fail("the document has no rules", None,
                "at least one of " + names)
    out: dict[str, Any] = {}

    if "abi" in top:
        abi = top["abi"]
        if isinstance(abi, bool) or not isinstance(abi, int) or not 1 <= abi <= MAX_ABI:
            ck.fail(f"invalid ABI {abi!r}", "abi", f"an integer 1..{MAX_ABI}")
        out["abi"] = abi

    variables: dict[str, list[str]] = {}
    if "variable" in top:
        spelled = ck.key_of("variable", _TOP_TOML)
        entries = ck.nonempty_list(top["variable"], spelled, "variable definitions")
        out_vars = []
        for i, entry in enumerate(entries):
            where = f"{spelled}[{i}]"
            if not isinstance(entry, dict):
                ck.fail("not an object", where, "an object with 'name' and 'literal'")
            e = ck.map_keys(entry, _ENTRY_TOML["variable"], where)
            if "name" not in e:
                ck.fail("missing key 'name'", f"{where}.name", "a variable name")
            name = e["name"]
            if not isinstance(name, str) or not VARIABLE_NAME.match(name):
                ck.fail(f"invalid variable name {name!r}", f"{where}.name",
                        "a name of ASCII letters, digits and '_', starting with a letter")
            item: dict[str, Any] = {"name": name}
            values = variables.setdefault(name, [])
            if "literal" in e:
                lits = ck.nonempty_list(e["literal"], f"{where}.literal", "strings")
                for j, lit in enumerate(lits):
                    if not isinstance(lit, str):
                        ck.fail(f"not a string ({lit!r})", f"{where}.literal[{j}]", "a string")
                    if "\0" in lit:
                        ck.fail("contains a NUL byte", f"{where}.literal[{j}]", "a string")
                item["literal"] = _dedupe(lits)
                values.extend(x for x in item["literal"] if x not in values)
            out_vars.append(item)
        out["variable"] = out_vars

    if "ruleset" in top:
        spelled = ck.key_of("ruleset", _TOP_TOML)
        entries = ck.nonempty_list(top["ruleset"], spelled, "ruleset entries")
        out_rs = []
        table = _ENTRY_TOML["ruleset"]
        for i, entry in enumerate(entries):
            where = f"{spelled}[{i}]"
            if not isinstance(entry, dict):
                ck.fail("not an object", where, "an object")
            e = ck.map_keys(entry, table, where)
            if not e:
                ck.fail("empty ruleset entry", where,
                        "at least one of " + ", ".join(ck.key_of(k, table) for k in table))
            item = {}
            for key in table:
                if key in e:
                    item[key] = ck.rights(e[key], f"{where}.{ck.key_of(key, table)}",
                                          _RIGHT_KIND[key])
            out_rs.append(item)
        out["ruleset"] = out_rs

    if "pathBeneath" in top:
        spelled = ck.key_of("pathBeneath", _TOP_TOML)
        entries = ck.nonempty_list(top["pathBeneath"], spelled, "path rules")
        table = _ENTRY_TOML["pathBeneath"]
        out_pb = []
        for i, entry in enumerate(entries):
            where = f"{spelled}[{i}]"
            if not isinstance(entry, dict):
                ck.fail("not an object", where, "an object with allowedAccess and parent")
            e = ck.map_keys(entry, table, where)
            for key in table:
                if key not in e:
                    ck.fail(f"missing key '{ck.key_of(key, table)}'",
                            f"{where}.{ck.key_of(key, table)}",
                            "filesystem rights" if key == "allowedAccess" else "a list of paths")
            acc = ck.rights(e["allowedAccess"], f"{where}.{ck.key_of('allowedAccess', table)}",
                            "fs")
            parents = ck.nonempty_list(e["parent"], f"{where}.parent", "paths")
            parents = [ck.path(p, f"{where}.parent[{j}]") for j, p in enumerate(parents)]
            out_pb.append({"allowedAccess": acc, "parent": _dedupe(parents)})
        out["pathBeneath"] = out_pb

    if "netPort" in top:
        spelled = ck.key_of("netPort", _TOP_TOML)
        entries = ck.nonempty_list(top["netPort"], spelled, "port rules")
        table = _ENTRY_TOML["netPort"]
        out_np = []
        for i, entry in enumerate(entries):
            where = f"{spelled}[{i}]"
            if not isinstance(entry, dict):
                ck.fail("not an object", where, "an object with allowedAccess and port")
            e = ck.map_keys(entry, table, where)
            for key in table:
                if key not in e:
                    ck.fail(f"missing key '{ck.key_of(key, table)}'",
                            f"{where}.{ck.key_of(key, table)}",
                            "network rights" if key == "allowedAccess" else "a list of ports")
            acc = ck.rights(e["allowedAccess"], f"{where}.{ck.key_of('allowedAccess', table)}",
                            "net")
            ports = ck.nonempty_list(e["port"], f"{where}.port", "port numbers")
            ports = [ck.port(p, f"{where}.port[{j}]") for j, p in enumerate(ports)]
            out_np.append({"allowedAccess": acc, "port": _dedupe(ports)})
        out["netPort"] = out_np

    if ck.groups_used_at and "abi" not in out:
        ck.fail("an 'abi.*' group is used but the document has no 'abi'", ck.groups_used_at,
                "an 'abi' key stating the ABI the groups stand for, or plain right names")
    for name, where in ck.refs:
        if name not in variables:
            ck.fail(f"reference to undefined variable '{name}'", where,
                    "a variable defined in '" + ck.key_of("variable", _TOP_TOML) + "'")
    from ..schema import check

    check(out, "landlockconfig", source)
    return out


# -- writing -----------------------------------------------------------------------------------

def to_toml_keys(cfg: dict) -> dict:
    """Canonical (JSON-spelled) dict -> the same data with TOML's snake_case keys."""
    out: dict[str, Any] = {}
    for key in _TOP_ORDER:
        if key not in cfg:
            continue
        value = cfg[key]
        if key == "abi":
            out["abi"] = value
            continue
        table = _ENTRY_TOML[key]
        out[_TOP_TOML[key]] = [{table[k]: v for k, v in entry.items()} for entry in value]
    return out


def _ordered(cfg: dict) -> dict:
    return {k: cfg[k] for k in _TOP_ORDER if k in cfg}


def dumps_json(cfg: dict) -> str:
    """The configuration as landlockconfig JSON (validated first: never writes a bad file)."""
    cfg = parse_config(cfg, "<configuration to write>", fmt="json")
    return json.dumps(_ordered(cfg), indent=2) + "\n"


def dumps_toml(cfg: dict) -> str:
    """The configuration as landlockconfig TOML (snake_case keys, arrays of tables)."""
    import tomli_w

    cfg = parse_config(cfg, "<configuration to write>", fmt="json")
    return tomli_w.dumps(to_toml_keys(cfg))


def dumps(cfg: dict, fmt: str) -> str:
    """The configuration as ``fmt`` ("json" or "toml") text."""
    return dumps_toml(cfg) if fmt == RulesetFormat.TOML else dumps_json(cfg)


def save_config(cfg: dict, path: str, fmt: str | None = None) -> None:
    """Write ``cfg`` atomically to ``path`` as JSON or TOML (``fmt`` or the extension)."""
    write_atomic(str(path), dumps(cfg, fmt or guess_format(str(path))))


def mark_may_not_exist(cfg: dict, paths: Iterable[str]) -> dict:
    """Return a copy of ``cfg`` whose :data:`MAY_NOT_EXIST_VARIABLE` lists ``paths`` too."""
    paths = [p for p in paths]
    if not paths:
        return dict(cfg)
    out = dict(cfg)
    variables = [dict(v) for v in cfg.get("variable", [])]
    for v in variables:
        if v["name"] == MAY_NOT_EXIST_VARIABLE:
            v["literal"] = _dedupe(list(v.get("literal", [])) + paths)
            break
    else:
        variables.append({"name": MAY_NOT_EXIST_VARIABLE, "literal": _dedupe(paths)})
    out["variable"] = variables
    return out


# -- resolving ---------------------------------------------------------------------------------

@dataclass
class ResolvedConfig:
    """A configuration reduced to concrete right names, paths and ports.

    ``abi`` is the ABI the ``abi.*`` groups were expanded with (None when none was needed).
    Handled sets include every right some rule grants, as the format derives them.
    """

    abi: int | None
    handled_fs: frozenset[str] = frozenset()
    handled_net: frozenset[str] = frozenset()
    scoped: frozenset[str] = frozenset()
    path_rules: dict[str, frozenset[str]] = field(default_factory=dict)
    port_rules: dict[int, frozenset[str]] = field(default_factory=dict)
    may_not_exist: frozenset[str] = frozenset()
    # per path, the rights named one by one (not through an abi.* group): a directory-only
    # right named for a file is an error, one that came with a group is left out quietly
    named_path_rights: dict[str, frozenset[str]] = field(default_factory=dict)


def normalize_path(path: str) -> str:
    """Lexical normalisation used to merge identical paths (relative paths stay relative)."""
    return os.path.normpath(path)


def expand_path(template: str, variables: dict[str, list[str]]) -> list[str]:
    """Every path a ``parent`` string stands for (cross product of its variables' values)."""
    pieces = split_references(template)
    choices: list[list[str]] = []
    for kind, text in pieces:
        if kind == "lit":
            choices.append([text])
        else:
            if text not in variables:
                raise KeyError(text)
            choices.append(variables[text])
    return ["".join(combo) for combo in itertools.product(*choices)]


def resolve(cfg: dict, abi: int | None = None, source: str = "<config>") -> ResolvedConfig:
    """Expand groups and variables of a (validated) configuration.

    Groups are expanded with ``abi`` when given, else with the document's own ``abi``.
    Rules whose rights expand to nothing are dropped, as the format says.
    """
    cfg = parse_config(cfg, source, fmt="json")
    group_abi = abi if abi is not None else cfg.get("abi")
    variables: dict[str, list[str]] = {}
    for v in cfg.get("variable", []):
        values = variables.setdefault(v["name"], [])
        values.extend(x for x in v.get("literal", []) if x not in values)

    handled = {"fs": set(), "net": set(), "scope": set()}
    for entry in cfg.get("ruleset", []):
        for key, kind in _RIGHT_KIND.items():
            if key in entry:
                handled[kind] |= R.expand_names(kind, entry[key], group_abi)

    path_rules: dict[str, set[str]] = {}
    named: dict[str, set[str]] = {}
    for entry in cfg.get("pathBeneath", []):
        acc = R.expand_names("fs", entry["allowedAccess"], group_abi)
        if not acc:
            continue
        handled["fs"] |= acc
        plain = {n for n in entry["allowedAccess"] if not n.startswith("abi.")}
        for template in entry["parent"]:
            for path in expand_path(template, variables):
                key = normalize_path(path) if path else path
                path_rules.setdefault(key, set()).update(acc)
                named.setdefault(key, set()).update(plain)

    port_rules: dict[int, set[str]] = {}
    for entry in cfg.get("netPort", []):
        acc = R.expand_names("net", entry["allowedAccess"], group_abi)
        if not acc:
            continue
        handled["net"] |= acc
        for port in entry["port"]:
            port_rules.setdefault(port, set()).update(acc)

    optional = frozenset(normalize_path(p) for p in variables.get(MAY_NOT_EXIST_VARIABLE, []) if p)
    return ResolvedConfig(
        abi=group_abi,
        handled_fs=frozenset(handled["fs"]),
        handled_net=frozenset(handled["net"]),
        scoped=frozenset(handled["scope"]),
        path_rules={p: frozenset(a) for p, a in path_rules.items()},
        port_rules={p: frozenset(a) for p, a in port_rules.items()},
        may_not_exist=optional,
        named_path_rights={p: frozenset(a) for p, a in named.items()},
    )


def schema_path() -> str:
    """The project's JSON Schema of the landlockconfig document (JSON spelling), shipped in the
    package; :func:`parse_config` checks everything it does, and more."""
    from ..schema import schema_path as _path

    return str(_path("landlockconfig"))
