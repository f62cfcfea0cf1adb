"""Self-sandboxing with Landlock, in pure ctypes, and the landlockconfig format.

::

    from sandprint import landlock
    landlock.Ruleset().allow_read("/usr").restrict_self()
    status = landlock.Ruleset.from_file("ruleset.json").restrict_self(compat="hard")

See :mod:`sandprint.landlock.ruleset` for the compatibility levels and thread behaviour, and
:mod:`sandprint.landlock.config` for the file format.
"""

from ..errors import InputError
from .config import (MAY_NOT_EXIST_VARIABLE, ResolvedConfig, dumps_json, dumps_toml,
                     load_config, loads_config, mark_may_not_exist, parse_config, resolve,
                     save_config)
from .rights import DIR_ONLY_RIGHTS, FILE_RIGHTS, FS_RIGHTS, NET_RIGHTS, SCOPES, rights_for_abi
from .compat import COMPAT_LEVELS, CompatLevel, Dropped
from .ruleset import (CompatibilityError, LandlockError, Ruleset, RulesetState, RulesetStatus,
                      abi_version)

__all__ = [
    "Ruleset", "RulesetStatus", "RulesetState", "Dropped", "CompatibilityError", "InputError",
    "LandlockError", "COMPAT_LEVELS", "CompatLevel", "abi_version",
    "load_config", "loads_config", "parse_config", "dumps_json", "dumps_toml", "save_config",
    "resolve", "ResolvedConfig", "mark_may_not_exist", "MAY_NOT_EXIST_VARIABLE",
    "FS_RIGHTS", "NET_RIGHTS", "SCOPES", "FILE_RIGHTS", "DIR_ONLY_RIGHTS", "rights_for_abi",
]
