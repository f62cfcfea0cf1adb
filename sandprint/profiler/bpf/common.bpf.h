/* Shared declarations of sandprint's recorder programs.
 *
 * Every program here reads only tracepoint arguments, BPF helper results and user memory,
 * never a kernel structure: bcc compiles against whatever headers are installed, and struct
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
#ifndef NR_SLOTS
#define NR_SLOTS 512            /* syscall numbers 0..NR_SLOTS-2; NR_SLOTS-1 counts the rest */
#endif

#define TASK_PENDING_EXEC 1     /* launched by sandprint, not yet at its execve */

struct task_info {
    u32 target;                 /* index of the target this task belongs to */
    u32 flags;
};

/* tgid (or tid of a thread) -> target: the in-kernel filter every program starts with. */
BPF_HASH(tracked, u32, struct task_info, MAX_TASKS);

/* Counters user space reads at the end. */
enum stat_index {
    STAT_LOST_EVENTS = 0,       /* ring buffer full: an event was dropped */
    STAT_TRACK_FULL = 1,        /* tracked map full: a new task could not be followed */
    STAT_FORKS = 2,
    STAT_EXECS = 3,
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
    return tracked.lookup(&tgid);
}
