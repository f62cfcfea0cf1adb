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
 * Exec and the set*id results on their own tracepoints (sched_process_exec, the set*id
 * calls' sys_exit: each compiled only where the kernel has it, CREDS_TP_<NAME>); the calls
 * judged by their arguments at the raw sys_enter (creds_sys_enter, below).
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
    u64 max;                    /* CREDS_CHOWN: the owner and group asked for; CHMOD: mode */
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

/* The calls judged by their arguments come through the raw sys_enter program
 * (syscalls.bpf.c calls creds_sys_enter for a tracked task's syscalls): one comparison chain
 * per tracked call, where a per-syscall tracepoint for each would cost every recording an
 * RCU grace period per tracepoint when it detaches. CREDS_NR_<NAME>: the syscall numbers
 * (creds.py; a distinct negative one where the architecture lacks the call). */

/* The arguments come from syscall_args() (args.bpf.c), as the other parts read them. */

/* what a chown, chmod or utimes-family call names, with its owner/group or times flag */
static __always_inline void creds_named(u32 why, s64 fd, u64 path, u64 cur, u64 max)
{
    struct creds_event *e = creds_begin(why);
    if (!e)
        return;
    e->cur = cur;
    e->max = max;
    e->fd = fd;
    if (path)
        bpf_probe_read_user_str(e->path, sizeof(e->path), (const char *)path);
    events.ringbuf_submit(e, 0);
}

static __always_inline void creds_rlimit(u32 resource, u64 new_rlim, u64 pid)
{
    u64 r[2] = {};              /* struct rlimit64: soft, hard */
    if (!new_rlim || bpf_probe_read_user(r, sizeof(r), (const void *)new_rlim) != 0)
        return;
    struct creds_event *e = creds_begin(CREDS_RLIMIT);
    if (!e)
        return;
    e->resource = resource;
    e->cur = r[0];
    e->max = r[1];
    e->pid = pid;
    events.ringbuf_submit(e, 0);
}

/* utimensat's times: given unless both nsec are UTIME_NOW or UTIME_OMIT */
static __always_inline u64 creds_explicit_times(u64 ts)
{
    if (!ts)
        return 0;
    long nsec0 = UTIME_NOW_, nsec1 = UTIME_NOW_;
    bpf_probe_read_user(&nsec0, sizeof(nsec0), (const void *)(ts + 8));
    bpf_probe_read_user(&nsec1, sizeof(nsec1), (const void *)(ts + 24));
    return (nsec0 != UTIME_NOW_ && nsec0 != UTIME_OMIT_) ||
           (nsec1 != UTIME_NOW_ && nsec1 != UTIME_OMIT_);
}

static __always_inline void creds_sys_enter(long nr, const void *regs, const unsigned long *tp)
{
    if (nr != CREDS_NR_CHOWN && nr != CREDS_NR_LCHOWN && nr != CREDS_NR_FCHOWN &&
        nr != CREDS_NR_FCHOWNAT && nr != CREDS_NR_CHMOD && nr != CREDS_NR_FCHMOD &&
        nr != CREDS_NR_FCHMODAT && nr != CREDS_NR_FCHMODAT2 && nr != CREDS_NR_UTIMENSAT &&
        nr != CREDS_NR_UTIMES && nr != CREDS_NR_FUTIMESAT && nr != CREDS_NR_UTIME &&
        nr != CREDS_NR_PRLIMIT64 && nr != CREDS_NR_SETRLIMIT)
        return;
    u64 a[6] = {};
    syscall_args(a, regs, tp);
    if (nr == CREDS_NR_CHOWN || nr == CREDS_NR_LCHOWN)
        creds_named(CREDS_CHOWN, CREDS_NO_FD, a[0], (u32)a[1], (u32)a[2]);
    else if (nr == CREDS_NR_FCHOWN)
        creds_named(CREDS_CHOWN, (s64)(int)a[0], 0, (u32)a[1], (u32)a[2]);
    else if (nr == CREDS_NR_FCHOWNAT)
        creds_named(CREDS_CHOWN, (s64)(int)a[0], a[1], (u32)a[2], (u32)a[3]);
    else if (nr == CREDS_NR_CHMOD)
        creds_named(CREDS_CHMOD, CREDS_NO_FD, a[0], 0, (u32)a[1]);
    else if (nr == CREDS_NR_FCHMOD)
        creds_named(CREDS_CHMOD, (s64)(int)a[0], 0, 0, (u32)a[1]);
    else if (nr == CREDS_NR_FCHMODAT || nr == CREDS_NR_FCHMODAT2)
        creds_named(CREDS_CHMOD, (s64)(int)a[0], a[1], 0, (u32)a[2]);
    else if (nr == CREDS_NR_UTIMENSAT)
        creds_named(CREDS_UTIMES, (s64)(int)a[0], a[1], creds_explicit_times(a[2]), 0);
    else if (nr == CREDS_NR_UTIMES || nr == CREDS_NR_UTIME)
        creds_named(CREDS_UTIMES, CREDS_NO_FD, a[0], a[1] != 0, 0);
    else if (nr == CREDS_NR_FUTIMESAT)
        creds_named(CREDS_UTIMES, (s64)(int)a[0], a[1], a[2] != 0, 0);
    else if (nr == CREDS_NR_PRLIMIT64)
        creds_rlimit((u32)a[1], a[2], a[0]);
    else    /* setrlimit: on 64-bit architectures struct rlimit is as rlimit64 */
        creds_rlimit((u32)a[0], a[1], 0);
}
