"""The project's own JSON schemas (``sandprint/schemas/*.json``) and validation against them.

The schemas describe the formats sandprint reads and writes, written for this project from
each format's documentation: the landlockconfig document (JSON spelling), the Security
Profiles Operator ``SeccompProfile`` spec, the OCI seccomp profile and the recording. The
loaders run their own checks first (they give the more precise messages) and then
:func:`check`, so a document sandprint accepts is always valid against its schema.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

# imported with this module, not at the first check: a process that drops privileges after
# importing sandprint (tests/test_privileges.py) may no longer read the library, nor the
# schemas in a checkout only root can read
import jsonschema
import jsonschema.exceptions

from .errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
KINDS = {
    "landlockconfig": "landlockconfig.schema.json",
    "seccompprofile-spec": "seccompprofile-spec.schema.json",
    "seccomp-oci": "seccomp-oci.schema.json",
    "recording": "recording.schema.json",
}


def schema_path(kind: str) -> Path:
    return SCHEMA_DIR / KINDS[kind]


# read with the module, like jsonschema above: a few kilobytes
_SCHEMAS = {kind: json.loads((SCHEMA_DIR / name).read_text()) for kind, name in KINDS.items()}


def load_schema(kind: str) -> dict[str, Any]:
    """The schema of ``kind`` (one of :data:`KINDS`) as a dict."""
    return _SCHEMAS[kind]


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with every local ``{"$ref": "#/definitions/X"}`` replaced by X itself: the
    schemas are not recursive, and resolving a reference costs jsonschema far more than
    checking the value (a recording of 20000 files: seconds instead of a fraction)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return _inline(definitions[ref.split("/")[-1]], definitions)
        return {k: _inline(v, definitions) for k, v in node.items() if k != "definitions"}
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    return node


@functools.cache
def _validator(kind: str):
    full = load_schema(kind)
    return jsonschema.Draft7Validator(_inline(full, full.get("definitions", {})))


def field_name(path) -> str:
    """``deque(['targets', 0, 'files'])`` -> ``targets[0].files``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _expected(err) -> str:
    v, kw = err.validator_value, err.validator
    if kw == "enum":
        return "one of " + ", ".join(str(x) for x in v)
    if kw == "const":
        return repr(v)
    if kw == "type":
        kinds = v if isinstance(v, list) else [v]
        return " or ".join({"object": "an object", "array": "a list", "string": "a string",
                            "integer": "an integer", "boolean": "true or false",
                            "null": "null", "number": "a number"}.get(k, k) for k in kinds)
    if kw == "minimum":
        return f"a value >= {v}"
    if kw == "maximum":
        return f"a value <= {v}"
    if kw == "minItems":
        return f"at least {v} item(s)"
    if kw == "maxItems":
        return f"at most {v} items"
    if kw == "minLength":
        return "a non-empty string"
    if kw == "pattern":
        return f"a string matching {v}"
    if kw in ("required", "anyOf", "minProperties"):
        return str(err.schema.get("description") or err.message)
    if kw == "additionalProperties":
        return "one of " + ", ".join(sorted(err.schema.get("properties", {})))
    return kw


def errors(doc: Any, kind: str) -> list[str]:
    """Every way ``doc`` breaks the schema of ``kind``, one line each (empty when valid)."""
    return [f"{field_name(e.absolute_path) or '(top level)'}: {e.message}"
            for e in sorted(_validator(kind).iter_errors(doc), key=lambda e: list(map(str, e.path)))]


def check(doc: Any, kind: str, source: str, prefix: str = "") -> None:
    """Raise an :class:`InputError` (file, field, what was expected) when ``doc`` breaks the
    schema of ``kind``; ``prefix`` is put before field names (``spec.`` for a resource)."""
    err = jsonschema.exceptions.best_match(_validator(kind).iter_errors(doc))
    if err is None:
        return
    fld = field_name(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        if extra:
            fld = f"{fld}.{extra[0]}" if fld else str(extra[0])
            raise InputError("unknown field", source=source, field=prefix + fld,
                             expected=_expected(err))
    if err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        if missing:
            fld = f"{fld}.{missing[0]}" if fld else str(missing[0])
            raise InputError("missing", source=source, field=prefix + fld,
                             expected=f"a value for the required field '{missing[0]}'")
    value = repr(err.instance)
    if len(value) > 60:
        value = value[:57] + "..."
    raise InputError(f"invalid value {value}", source=source,
                     field=(prefix + fld) if fld else (prefix.rstrip(".") or "(top level)"),
                     expected=_expected(err))
