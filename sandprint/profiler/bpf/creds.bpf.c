/* The credentials of the followed tasks, for the capabilities the workload needed.
 *
 * bpf_get_current_uid_gid() (real uid and gid) at every exec of a followed task and after
 * every successful set*id call; user space reads the effective, saved and filesystem ids and
 * the supplementary groups from /proc/PID/status when the event arrives, and falls back to
 * these when the process is gone (sandprint/profiler/creds.py). Raised resource limits:
 * the new limit, read from the caller's memory at setrlimit/prlimit64 entry. A chown: the
 * owner and group it asks for and what it names (fd, or directory fd and path), at entry;
 * likewise what a chmod or a utimes-family call names (CAP_FOWNER on another uid's file).
 *
 * Programs on the per-syscall tracepoints only: no other task pays anything for them, and
 * the sys_enter program is untouched. Each is compiled only where the running kernel has the
 * tracepoint (CREDS_TP_<NAME>, set by creds.py).
 */

#define EV_CREDS 4
#define CREDS_EXEC 1
#define CREDS_SETID 2
#define CREDS_RLIMIT 3
#define CREDS_CHOWN 4
#define CREDS_CHMOD 5
#define CREDS_UTIMES 6          /* cur: 1 when the times are given, 0 for "now" */
#define UTIME_NOW_ ((1l << 30) - 1l)
#define UTIME_OMIT_ ((1l << 30) - 2l)
#define CREDS_PATH_LEN 256
#define CREDS_NO_FD -1000       /* chown's fd: none (chown, lchown) */

struct creds_event {
    struct event_header h;
    u32 why;                    /* CREDS_* */
    u32 uid;
    u32 gid;
    u32 resource;               /* CREDS_RLIMIT: RLIMIT_*; CREDS_SETID: which call (creds.py) */
    s64 ret;                    /* CREDS_SETID: the call's result */
    u64 cur;                    /* CREDS_RLIMIT: the new soft and hard limit; */
    u64 max;                    /* CREDS_CHOWN: the owner and group asked for */
    u64 pid;                    /* CREDS_RLIMIT: prlimit64's pid argument (0: itself) */
    s64 fd;                     /* CREDS_CHOWN/CHMOD/UTIMES: the fd or dirfd, or CREDS_NO_FD */
    char path[CREDS_PATH_LEN];  /* ... and the path (empty for fchown, fchmod, futimens) */
};

static __always_inline struct creds_event *creds_begin(u32 why)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_info *t = tracked_task(pid_tgid);
    if (!t || (t->flags & TASK_PENDING_EXEC))
        return 0;
    struct creds_event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) {
        stat_add(STAT_LOST_EVENTS);
        return 0;
    }
    u64 ug = bpf_get_current_uid_gid();
    e->h.type = EV_CREDS;
    e->h.target = t->target;
    e->h.pid = pid_tgid >> 32;
    e->h.tid = (u32)pid_tgid;
    e->why = why;
    e->uid = (u32)ug;
    e->gid = ug >> 32;
    e->resource = 0;
    e->ret = 0;
    e->cur = 0;
    e->max = 0;
    e->pid = 0;
    e->fd = CREDS_NO_FD;
    e->path[0] = 0;
    return e;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    struct creds_event *e = creds_begin(CREDS_EXEC);
    if (e)
        events.ringbuf_submit(e, 0);
    return 0;
}

static __always_inline void creds_setid(s64 ret, u32 which)
{
    if (ret < 0)
        return;
    struct creds_event *e = creds_begin(CREDS_SETID);
    if (!e)
        return;
    e->ret = ret;
    e->resource = which;
    events.ringbuf_submit(e, 0);
}

/* which: the call's index in creds.py's SETID_SYSCALLS, plus one (bcc takes no map call
 * inside a macro: the work is in creds_setid) */
