/* Shared declarations of sandprint's recorder programs.
 *
 * Every program here reads only tracepoint arguments, BPF helper results and user memory,
 * and kernel structures only at offsets from the running kernel's BTF (pt_regs, and
 * thread_info.status below): bcc compiles against whatever headers are installed, and struct
 * offsets from another kernel's headers would read garbage without any error.
 *
 * The loader (sandprint/profiler/bpf_loader.py) concatenates this header with the .bpf.c
 * files it needs and sets MAX_TARGETS, MAX_TASKS and NR_SLOTS.
 */
#ifndef MAX_TARGETS
#define MAX_TARGETS 64
#endif
#ifndef MAX_TASKS
#define MAX_TASKS 65536
#endif
#ifndef PID_SLOTS
#define PID_SLOTS 32768         /* the kernel's pid_max: pids and tids are below it */
#endif
#ifndef NR_SLOTS
#define NR_SLOTS 512            /* syscall numbers 0..NR_SLOTS-2; NR_SLOTS-1 counts the rest */
#endif

#define TASK_PENDING_EXEC 1     /* launched by sandprint, not yet at its execve */
#define TASK_IN_CONTAINER 2     /* found through its cgroup: its pending exec must be the workload's */
#define TASK_HOST_PIDNS 4       /* ... of a container that shares the host's PID namespace */
#define TASK_TRACKED 8          /* the slot is in use */
#define TASK_FS_INFLIGHT 16     /* in the thread's own (tid) slot: a file syscall awaits its
                                 * result (files.bpf.c); alone it does not mean tracked */

struct task_info {
    u32 target;                 /* index of the target this task belongs to */
    u32 flags;
};

/* tgid (or tid of a thread) -> target: the in-kernel filter every program starts with, and
 * the first thing done for every syscall on the host. An array indexed by pid, not a hash:
 * the verifier inlines an array lookup into a bounds check and an add, where a hash lookup is
 * a call that hashes the key and walks a bucket, which nearly doubled the cost of the
 * programs for untracked tasks. One slot per possible pid (PID_SLOTS = pid_max, 8 bytes each);
 * a free slot is all zeroes. */
BPF_ARRAY(tracked, struct task_info, PID_SLOTS);

/* Counters user space reads at the end. */
enum stat_index {
    STAT_LOST_EVENTS = 0,       /* ring buffer full: an event was dropped */
    STAT_TRACK_FULL = 1,        /* tracked map full: a new task could not be followed */
    STAT_FORKS = 2,
    STAT_EXECS = 3,
    STAT_COMPAT_CALLS = 4,      /* syscalls of another ABI (i386 on x86_64): compat_counts */
    STAT_MAX = 8,
};
BPF_ARRAY(stats, u64, STAT_MAX);

static __always_inline void stat_add(u32 index)
{
    u64 *v = stats.lookup(&index);
    if (v)
        __sync_fetch_and_add(v, 1);
}

/* Events sent to user space. */
enum event_type {
    EV_FORK = 1,
    EV_EXEC = 2,
    EV_EXIT = 3,
};

struct event_header {
    u32 type;
    u32 target;
    u32 pid;                    /* tgid */
    u32 tid;
};

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);

static __always_inline struct task_info *tracked_task(u64 pid_tgid)
{
    u32 tgid = pid_tgid >> 32;
    struct task_info *t = tracked.lookup(&tgid);
    if (!t || !(t->flags & TASK_TRACKED))
        return 0;
    return t;
}

/* Start following a task; fails (and counts it) only for a pid beyond PID_SLOTS. */
static __always_inline int track_task(u32 pid, u32 target, u32 flags)
{
    struct task_info info = { .target = target, .flags = flags | TASK_TRACKED };
    if (tracked.update(&pid, &info) != 0) {
        stat_add(STAT_TRACK_FULL);
        return -1;
    }
    return 0;
}

static __always_inline void untrack_task(u32 pid)
{
    struct task_info none = {};
    tracked.update(&pid, &none);
}

#ifdef COMPAT_STATUS_OFFSET
/* Whether the current syscall is a 32-bit one (i386 on x86_64), as the kernel's own
 * in_ia32_syscall() says: TS_COMPAT in current's thread_info.status, set by the 32-bit entry
 * before the sys_enter tracepoint (and by the exec of a 32-bit program) and cleared on the
 * way back to user space, after sys_exit. COMPAT_STATUS_OFFSET is the offset of
 * thread_info.status in task_struct, from the running kernel's BTF (btf.py), the one kernel
 * structure read here besides pt_regs; TS_COMPAT is the kernel's constant
 * (arch/x86/include/asm/thread_info.h). */
static __always_inline int compat_syscall_active(void)
{
    u32 status = 0;
    char *task = (char *)bpf_get_current_task();
    bpf_probe_read_kernel(&status, sizeof(status), task + COMPAT_STATUS_OFFSET);
    return status & TS_COMPAT;
}
#endif

#ifdef CONTAINER_MODE
/* Container and pod targets: cgroup v2 id -> target (flags: TASK_HOST_PIDNS). Consulted only
 * for tasks the tracked map does not know, and only when the recorder is built for containers,
 * so the ordinary hot path stays one lookup. bpf_get_current_cgroup_id() is the id of the
 * task's cgroup in the unified (v2) hierarchy, also on hybrid v1/v2 hosts. */
BPF_HASH(cgroup_targets, u64, struct task_info, MAX_TARGETS * 4);

/* A task of a container cgroup seen for the first time: it is the runtime setting the container
 * up, a process entering it (runc exec), or a child of a process the recorder has not reached
 * yet. It is tracked "pending exec" and counts from the workload's exec (see syscalls.bpf.c);
 * user space tracks the container's processes it finds already running without the mark. */
static __always_inline struct task_info *track_by_cgroup(u64 pid_tgid)
{
    u64 cg = bpf_get_current_cgroup_id();
    struct task_info *c = cgroup_targets.lookup(&cg);
    if (!c)
        return 0;
    u32 tgid = pid_tgid >> 32;
    if (track_task(tgid, c->target, TASK_PENDING_EXEC | TASK_IN_CONTAINER |
                                    (c->flags & TASK_HOST_PIDNS)) != 0)
        return 0;
    return tracked_task(pid_tgid);
}

/* Is this execve the container's workload starting, rather than the runtime re-executing
 * itself? An OCI runtime executes the workload from inside the container's PID namespace,
 * while its own bootstrap (runc's memfd re-exec of itself, say) runs in the host's: the
 * helper fails with -EINVAL for a task outside the namespace given by HOST_PIDNS_DEV/INO.
 * Containers sharing the host PID namespace fall back to: execve counts, execveat
 * (runc's fexecve of its cloned binary) does not. */
static __always_inline int is_workload_exec(struct task_info *t, long nr)
{
    struct bpf_pidns_info ns = {};
    if (bpf_get_ns_current_pid_tgid(HOST_PIDNS_DEV, HOST_PIDNS_INO, &ns, sizeof(ns)) != 0)
        return 1;
    if (!(t->flags & TASK_HOST_PIDNS))
        return 0;
    return nr == NR_EXECVE;
}
#endif
