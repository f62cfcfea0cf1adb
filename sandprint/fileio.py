"""Reading inputs with clear errors, and writing outputs atomically.

Every file sandprint writes goes through :func:`write_atomic`: the content is written to a
temporary file beside the target, flushed to disk and renamed over it, so a reader (or a
crash) never sees half a file, and a symlink planted at the target is replaced, not followed.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from .errors import InputError

MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_text(path: str, what: str = "file") -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{what} does not exist", source=path) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a {what}", source=path) from None
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror}", source=path) from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{what} is larger than {MAX_INPUT_BYTES} bytes", source=path)
    if not data.strip():
        raise InputError(f"{what} is empty", source=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start})", source=path) from None


def read_json(path: str, what: str = "JSON file") -> Any:
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                         source=path) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", source=path) from None


def write_atomic(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sandprint-", suffix=".tmp", dir=directory)
    except OSError as e:
        raise InputError(f"cannot write output: {e.strerror}", source=path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InputError(f"cannot write output: {e.strerror}", source=path) from None


def write_json(path: str, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
