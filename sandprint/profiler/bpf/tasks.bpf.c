/* Following the target's process tree: forks, execs and exits.
 *
 * sched_process_fork runs in the parent before the child is first scheduled, so a child of a
 * tracked task is tracked before it can make any syscall.
 */

struct fork_event {
    struct event_header h;
    u32 child;
    u32 pad;
};

#define EXEC_FILENAME_LEN 256
#define EXEC_ARG_LEN 128
#define EXEC_MAX_ARGS 8

struct exec_event {
    struct event_header h;
    u32 argc;                   /* arguments read (at most EXEC_MAX_ARGS) */
    u32 truncated;              /* 1 when argv had more */
    char filename[EXEC_FILENAME_LEN];
    char argv[EXEC_MAX_ARGS][EXEC_ARG_LEN];
};

struct exit_event {
    struct event_header h;
};

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_info *parent = tracked_task(pid_tgid);
    if (!parent || (parent->flags & TASK_PENDING_EXEC))
        return 0;
    u32 child = args->child_pid;
    struct task_info info = { .target = parent->target, .flags = 0 };
    if (track_task(child, info.target, 0) != 0)
        return 0;
    stat_add(STAT_FORKS);
    struct fork_event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) {
        stat_add(STAT_LOST_EVENTS);
        return 0;
    }
    e->h.type = EV_FORK;
    e->h.target = info.target;
    e->h.pid = pid_tgid >> 32;
    e->h.tid = (u32)pid_tgid;
    e->child = child;
    e->pad = 0;
    events.ringbuf_submit(e, 0);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tid = (u32)pid_tgid;
    u32 tgid = pid_tgid >> 32;
    struct task_info *t = tracked_task(pid_tgid);
    if (!t)
        return 0;
    u32 target = t->target;
    if (tid != tgid)
        untrack_task(tid);      /* a thread: its tid may have been added at clone */
#ifdef EXIT_GROUP_DEAD
    /* The process ends with its last thread, not with its leader: a leader that calls
     * pthread_exit (or that de_thread ends for a worker thread's execve, which then takes
     * over its pid) leaves the other threads running under the same tgid, still followed. */
    if (!args->group_dead)
        return 0;
#else
    if (tid != tgid)
        return 0;
#endif
    untrack_task(tgid);
    struct exit_event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) {
        stat_add(STAT_LOST_EVENTS);
        return 0;
    }
    e->h.type = EV_EXIT;
    e->h.target = target;
    e->h.pid = tgid;
    e->h.tid = tid;
    events.ringbuf_submit(e, 0);
    return 0;
}

/* execve/execveat: the file name and the first arguments, read from the caller's memory at
 * syscall entry (the only moment they are there). Called from the raw sys_enter program. */
static __always_inline void emit_exec(u64 pid_tgid, u32 target, const char *filename,
                                      const char *const *argv)
{
    stat_add(STAT_EXECS);
    struct exec_event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) {
        stat_add(STAT_LOST_EVENTS);
        return;
    }
    e->h.type = EV_EXEC;
    e->h.target = target;
    e->h.pid = pid_tgid >> 32;
    e->h.tid = (u32)pid_tgid;
    e->argc = 0;
    e->truncated = 0;
    e->filename[0] = 0;
    bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
#pragma unroll
    for (int i = 0; i < EXEC_MAX_ARGS; i++) {
        const char *arg = 0;
        e->argv[i][0] = 0;
        if (!argv || bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) != 0 || !arg)
            break;
        bpf_probe_read_user_str(e->argv[i], EXEC_ARG_LEN, arg);
        e->argc = i + 1;
    }
    if (e->argc == EXEC_MAX_ARGS && argv) {
        const char *more = 0;
        if (bpf_probe_read_user(&more, sizeof(more), &argv[EXEC_MAX_ARGS]) == 0 && more)
            e->truncated = 1;
    }
    events.ringbuf_submit(e, 0);
}
