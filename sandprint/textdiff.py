"""The lines of a diff by meaning, shared by every kind of document ``sandprint diff`` compares.

``+`` what B has and A has not, ``-`` the reverse (and, in the callers, ``~`` a key whose value
changed); sorted, so equal inputs give no lines.
"""

from __future__ import annotations

from typing import Iterable


def set_diff(label: str, a: Iterable, b: Iterable) -> list[str]:
    """``+ LABEL x`` for each x only in ``b``, then ``- LABEL x`` for each only in ``a``."""
    a, b = set(a), set(b)
    return ([f"+ {label} {x}" for x in sorted(b - a)] +
            [f"- {label} {x}" for x in sorted(a - b)])
