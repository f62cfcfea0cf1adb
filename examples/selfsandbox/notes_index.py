#!/usr/bin/env python3
"""A small application that sandboxes itself with Landlock before doing its work.

    python3 notes_index.py WORKDIR [--from-file] [--compat best-effort|soft|hard] [--abi N]

It indexes the notes in WORKDIR/data (*.txt) into WORKDIR/out/index.json. Before touching
any of them it confines itself, so a bug or a malicious note cannot make it read or write
anything else:

* default: the builder API, every rule in code;
* ``--from-file``: the committed ``ruleset.json`` next to this script (landlockconfig format;
  its relative paths ``data`` and ``out`` are opened against the working directory), plus
  the Python runtime added with the builder.

It prints the RulesetStatus, does its work, then shows three accesses the sandbox refuses:
reading a file it was never granted, writing into its (read-only) input directory, and
connecting to a TCP port. ``--abi N`` pretends the kernel has Landlock ABI N, to see what an
older kernel drops. Run it as any user; no privileges are needed.
"""
import argparse
import json
import os
import socket
import sys
from pathlib import Path

from sandprint import landlock

HERE = Path(__file__).resolve().parent


def runtime_dirs() -> list[str]:
    """Where this interpreter's code lives: read and execute there (lazy imports, codecs)."""
    dirs = {"/usr", sys.base_prefix, sys.prefix}
    dirs |= {p for p in sys.path if p and os.path.isdir(p)}
    return sorted(dirs)


def sandbox(from_file: bool, compat: str, abi: int | None) -> landlock.RulesetStatus:
    if from_file:
        rs = landlock.Ruleset.from_file(str(HERE / "ruleset.json"), abi=abi)
    else:
        # Ruleset() handles every filesystem right the kernel's ABI knows (deny by default);
        # the network rights and scopes are asked for by name, so that a kernel without
        # them shows up in the status as a weakening instead of passing silently.
        rs = (landlock.Ruleset(abi=abi)
              .handle_net("bind_tcp", "connect_tcp")
              .scope("abstract_unix_socket", "signal")
              .allow_read("data")
              .allow_write("out"))
    rs.allow_read_exec(*runtime_dirs())
    return rs.restrict_self(compat=compat)


def index_notes() -> dict:
    words: dict[str, int] = {}
    notes = sorted(Path("data").glob("*.txt"))
    for note in notes:
        for w in note.read_text(encoding="utf-8").split():
            w = w.strip(".,;:!?").lower()
            if w:
                words[w] = words.get(w, 0) + 1
    index = {"notes": [n.name for n in notes],
             "top": sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:5]}
    Path("out/index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def try_access(what: str, action) -> None:
    try:
        action()
    except PermissionError as e:
        print(f"denied: {what} ({e.strerror})")
    except OSError as e:
        print(f"allowed: {what} (then failed: {e.strerror})")
    else:
        print(f"allowed: {what}")


def connect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir")
    ap.add_argument("--from-file", action="store_true")
    ap.add_argument("--compat", default="best-effort", choices=landlock.COMPAT_LEVELS)
    ap.add_argument("--abi", type=int)
    args = ap.parse_args()

    os.chdir(args.workdir)
    os.makedirs("out", exist_ok=True)          # rule paths must exist when the sandbox is built
    try:
        status = sandbox(args.from_file, args.compat, args.abi)
    except landlock.CompatibilityError as e:   # compat="hard" and the kernel falls short
        print(f"refusing to run unconfined: {e}", file=sys.stderr)
        return 3
    print(status)
    if status.weakened:
        print("weaker than asked:", "; ".join(str(d) for d in status.weakened))

    index = index_notes()
    print(f"indexed {len(index['notes'])} notes; top word: {index['top'][0][0]}")

    try_access("read /etc/passwd", lambda: open("/etc/passwd").read())
    try_access("write data/planted.txt", lambda: open("data/planted.txt", "w").close())
    try_access("connect 127.0.0.1:80", lambda: connect(80))
    return 0


if __name__ == "__main__":
    sys.exit(main())
