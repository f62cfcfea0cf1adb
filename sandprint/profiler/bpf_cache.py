"""Reuse what an earlier run compiled: bcc's LLVM compile is most of a recording's start-up.

On a miss, the program is compiled with bcc as always and then stored: each function's
instructions as bcc handed them to the kernel, the maps it created (type, sizes, flags, the
key and leaf types bcc derived from the C) and, for each 64-bit load of a map's file
descriptor in the instructions, which map it named. On a hit, the maps are created again, the
descriptors patched into the instructions, and the programs loaded and attached: the kernel's
verifier checks them as it checks bcc's, only LLVM is skipped.

The key is everything the instructions depend on: the program text, the compiler flags (the
-D values carry pid_max, syscall numbers, BTF offsets ...), the running kernel (release and
build), bcc's version and this file's format. An entry that does not load (say, a verifier
change) is dropped and the program compiled again, so a stale cache costs time, never
correctness. Nothing is kept loaded between runs; the cache is a directory of files:
``$SANDPRINT_CACHE_DIR`` or ``~/.cache/sandprint/bpf`` (root's home for root), used only when
it and its files belong to this user and nobody else can write them.
``SANDPRINT_BPF_CACHE=0`` turns it off.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1
MAX_ENTRIES = 64                # programs kept (~35 KiB each); the least recently used go first

BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
PREFIXES = {b"tracepoint__": BPF_PROG_TYPE_TRACEPOINT,
            b"raw_tracepoint__": BPF_PROG_TYPE_RAW_TRACEPOINT}

LD_IMM64 = 0x18                 # BPF_LD | BPF_DW | BPF_IMM
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
_INSN = struct.Struct("<BBhi")  # code, dst:4|src:4, off, imm


def enabled() -> bool:
    return os.environ.get("SANDPRINT_BPF_CACHE", "1") not in ("0", "no", "off", "")


def cache_dir() -> Path:
    env = os.environ.get("SANDPRINT_CACHE_DIR")
    if env:
        return Path(env)
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "sandprint" / "bpf"


def key(text: str, cflags: list[str]) -> str:
    import bcc.version
    u = os.uname()
    h = hashlib.sha256()
    for part in (str(FORMAT), u.release, u.version, u.machine, bcc.version.__version__,
                 "\0".join(cflags), text):
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0\1")
    return h.hexdigest()


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else (a root process loads what is here)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _lib():
    from bcc.libbcc import lib
    handle = ctypes.CDLL(lib._name, use_errno=True)
    handle.bcc_create_map.restype = ctypes.c_int
    handle.bcc_create_map.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_int]
    handle.bcc_prog_load.restype = ctypes.c_int
    handle.bcc_prog_load.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                                     ctypes.c_int, ctypes.c_char_p, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    for name, res in (("bpf_num_tables", ctypes.c_ulonglong),
                      ("bpf_table_name", ctypes.c_char_p),
                      ("bpf_table_key_size_id", ctypes.c_ulonglong),
                      ("bpf_table_leaf_size_id", ctypes.c_ulonglong)):
        f = getattr(handle, name)
        f.restype = res
        f.argtypes = [ctypes.c_void_p] + ([] if name == "bpf_num_tables"
                                          else [ctypes.c_ulonglong])
    return handle


# -- storing ----------------------------------------------------------------------------------
def describe(bpf) -> dict[str, Any] | None:
    """What a freshly compiled bcc ``BPF`` object needs to be loaded again without LLVM; None
    when it holds something this cache cannot place (another kind of fd in an instruction, a
    program type it does not attach)."""
    from bcc.libbcc import lib
    h = _lib()
    mod = bpf.module
    maps = []
    by_fd: dict[int, str] = {}
    for i in range(h.bpf_num_tables(mod)):
        name = h.bpf_table_name(mod, i)
        fd = lib.bpf_table_fd(mod, name)
        if fd < 0:
            return None
        by_fd[fd] = name.decode()
        maps.append({
            "name": name.decode(), "id": i,
            "type": lib.bpf_table_type_id(mod, i),
            "key_size": int(h.bpf_table_key_size_id(mod, i)),
            "leaf_size": int(h.bpf_table_leaf_size_id(mod, i)),
            "max_entries": int(lib.bpf_table_max_entries_id(mod, i)),
            "flags": lib.bpf_table_flags_id(mod, i),
            "key_desc": (lib.bpf_table_key_desc(mod, name) or b"").decode(),
            "leaf_desc": (lib.bpf_table_leaf_desc(mod, name) or b"").decode(),
        })
    funcs = []
    for i in range(lib.bpf_num_functions(mod)):
        name = lib.bpf_function_name(mod, i)
        code = bytearray(bpf.dump_func(name))
        relocs = []
        for off in range(0, len(code) - 15, 8):
            op, regs, _o, imm = _INSN.unpack_from(code, off)
            if op != LD_IMM64:
                continue
            src = regs >> 4
            if src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
                if imm not in by_fd:
                    return None
                relocs.append([off, by_fd[imm]])
                struct.pack_into("<i", code, off + 4, 0)
            elif src != 0:
                return None
        autoload = next((t for p, t in PREFIXES.items() if name.startswith(p)), None)
        if autoload is None and any(name.startswith(p) for p in (
                b"kprobe__", b"kretprobe__", b"kfunc__", b"kretfunc__", b"lsm__")):
            return None
        funcs.append({"name": name.decode(), "code": base64.b64encode(bytes(code)).decode(),
                      "relocs": relocs, "autoload": autoload})
    return {"format": FORMAT, "license": lib.bpf_module_license(mod).decode(),
            "kern_version": int(lib.bpf_module_kern_version(mod)),
            "maps": maps, "funcs": funcs}


def store(cache_key: str, bpf) -> bool:
    """Keep ``bpf``'s compiled programs under ``cache_key``; False when not kept (nothing to
    do about it: the next run compiles again)."""
    if not enabled():
        return False
    try:
        entry = describe(bpf)
        if entry is None:
            return False
        d = cache_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private(d):
            return False
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f)
            os.replace(tmp, d / f"{cache_key}.json")
        except BaseException:
            os.unlink(tmp)
            raise
        entries = sorted((p for p in d.glob("*.json") if not p.name.startswith("kernel-")),
                         key=lambda p: p.stat().st_mtime)
        for old in entries[:-MAX_ENTRIES]:
            old.unlink(missing_ok=True)
        return True
    except (OSError, ValueError, TypeError):
        return False


# -- facts about the running kernel -------------------------------------------------------------
def _boot_key(name: str) -> str:
    u = os.uname()
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    h = hashlib.sha256("\0".join((str(FORMAT), u.release, u.version, u.machine, boot,
                                   name)).encode())
    return "kernel-" + h.hexdigest()


def kernel_fact(name: str, compute):
    """``compute()`` (JSON-able), kept for the rest of this boot of this kernel: what the
    loader reads from BTF and tracefs to build its flags took longer than loading a cached
    program (tracefs format files ~20 ms each, the whole vmlinux BTF parsed)."""
    if not enabled():
        return compute()
    k = _boot_key(name)
    entry = lookup(k)
    if entry is not None and "value" in entry:
        return entry["value"]
    value = compute()
    try:
        d = cache_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _private(d):
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump({"format": FORMAT, "value": value}, f)
                os.replace(tmp, d / f"{k}.json")
            except BaseException:
                os.unlink(tmp)
                raise
    except (OSError, ValueError, TypeError):
        pass
    return value


# -- loading ----------------------------------------------------------------------------------
def lookup(cache_key: str) -> dict[str, Any] | None:
    if not enabled():
        return None
    d = cache_dir()
    path = d / f"{cache_key}.json"
    if not (_private(d) and _private(path)):
        return None
    try:
        with open(path) as f:
            entry = json.load(f)
        if entry.get("format") != FORMAT:
            return None
        os.utime(path)
        return entry
    except (OSError, ValueError):
        return None


def drop(cache_key: str) -> None:
    try:
        (cache_dir() / f"{cache_key}.json").unlink()
    except OSError:
        pass


class CacheLoadError(Exception):
    pass


_cls = None


def cached_bpf_class():
    """A ``bcc.BPF`` built from a cache entry instead of C: same tables, attach calls, ring
    buffers and cleanup, so the recorder cannot tell them apart."""
    global _cls
    if _cls is None:
        _cls = _make_class()
    return _cls


def _make_class():
    import bcc
    from bcc import table as T

    class CachedBPF(bcc.BPF):
        def __init__(self, entry: dict[str, Any]):
            import atexit
            self.kprobe_fds, self.uprobe_fds, self.tracepoint_fds = {}, {}, {}
            self.raw_tracepoint_fds, self.kfunc_entry_fds, self.kfunc_exit_fds = {}, {}, {}
            self.lsm_fds, self.perf_buffers, self.open_perf_events = {}, {}, {}
            self._ringbuf_manager = None
            self.tracefile = None
            self.debug = 0
            self.funcs, self.tables = {}, {}
            self.module = None
            self._map_fds: dict[str, int] = {}
            self._entry = entry
            self._code = {f["name"].encode(): f for f in entry["funcs"]}
            self._lib = _lib()
            atexit.register(self.cleanup)
            try:
                for m in entry["maps"]:
                    fd = self._lib.bcc_create_map(m["type"], m["name"].encode(),
                                                  m["key_size"], m["leaf_size"],
                                                  m["max_entries"], m["flags"])
                    if fd < 0:
                        raise CacheLoadError(f"map {m['name']}: "
                                             f"{os.strerror(ctypes.get_errno())}")
                    self._map_fds[m["name"]] = fd
                for f in entry["funcs"]:
                    name = f["name"].encode()
                    if f["autoload"] == BPF_PROG_TYPE_TRACEPOINT:
                        tp = name[len(b"tracepoint__"):].replace(b"__", b":")
                        self.attach_tracepoint(tp=tp, fn_name=name)
                    elif f["autoload"] == BPF_PROG_TYPE_RAW_TRACEPOINT:
                        self.attach_raw_tracepoint(tp=name[len(b"raw_tracepoint__"):],
                                                   fn_name=name)
            except Exception:
                self.cleanup()
                raise

        def load_func(self, func_name, prog_type, device=None, attach_type=-1):
            func_name = func_name.encode() if isinstance(func_name, str) else func_name
            if func_name in self.funcs:
                return self.funcs[func_name]
            f = self._code.get(func_name)
            if f is None:
                raise Exception(f"Unknown program {func_name.decode()}")
            code = bytearray(base64.b64decode(f["code"]))
            for off, mapname in f["relocs"]:
                struct.pack_into("<i", code, off + 4, self._map_fds[mapname])
            buf = (ctypes.c_char * len(code)).from_buffer(code)
            fd = self._lib.bcc_prog_load(prog_type, func_name, ctypes.addressof(buf),
                                         len(code), self._entry["license"].encode(),
                                         self._entry["kern_version"], 0, None, 0)
            if fd < 0:
                raise CacheLoadError(f"program {func_name.decode()}: "
                                     f"{os.strerror(ctypes.get_errno())}")
            fn = bcc.BPF.Function(self, func_name, fd)
            self.funcs[func_name] = fn
            return fn

        def dump_func(self, func_name):
            raise Exception("a cached program has no bcc module to dump")

        def get_table(self, name, keytype=None, leaftype=None, reducer=None):
            sname = name.decode() if isinstance(name, bytes) else name
            m = next((m for m in self._entry["maps"] if m["name"] == sname), None)
            if m is None:
                raise KeyError(name)
            if not keytype and m["key_desc"]:
                keytype = bcc.BPF._decode_table_type(json.loads(m["key_desc"]))
            if not leaftype and m["leaf_desc"]:
                leaftype = bcc.BPF._decode_table_type(json.loads(m["leaf_desc"]))
            classes = {T.BPF_MAP_TYPE_HASH: T.HashTable, T.BPF_MAP_TYPE_ARRAY: T.Array,
                       T.BPF_MAP_TYPE_PERCPU_HASH: T.PerCpuHash,
                       T.BPF_MAP_TYPE_PERCPU_ARRAY: T.PerCpuArray,
                       T.BPF_MAP_TYPE_LRU_HASH: T.LruHash,
                       T.BPF_MAP_TYPE_RINGBUF: T.RingBuf}
            cls = classes.get(m["type"])
            if cls is None:
                raise Exception(f"table {sname}: type {m['type']} not supported from cache")
            bname = sname.encode()
            fd = self._map_fds[sname]
            kwargs = {"reducer": reducer} if cls in (T.PerCpuHash, T.PerCpuArray) else {}
            # TableBase asks bcc's (absent) module for type, flags and size: give them after
            t = cls(self, m["id"], fd, keytype, leaftype, bname, **kwargs) \
                if cls is not T.RingBuf else cls(self, m["id"], fd, keytype, leaftype, bname)
            t.ttype, t.flags, t.max_entries = m["type"], m["flags"], m["max_entries"]
            return t

        def close(self):
            super().close()
            for name, fd in list(self._map_fds.items()):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._map_fds.clear()

    return CachedBPF


def load(entry: dict[str, Any]):
    return cached_bpf_class()(entry)