#define CREDS_SETID_EXIT(name, which)                           \
TRACEPOINT_PROBE(syscalls, sys_exit_##name)                     \
{                                                               \
    creds_setid(args->ret, which);                              \
    return 0;                                                   \
}

#ifdef CREDS_TP_SETUID
CREDS_SETID_EXIT(setuid, 1)
#endif
#ifdef CREDS_TP_SETGID
CREDS_SETID_EXIT(setgid, 2)
#endif
#ifdef CREDS_TP_SETREUID
CREDS_SETID_EXIT(setreuid, 3)
#endif
#ifdef CREDS_TP_SETREGID
CREDS_SETID_EXIT(setregid, 4)
#endif
#ifdef CREDS_TP_SETRESUID
CREDS_SETID_EXIT(setresuid, 5)
#endif
#ifdef CREDS_TP_SETRESGID
CREDS_SETID_EXIT(setresgid, 6)
#endif
#ifdef CREDS_TP_SETFSUID
CREDS_SETID_EXIT(setfsuid, 7)
#endif
#ifdef CREDS_TP_SETFSGID
CREDS_SETID_EXIT(setfsgid, 8)
#endif
#ifdef CREDS_TP_SETGROUPS
CREDS_SETID_EXIT(setgroups, 9)
#endif

/* chown family at entry: the owner and group asked for (-1: unchanged), and what it names */
static __always_inline void creds_chown(s64 fd, const char *path, u32 user, u32 group)
{
    struct creds_event *e = creds_begin(CREDS_CHOWN);
    if (!e)
        return;
    e->cur = user;
    e->max = group;
    e->fd = fd;
    if (path)
        bpf_probe_read_user_str(e->path, sizeof(e->path), path);
    events.ringbuf_submit(e, 0);
}

#ifdef CREDS_TP_CHOWN
TRACEPOINT_PROBE(syscalls, sys_enter_chown)
{
    creds_chown(CREDS_NO_FD, (const char *)args->filename, (u32)args->user, (u32)args->group);
    return 0;
}
#endif
#ifdef CREDS_TP_LCHOWN
TRACEPOINT_PROBE(syscalls, sys_enter_lchown)
{
    creds_chown(CREDS_NO_FD, (const char *)args->filename, (u32)args->user, (u32)args->group);
    return 0;
}
#endif
#ifdef CREDS_TP_FCHOWN
TRACEPOINT_PROBE(syscalls, sys_enter_fchown)
{
    creds_chown((s64)(int)args->fd, 0, (u32)args->user, (u32)args->group);
    return 0;
}
#endif
#ifdef CREDS_TP_FCHOWNAT
TRACEPOINT_PROBE(syscalls, sys_enter_fchownat)
{
    creds_chown((s64)(int)args->dfd, (const char *)args->filename, (u32)args->user,
                (u32)args->group);
    return 0;
}
#endif

/* chmod family and utimes family at entry: what they name (the owner is looked up then) */
static __always_inline void creds_named(u32 why, s64 fd, const char *path, u64 explicit_times)
{
    struct creds_event *e = creds_begin(why);
    if (!e)
        return;
    e->cur = explicit_times;
    e->fd = fd;
    if (path)
        bpf_probe_read_user_str(e->path, sizeof(e->path), path);
    events.ringbuf_submit(e, 0);
}

#ifdef CREDS_TP_CHMOD
TRACEPOINT_PROBE(syscalls, sys_enter_chmod)
{
    creds_named(CREDS_CHMOD, CREDS_NO_FD, (const char *)args->filename, 0);
    return 0;
}
#endif
#ifdef CREDS_TP_FCHMOD
TRACEPOINT_PROBE(syscalls, sys_enter_fchmod)
{
    creds_named(CREDS_CHMOD, (s64)(int)args->fd, 0, 0);
    return 0;
}
#endif
#ifdef CREDS_TP_FCHMODAT
TRACEPOINT_PROBE(syscalls, sys_enter_fchmodat)
{
    creds_named(CREDS_CHMOD, (s64)(int)args->dfd, (const char *)args->filename, 0);
    return 0;
}
#endif
#ifdef CREDS_TP_FCHMODAT2
TRACEPOINT_PROBE(syscalls, sys_enter_fchmodat2)
{
    creds_named(CREDS_CHMOD, (s64)(int)args->dfd, (const char *)args->filename, 0);
    return 0;
}
#endif

#ifdef CREDS_TP_UTIMENSAT
TRACEPOINT_PROBE(syscalls, sys_enter_utimensat)
{
    /* two struct timespec: times given unless both nsec are UTIME_NOW (or UTIME_OMIT) */
    u64 explicit_times = 0;
    u64 ts = (u64)args->utimes;         /* an address in the caller's memory */
    if (ts) {
        long nsec0 = UTIME_NOW_, nsec1 = UTIME_NOW_;
        bpf_probe_read_user(&nsec0, sizeof(nsec0), (const void *)(ts + 8));
        bpf_probe_read_user(&nsec1, sizeof(nsec1), (const void *)(ts + 24));
        explicit_times = (nsec0 != UTIME_NOW_ && nsec0 != UTIME_OMIT_) ||
                         (nsec1 != UTIME_NOW_ && nsec1 != UTIME_OMIT_);
    }
    creds_named(CREDS_UTIMES, (s64)(int)args->dfd, (const char *)args->filename,
                explicit_times);
    return 0;
}
#endif
#ifdef CREDS_TP_UTIMES
TRACEPOINT_PROBE(syscalls, sys_enter_utimes)
{
    creds_named(CREDS_UTIMES, CREDS_NO_FD, (const char *)args->filename, args->utimes != 0);
    return 0;
}
#endif
#ifdef CREDS_TP_FUTIMESAT
TRACEPOINT_PROBE(syscalls, sys_enter_futimesat)
{
    creds_named(CREDS_UTIMES, (s64)(int)args->dfd, (const char *)args->filename,
                args->utimes != 0);
    return 0;
}
#endif
#ifdef CREDS_TP_UTIME
TRACEPOINT_PROBE(syscalls, sys_enter_utime)
{
    creds_named(CREDS_UTIMES, CREDS_NO_FD, (const char *)args->filename, args->times != 0);
    return 0;
}
#endif

struct creds_rlimit {
    u64 cur;
    u64 max;
};

static __always_inline void creds_rlimit(u32 resource, const void *new_rlim, u64 pid)
{
    struct creds_rlimit r = {};
    if (!new_rlim || bpf_probe_read_user(&r, sizeof(r), new_rlim) != 0)
        return;
    struct creds_event *e = creds_begin(CREDS_RLIMIT);
    if (!e)
        return;
    e->resource = resource;
    e->cur = r.cur;
    e->max = r.max;
    e->pid = pid;
    events.ringbuf_submit(e, 0);
}

#ifdef CREDS_TP_PRLIMIT64
TRACEPOINT_PROBE(syscalls, sys_enter_prlimit64)
{
    creds_rlimit((u32)args->resource, (const void *)args->new_rlim, (u64)args->pid);
    return 0;
}
#endif
#ifdef CREDS_TP_SETRLIMIT
TRACEPOINT_PROBE(syscalls, sys_enter_setrlimit)
{
    /* on 64-bit architectures struct rlimit is two unsigned longs, as rlimit64 */
    creds_rlimit((u32)args->resource, (const void *)args->rlim, 0);
    return 0;
}
#endif
