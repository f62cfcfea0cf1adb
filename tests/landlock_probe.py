"""Try accesses under a Landlock ruleset and print what the kernel said, one JSON line.

    python landlock_probe.py RULESET OP ARG [OP ARG ...]

OP is ``read`` (open PATH read-only), ``write`` (open PATH write-only, creating it) or
``connect`` (TCP to 127.0.0.1:PORT). Everything this script needs is imported before the
ruleset is applied (with the same loader ``sandprint exec --landlock`` uses), so a refusal is
the ruleset's verdict on the access and not on the probe's own imports. Each result is
``denied`` (EACCES/EPERM), ``ok``, or the errno name (``ECONNREFUSED``: the port was allowed
and nobody listens).
"""
import errno
import json
import os
import socket
import sys

from sandprint import landlock


def attempt(op: str, arg: str) -> str:
    try:
        if op == "read":
            os.close(os.open(arg, os.O_RDONLY))
        elif op == "write":
            os.close(os.open(arg, os.O_WRONLY | os.O_CREAT, 0o644))
        elif op == "connect":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(("127.0.0.1", int(arg)))
        else:
            raise SystemExit(f"unknown probe {op!r}")
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            return "denied"
        return errno.errorcode.get(e.errno, str(e.errno))
    return "ok"


def main() -> None:
    ruleset, ops = sys.argv[1], sys.argv[2:]
    status = landlock.Ruleset.from_file(ruleset).restrict_self()
    results = {"status": str(status), "enforced": status.enforced}
    for op, arg in zip(ops[::2], ops[1::2]):
        results[f"{op} {arg}"] = attempt(op, arg)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
