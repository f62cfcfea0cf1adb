"""Reading inputs with clear errors, and writing outputs atomically.

Every file sandprint writes goes through :func:`write_atomic`: the content is written to a
temporary file beside the target, flushed to disk and renamed over it, so a reader (or a
crash) never sees half a file, and a symlink planted at the target is replaced, not followed.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import tempfile
from typing import Any, Iterable

from .errors import InputError, OutputError

MAX_INPUT_BYTES = 64 * 1024 * 1024
TMP_PREFIX = ".sandprint-"     # temporary files beside an output, renamed or removed


def read_text(path: str, what: str = "file") -> str:
    """The UTF-8 text of ``path`` (at most MAX_INPUT_BYTES), or an InputError.

    Opened non-blocking, so a named pipe nobody writes to reads as empty instead of hanging;
    a pipe with a writer (``<(...)``) is then read to its end as usual."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{what} does not exist", source=path) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a {what}", source=path) from None
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror}", source=path) from None
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise InputError(f"is a directory, not a {what}", source=path)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror}", source=path) from None
    finally:
        os.close(fd)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{what} is larger than {MAX_INPUT_BYTES} bytes", source=path)
    if not data.strip():
        raise InputError(f"{what} is empty", source=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start})", source=path) from None


def parse_json(text: str, source: str) -> Any:
    """``json.loads`` with errors that name the source, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                         source=source) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", source=source) from None


def read_json(path: str, what: str = "JSON file") -> Any:
    return parse_json(read_text(path, what), path)


def load_yaml_all(text: str, source: str) -> list[Any]:
    """Every YAML document in ``text`` (safe types only), refusing aliases.

    Aliases are refused outright (no Kubernetes manifest or profile needs them), so a
    "billion laughs" document costs nothing; a syntax error or nesting too deep for the
    parser is an InputError naming the line and column.
    """
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise InputError(f"YAML alias at line {mark.line + 1} column {mark.column + 1}"
                                 " (aliases are not accepted)", source=source,
                                 expected="YAML without anchors and aliases")
            return super().compose_node(parent, index)

    try:
        return list(yaml.load_all(text, Loader=NoAliasLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise InputError(f"invalid YAML{where}: {problem}", source=source) from None
    except RecursionError:
        raise InputError("YAML nested too deeply", source=source) from None


def _cannot_write(path: str, e: OSError) -> OutputError:
    return OutputError(f"cannot write output: {e.strerror or e}", source=path)


def _write_fd(fd: int, data: str | bytes | Iterable[str], mode: int | None = None) -> None:
    """Write, set the mode through the descriptor (never by name: in a directory others can
    write, the name may already point somewhere else), flush to disk, close."""
    with os.fdopen(fd, "wb") as f:
        if isinstance(data, (str, bytes)):
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        else:
            _write_chunks(f, data)
        if mode is not None:
            os.fchmod(f.fileno(), mode)
        f.flush()
        os.fsync(f.fileno())


def _write_chunks(f, chunks: Iterable[str], batch: int = 4096) -> None:
    pending: list[str] = []
    for chunk in chunks:
        pending.append(chunk)
        if len(pending) >= batch:
            f.write("".join(pending).encode("utf-8"))
            pending.clear()
    f.write("".join(pending).encode("utf-8"))


def write_atomic(path: str, data: str | bytes | Iterable[str], mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename).

    ``data`` may also be an iterable of text chunks, written as they come: a large document
    (a recording of 100,000 paths) is then never held in memory as one string. On any failure
    (disk full, read-only file system, an interrupt, an error producing the chunks) the
    temporary file is removed and ``path`` is left as it was; an OS error becomes an
    :class:`OutputError` naming ``path`` and the error."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=directory)
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        _write_fd(fd, data, mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from None
        raise


def check_writable(path: str) -> None:
    """Refuse early an output path that could not be written: its directory is missing,
    read-only, full, or ``path`` is a directory. Probes by writing one byte to a temporary
    file beside it (removed at once), so the answer is the file system's, not a guess."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise OutputError("output directory does not exist", source=path)
    if os.path.isdir(path):
        raise OutputError("output is a directory", source=path, expected="a file path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=directory)
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        _write_fd(fd, b"\0")
    except OSError as e:
        raise _cannot_write(path, e) from None
    finally:
        os.unlink(tmp)


def write_new_file(directory: str, prefix: str, suffix: str,
                   data: str | bytes | Iterable[str], mode: int = 0o600) -> str:
    """Write ``data`` to a new, uniquely named file in ``directory`` (never an existing
    file or a planted symlink: created with O_EXCL) and return its path. Nothing is left
    behind on failure (an :class:`OutputError`)."""
    try:
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    except OSError as e:
        raise _cannot_write(os.path.join(directory, prefix + "*" + suffix), e) from None
    try:
        _write_fd(fd, data, mode)
    except BaseException as e:
        os.unlink(path)
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from None
        raise
    return path


def json_chunks(obj: Any) -> Iterable[str]:
    """How sandprint spells the JSON files it writes, as chunks (see :func:`write_atomic`)."""
    return itertools.chain(json.JSONEncoder(indent=2, sort_keys=False).iterencode(obj), ["\n"])


def json_text(obj: Any) -> str:
    return "".join(json_chunks(obj))


def write_json(path: str, obj: Any) -> None:
    """``obj`` as indented JSON, encoded as it is written."""
    write_atomic(path, json_chunks(obj))
