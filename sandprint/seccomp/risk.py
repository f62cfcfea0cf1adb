"""How much a syscall a recording did not see would open up if a profile allowed it anyway.

``generate seccomp --widen static`` adds only *low-risk* syscalls (:func:`is_low_risk`) that
the recorded programs' code can make; the coverage in every report splits the unseen ones
the same way. The classification, one category per line of thought:

Low risk: what a process does to itself and to what it already holds. Sleeping and waiting,
time, its own scheduling, its own memory, housekeeping of descriptors it has (I/O on them
included: which files and sockets it may open is decided elsewhere), its own signal state and
signals to processes the kernel lets it signal, questions about itself, process creation
and exit (clone's namespace flags stay checked by the profile's clone rule; clone3 stays
answered ENOSYS), looking at and opening files by path (a seccomp filter cannot see paths:
which files a workload may touch is Landlock's decision, with its own ruleset), and
restricting itself further (Landlock).

High risk: what reaches beyond the process, or changes what others see: changing the
filesystem by path (creating, removing, renaming, linking, modes, owners) or cutting a held
file (ftruncate, fallocate: a log opened for appending only can be wiped with them, never
with write), effects on the whole host through what it holds (sync and syncfs flush every
filesystem, mlock pins memory the host cannot reclaim, flock makes other processes wait),
changing its scheduling policy or priority, namespaces, mounts, BPF, perf events, ptrace
and other processes' memory, the kernel keyring, module loading, io_uring (its operations
pass around the filter), userfaultfd, setting clocks, raw port I/O and the LDT, system
administration, changing credentials, code with no file (memfd), file handles, device nodes,
System V and POSIX IPC objects (shared with the whole IPC namespace), watching files
(inotify, fanotify: what other processes do with them), new network endpoints (a socket,
connect, bind, listen, accept: network access the workload never used), running other
programs (they were never analysed), and the multiplexers whose argument decides
everything (ioctl, prctl, personality, seccomp: the argument rules of the syscall layer are
made for recorded values).

Every syscall libseccomp knows on x86_64 is in one category, or *unclassified*, and an
unclassified syscall is treated as high risk (tests/test_syscall_risk.py lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

LOW, HIGH = "low", "high"


@dataclass(frozen=True)
class Category:
    key: str
    risk: str
    description: str
    names: frozenset[str]


def _c(key: str, risk: str, description: str, names: str) -> Category:
    return Category(key, risk, description, frozenset(names.split()))


CATEGORIES = (
    # -- low risk ------------------------------------------------------------------------
    _c("sleep-wait", LOW, "sleeping and waiting",
       "nanosleep clock_nanosleep pause alarm select pselect6 poll ppoll epoll_create "
       "epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 futex futex_wait "
       "futex_wake futex_requeue futex_waitv wait4 waitid rt_sigsuspend rt_sigtimedwait "
       "restart_syscall"),
    _c("time", LOW, "reading time and the process's own timers",
       "clock_gettime clock_getres gettimeofday time times getitimer setitimer timer_create "
       "timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create "
       "timerfd_gettime timerfd_settime"),
    _c("scheduling", LOW, "yielding, and asking about its own scheduling",
       "sched_yield sched_get_priority_max sched_get_priority_min sched_getaffinity "
       "sched_getparam sched_getscheduler sched_getattr sched_rr_get_interval getcpu "
       "getpriority ioprio_get rseq membarrier"),
    _c("memory", LOW, "the process's own memory: mapping, remapping, protecting, advising",
       "brk mmap munmap mremap mprotect madvise msync mincore munlock munlockall pkey_alloc "
       "pkey_free pkey_mprotect remap_file_pages get_mempolicy set_mempolicy "
       "set_mempolicy_home_node mbind map_shadow_stack cachestat"),
    _c("descriptors", LOW, "descriptors the process holds: I/O, duplicating, closing, "
                          "flags, syncing, pipes and event descriptors",
       "read write readv writev pread64 pwrite64 preadv preadv2 pwritev pwritev2 lseek close "
       "close_range dup dup2 dup3 fcntl pipe pipe2 eventfd eventfd2 fstat fstatfs fsync "
       "fdatasync fadvise64 readahead sync_file_range splice tee vmsplice sendfile "
       "copy_file_range getdents getdents64 signalfd signalfd4 io_setup "
       "io_destroy io_submit io_cancel io_getevents io_pgetevents fchdir"),
    _c("sockets-held", LOW, "sockets the process holds: sending, receiving, shutting down, "
                           "asking their addresses and options; a connected pair",
       "sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown getsockname getpeername "
       "getsockopt socketpair"),
    _c("signals", LOW, "the process's signal state, and signals the kernel lets it send",
       "rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigqueueinfo "
       "rt_tgsigqueueinfo sigaltstack kill tkill tgkill pidfd_open pidfd_send_signal"),
    _c("self", LOW, "questions about itself and its own limits, process groups and sessions",
       "getpid getppid gettid getuid geteuid getgid getegid getgroups getresuid getresgid "
       "getpgid getpgrp getsid setpgid setsid uname sysinfo getrusage getrlimit setrlimit "
       "prlimit64 capget umask getcwd chdir arch_prctl set_tid_address set_robust_list "
       "get_robust_list get_thread_area set_thread_area getrandom"),
    _c("processes", LOW, "making processes and threads, and exiting (clone's namespace flags "
                        "stay checked, clone3 stays answered ENOSYS)",
       "fork vfork clone clone3 exit exit_group"),
    _c("path-queries", LOW, "looking at files by path and opening them (which files: "
                           "Landlock's decision)",
       "open openat openat2 stat lstat newfstatat statx access faccessat faccessat2 "
       "readlink readlinkat statfs getxattr lgetxattr fgetxattr listxattr llistxattr "
       "flistxattr"),
    _c("ipc", HIGH, "System V and POSIX IPC objects (shared with every process of the IPC "
                     "namespace, outside any file rule)",
       "shmget shmat shmdt shmctl semget semop semtimedop semctl msgget msgsnd msgrcv msgctl "
       "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr"),
    _c("self-restriction", LOW, "restricting itself further",
       "landlock_create_ruleset landlock_add_rule landlock_restrict_self"),
    # -- high risk -----------------------------------------------------------------------
    _c("path-changes", HIGH, "changing the filesystem by path: removing, renaming, linking, "
                            "making directories, changing modes, owners, times and "
                            "attributes (a widened profile never lets a workload change "
                            "files in a way it was not seen to; ftruncate and fallocate "
                            "cut or punch holes in a file held open for appending only)",
       "creat ftruncate fallocate unlink unlinkat rename renameat renameat2 link linkat symlink "
       "symlinkat mkdir mkdirat rmdir chmod fchmod fchmodat fchmodat2 chown fchown lchown "
       "fchownat truncate utime utimes utimensat futimesat setxattr lsetxattr fsetxattr "
       "removexattr lremovexattr fremovexattr"),
    _c("scheduling-changes", HIGH, "changing its scheduling policy, priority or CPUs "
                                  "(real-time policies starve the host's other work)",
       "sched_setaffinity sched_setparam sched_setscheduler sched_setattr setpriority "
       "ioprio_set"),
    _c("host-resources", HIGH, "effects on the whole host through what the process holds: "
                              "flushing every filesystem, pinning memory the host cannot "
                              "reclaim, file locks other processes wait on",
       "sync syncfs mlock mlock2 mlockall flock"),
    _c("namespaces", HIGH, "making or joining namespaces", "unshare setns"),
    _c("mounts", HIGH, "mounts and the root directory",
       "mount umount2 pivot_root chroot fsopen fsconfig fsmount fspick move_mount open_tree "
       "mount_setattr"),
    _c("bpf", HIGH, "BPF programs and maps", "bpf"),
    _c("perf", HIGH, "performance events", "perf_event_open"),
    _c("other-processes", HIGH, "tracing and other processes' memory and descriptors",
       "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise "
       "process_mrelease migrate_pages move_pages"),
    _c("keys", HIGH, "the kernel keyring", "add_key request_key keyctl"),
    _c("modules", HIGH, "loading and removing kernel modules",
       "init_module finit_module delete_module create_module query_module get_kernel_syms"),
    _c("io_uring", HIGH, "io_uring (its operations are not seen by seccomp)",
       "io_uring_setup io_uring_enter io_uring_register"),
    _c("userfaultfd", HIGH, "userfaultfd (stalls the kernel at will)", "userfaultfd"),
    _c("clock-setting", HIGH, "setting the system clock",
       "clock_settime settimeofday adjtimex clock_adjtime"),
    _c("raw-io", HIGH, "raw port I/O and the local descriptor table",
       "iopl ioperm modify_ldt"),
    _c("administration", HIGH, "administering the system",
       "reboot kexec_load kexec_file_load swapon swapoff sethostname setdomainname acct "
       "quotactl quotactl_fd syslog nfsservctl _sysctl sysfs vhangup ustat lookup_dcookie "
       "uselib"),
    _c("credentials", HIGH, "changing credentials and capabilities",
       "setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups "
       "capset"),
    _c("fileless-code", HIGH, "memory-backed files (code that was never on disk)",
       "memfd_create memfd_secret"),
    _c("handles-devices", HIGH, "file handles (name_to_handle_at is the first half of "
                               "opening by handle), making device nodes, watching files and "
                               "the whole filesystem (what other processes do with them)",
       "name_to_handle_at open_by_handle_at mknod mknodat fanotify_init fanotify_mark "
       "inotify_init inotify_init1 inotify_add_watch inotify_rm_watch"),
    _c("network-endpoints", HIGH, "new network endpoints (network access the workload "
                                  "never used)",
       "socket connect bind listen accept accept4"),
    _c("exec", HIGH, "running other programs (never analysed)", "execve execveat"),
    _c("multiplexers", HIGH, "calls whose argument decides everything (argument rules are "
                            "made for recorded values)",
       "ioctl prctl personality seccomp setsockopt"),
    _c("unimplemented", HIGH, "not implemented by Linux (never needed)",
       "afs_syscall tuxcall security vserver getpmsg putpmsg epoll_ctl_old epoll_wait_old"),
)

UNCLASSIFIED = Category("unclassified", HIGH, "unclassified (treated as high risk)",
                        frozenset())
_BY_NAME = {n: c for c in CATEGORIES for n in c.names}


def classify(name: str) -> Category:
    """The category of syscall ``name``; :data:`UNCLASSIFIED` (high risk) when it has none."""
    return _BY_NAME.get(name, UNCLASSIFIED)


def is_low_risk(name: str) -> bool:
    return classify(name).risk == LOW


def split(names) -> tuple[list[str], list[str]]:
    """``names`` as (low-risk, high-risk), each sorted."""
    low = sorted(n for n in names if is_low_risk(n))
    high = sorted(n for n in names if not is_low_risk(n))
    return low, high
