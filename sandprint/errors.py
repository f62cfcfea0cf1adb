"""Errors that reach the user as one clear line (exit status 2 for bad input)."""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with control characters (a newline in a hostile path, say) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SandprintError(Exception):
    """An error sandprint reports as one line, without a traceback."""

    exit_code = 1


class InputError(SandprintError):
    """Bad usage or bad input: names the file, the field and what was expected."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None,
                 expected: str | None = None):
        self.source = source
        self.field = field
        self.expected = expected
        parts = []
        if source:
            parts.append(str(source))
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if expected:
            text += f" (expected {expected})"
        super().__init__(one_line(text))


class OutputError(InputError):
    """An output that cannot be written: names the file and the OS error (exit 2, nothing
    half-written is left behind)."""


class EnvironmentProblem(SandprintError):
    """The host lacks something sandprint needs (privileges, BPF, headers ...)."""

    exit_code = 1
