"""Reference data from other projects, found where it lies rather than copied into sandprint.

The project's shared folder (``../shared/reference/`` beside the checkout) holds public data
files of other projects (Docker's default seccomp profile, the landlockconfig JSON schema).
sandprint reads them from there, or from the path an environment variable names; code that
uses one says what it skipped when the file is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "reference"


def reference_file(name: str, env_var: str) -> str | None:
    """``$env_var`` if set, else ``../shared/reference/NAME`` beside the checkout, else None."""
    env = os.environ.get(env_var)
    if env:
        return env
    candidate = REFERENCE_DIR / name
    return str(candidate) if candidate.is_file() else None
