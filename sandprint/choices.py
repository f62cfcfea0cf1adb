"""Closed sets of names (seccomp actions, file formats, compatibility levels) as enums.

A member is also the string it stands for, so documents and messages keep their spelling, and
:meth:`Choice.parse` is where a name from the command line or a file becomes a member (an
InputError naming the field and the choices otherwise).
"""

from __future__ import annotations

import enum

from .errors import InputError


class Choice(str, enum.Enum):
    """Base of sandprint's string enums: ``f"{member}"`` and ``str(member)`` are its value."""

    __str__ = str.__str__
    __format__ = str.__format__

    @classmethod
    def parse(cls, value, field: str = "--format"):
        try:
            return cls(value)
        except ValueError:
            raise InputError(f"unknown {cls.noun()} {value!r}", field=field,
                             expected=cls.expected()) from None

    @classmethod
    def noun(cls) -> str:
        return "format"

    @classmethod
    def expected(cls) -> str:
        return " or ".join(c.value for c in cls)
