/* The credentials of the followed tasks, for the capabilities the workload needed.
 *
 * bpf_get_current_uid_gid() (real uid and gid) at every exec of a followed task and after
 * every successful set*id call; user space reads the effective, saved and filesystem ids and
 * the supplementary groups from /proc/PID/status when the event arrives, and falls back to
 * these when the process is gone (sandprint/profiler/creds.py). Raised resource limits:
 * the new limit, read from the caller's memory at setrlimit/prlimit64 entry. The owner and
 * group a chown asks for, at its entry.
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
};

static __always_inline void creds_emit(u32 why, s64 ret, u32 resource, u64 cur, u64 max,
                                       u64 pid)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_info *t = tracked_task(pid_tgid);
    if (!t || (t->flags & TASK_PENDING_EXEC))
        return;
    struct creds_event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) {
        stat_add(STAT_LOST_EVENTS);
        return;
    }
    u64 ug = bpf_get_current_uid_gid();
    e->h.type = EV_CREDS;
    e->h.target = t->target;
    e->h.pid = pid_tgid >> 32;
    e->h.tid = (u32)pid_tgid;
    e->why = why;
    e->uid = (u32)ug;
    e->gid = ug >> 32;
    e->resource = resource;
    e->ret = ret;
    e->cur = cur;
    e->max = max;
    e->pid = pid;
    events.ringbuf_submit(e, 0);
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    creds_emit(CREDS_EXEC, 0, 0, 0, 0, 0);
    return 0;
}

/* which: the call's index in creds.py's SETID_SYSCALLS, plus one */
#define CREDS_SETID_EXIT(name, which)                           \
TRACEPOINT_PROBE(syscalls, sys_exit_##name)                     \
{                                                               \
    if (args->ret >= 0)                                         \
        creds_emit(CREDS_SETID, args->ret, which, 0, 0, 0);    \
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

/* chown family at entry: the owner and group asked for (-1: unchanged) */
#define CREDS_CHOWN_ENTER(name)                                         \
TRACEPOINT_PROBE(syscalls, sys_enter_##name)                            \
{                                                                       \
    creds_emit(CREDS_CHOWN, 0, 0, (u32)args->user, (u32)args->group, 0); \
    return 0;                                                           \
}

#ifdef CREDS_TP_CHOWN
CREDS_CHOWN_ENTER(chown)
#endif
#ifdef CREDS_TP_FCHOWN
CREDS_CHOWN_ENTER(fchown)
#endif
#ifdef CREDS_TP_LCHOWN
CREDS_CHOWN_ENTER(lchown)
#endif
#ifdef CREDS_TP_FCHOWNAT
CREDS_CHOWN_ENTER(fchownat)
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
    creds_emit(CREDS_RLIMIT, 0, resource, r.cur, r.max, pid);
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
