"""Telling sandprint's files apart by their content: recording, seccomp profile, Landlock ruleset;
and ``sandprint merge`` / ``sandprint diff``, which take any of the three.

``merge`` and ``diff`` take any of the three and must not guess from a file name:

* a JSON object with ``kind: Recording`` is a recording;
* ``kind: SeccompProfile`` (SPO, JSON or YAML) or an object with ``defaultAction`` (OCI) is a
  seccomp profile;
* a JSON object with landlockconfig keys (``ruleset``, ``pathBeneath``, ``netPort``, ``abi``,
  ``variable``), or a TOML document, is a Landlock ruleset.

Each is then loaded by its own validating loader, so a bad file is an InputError naming the
file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .fileio import load_yaml_all, read_text, write_atomic
from .landlock.ops import diff_rulesets, merge_rulesets, ruleset_text
from .recording import diff_recordings, merge
from .seccomp.formats import ProfileFormat
from .seccomp.ops import diff_profiles, merge_profiles_noted, profile_text

RECORDING, SECCOMP, LANDLOCK = "recording", "seccomp profile", "landlock ruleset"
LANDLOCK_KEYS = ("ruleset", "pathBeneath", "netPort", "abi", "variable")
WHAT = "a recording, a seccomp profile (OCI or SPO) or a landlockconfig ruleset"


@dataclass
class Document:
    kind: str               # RECORDING | SECCOMP | LANDLOCK
    value: Any              # Recording | SeccompProfile | canonical landlockconfig dict
    path: str
    fmt: str                # json | yaml | toml (how it was written)


def _from_object(data: Any, text: str, path: str, fmt: str) -> Document:
    from .landlock.config import loads_config
    from .recording import Recording
    from .seccomp.profile import profile_from_data

    if not isinstance(data, dict):
        raise InputError("cannot tell what this file is", source=path, field="(top level)",
                         expected=WHAT)
    kind = data.get("kind")
    if kind == "Recording":
        return Document(RECORDING, Recording.from_json(data, source=path), path, fmt)
    if kind == "SeccompProfile" or "defaultAction" in data:
        return Document(SECCOMP, profile_from_data(data, source=path), path, fmt)
    if kind is None and any(k in data for k in LANDLOCK_KEYS):
        return Document(LANDLOCK, loads_config(text, "json", path), path, fmt)
    raise InputError("cannot tell what this file is" +
                     (f" (kind {kind!r})" if kind else ""), source=path, field="kind",
                     expected=WHAT)


def load_document(path: str) -> Document:
    """Load ``path`` as whichever of the three it is (InputError when none)."""
    text = read_text(path, "input file")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                             source=path) from None
        except RecursionError:
            raise InputError("JSON nested too deeply", source=path) from None
        return _from_object(data, text, path, "json")
    if not path.lower().endswith(".toml"):
        try:
            docs = load_yaml_all(text, path)
        except InputError as e:
            if "alias" in str(e) or "too deeply" in str(e):
                raise
            docs = []
        data = docs[0] if len(docs) == 1 else None
        if isinstance(data, dict) and data.get("kind") == "SeccompProfile":
            from .seccomp.profile import profile_from_data

            return Document(SECCOMP, profile_from_data(data, source=path), path, "yaml")
    from .landlock.config import loads_config

    try:
        import tomllib

        tomllib.loads(text)
    except Exception:   # noqa: BLE001 - not TOML either: say what was expected
        raise InputError("cannot tell what this file is (not JSON, not an SPO YAML "
                         "SeccompProfile, not TOML)", source=path, expected=WHAT) from None
    return Document(LANDLOCK, loads_config(text, "toml", path), path, "toml")


def load_same_kind(paths: list[str]) -> list[Document]:
    """Load every path; they must all be the same kind of document."""
    docs = [load_document(p) for p in paths]
    for d in docs[1:]:
        if d.kind != docs[0].kind:
            raise InputError(f"is a {d.kind}, but {docs[0].path} is a {docs[0].kind}",
                             source=d.path, field="kind", expected=f"a {docs[0].kind}")
    return docs


# What each kind is for: said when a file of one kind is given where another is expected.
USED_BY = {
    RECORDING: "give it to `sandprint generate seccomp|landlock` to make a sandbox",
    SECCOMP: "give it to --seccomp (`sandprint exec|verify|check --seccomp`)",
    LANDLOCK: "give it to --landlock (`sandprint exec|verify|check --landlock`)",
}


def wrong_kind(path: str, expected: str, error: InputError) -> InputError:
    """``error`` (the loader of ``expected`` refused ``path``), or, when ``path`` is a valid
    document of another kind, an error saying which kind it is and where it goes."""
    try:
        doc = load_document(path)
    except Exception:   # noqa: BLE001 - not a valid document of any kind: the first error
        return error
    if doc.kind == expected:
        return error
    def name(kind: str) -> str:
        return kind.replace("landlock", "Landlock")

    return InputError(f"is a {name(doc.kind)}, not a {name(expected)}: {USED_BY[doc.kind]}",
                      source=path, expected=f"a {name(expected)}")


def load_as(path: str, expected: str, loader):
    """``loader(path)``; an InputError on a file of another kind says what it is (above)."""
    try:
        return loader(path)
    except InputError as e:
        raise wrong_kind(path, expected, e) from None


# -- the commands over any kind -----------------------------------------------------------------

def merge_files(paths: list[str], output: str) -> list[str]:
    """``sandprint merge``: merge files of one kind into ``output``; returns summary lines."""
    docs = load_same_kind(list(paths))
    kind = docs[0].kind
    lines = []
    if kind == RECORDING:
        merged = merge([d.value for d in docs], list(paths))
        merged.save(output)
        lines.append(f"merged {len(paths)} recordings ({merged.metadata['runs']} runs) "
                     f"into {output}")
    elif kind == SECCOMP:
        oci, notes = merge_profiles_noted([d.value for d in docs])
        lines += [f"note: {n}" for n in notes]
        spo = ProfileFormat.of_output(output) == ProfileFormat.SPO
        annotations = {"sandprint/merged-from": ", ".join(sorted(paths))} if spo else None
        write_atomic(output, profile_text(oci, output, spo=spo, annotations=annotations))
        n = len(oci["syscalls"][0]["names"]) if oci["syscalls"] else 0
        lines.append(f"merged {len(paths)} seccomp profiles into {output}: allows {n} "
                     "syscalls")
    elif kind == LANDLOCK:
        cfg, notes = merge_rulesets([d.value for d in docs], list(paths))
        write_atomic(output, ruleset_text(cfg, output))
        lines += [f"note: {n}" for n in notes]
        n = sum(len(e["parent"]) for e in cfg.get("pathBeneath", []))
        lines.append(f"merged {len(paths)} Landlock rulesets into {output}: {n} path rules")
    return lines


def diff_files(a_path: str, b_path: str) -> list[str]:
    """The differences between two files of the same kind (InputError otherwise)."""
    a, b = load_same_kind([a_path, b_path])
    if a.kind == RECORDING:
        return diff_recordings(a.value, b.value)
    if a.kind == LANDLOCK:
        return diff_rulesets(a.value, b.value, sources=(a_path, b_path))
    return diff_profiles(a.value, b.value)
