#!/usr/bin/env python3
"""Escape probe: try to create a new user namespace (what container breakouts start with).

Prints "-1 Operation not permitted" under a profile that never recorded unshare."""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
r = libc.unshare(0x10000000)  # CLONE_NEWUSER
print(r, os.strerror(ctypes.get_errno()) if r else "allowed: a new user namespace was created")
