"""A small workload for the verification tests, driven by a JSON plan file.

Plan keys: "read": files to read; "list": directories to list; "write": files to write;
"connect": TCP ports on 127.0.0.1 to connect to (a refused connection is fine, a denied one
is not); "getpriority": call getpriority(2); "open": [path, "r"|"w"|"rw"] pairs opened and
closed, whatever the failure (a missing file's ENOENT, /dev/tty's ENXIO without a terminal);
"signal": pids sent signal 0 ("self": this process); "spawn": commands run one after the
other; "quiet": do not report failures on stderr. Every step is attempted; the exit status
is 1 when any step was denied (EACCES/EPERM), so enforce and complain modes see the same steps.
"""

import errno
import json
import os
import socket
import subprocess
import sys

plan = json.load(open(sys.argv[1]))
failed = []
for path in plan.get("read", []):
    try:
        with open(path) as f:
            f.read()
    except OSError as e:
        failed.append(f"read {path}: {e.strerror}")
for path in plan.get("list", []):
    try:
        os.listdir(path)
    except OSError as e:
        failed.append(f"list {path}: {e.strerror}")
for path in plan.get("write", []):
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as e:
        failed.append(f"write {path}: {e.strerror}")
for port in plan.get("connect", []):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            failed.append(f"connect {port}: {e.strerror}")
    finally:
        s.close()
for path, mode in plan.get("open", []):
    flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[mode]
    try:
        os.close(os.open(path, flags | os.O_NONBLOCK))
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            failed.append(f"open {path}: {e.strerror}")
for pid in plan.get("signal", []):
    try:
        os.kill(os.getpid() if pid == "self" else pid, 0)
    except OSError as e:
        failed.append(f"signal {pid}: {e.strerror}")
for argv in plan.get("spawn", []):
    subprocess.run(argv)
if plan.get("getpriority"):
    try:
        os.getpriority(os.PRIO_PROCESS, 0)
    except OSError as e:
        failed.append(f"getpriority: {e.strerror}")
if not plan.get("quiet"):      # quiet: no write(2) on failure, same syscalls either way
    for line in failed:
        print(line, file=sys.stderr)
sys.exit(1 if failed else 0)
