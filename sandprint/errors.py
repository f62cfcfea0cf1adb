"""Errors that reach the user as one clear line (exit status 2 for bad input)."""

from __future__ import annotations


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
        super().__init__(text)


class EnvironmentProblem(SandprintError):
    """The host lacks something sandprint needs (privileges, BPF, headers ...)."""

    exit_code = 1
