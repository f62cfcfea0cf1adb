/* Container mode: new cgroups reported to user space as they are made.
 *
 * A container runtime makes the container's cgroup before it puts any process in it, so user
 * space learns the cgroup (and adds it to cgroup_targets when its name is a container's of the
 * target) before the runtime's init process makes its first syscall there. Only the unified
 * (v2) hierarchy matters: bpf_get_current_cgroup_id() names cgroups of that one.
 */

#define CGROUP_PATH_LEN 256
#define EV_CGROUP_MKDIR 17      /* EV_FS (files.bpf.c) is 16 */

struct cgroup_event {
    struct event_header h;
    u64 id;
    s32 level;
    u32 pad;
    char path[CGROUP_PATH_LEN];
};

TRACEPOINT_PROBE(cgroup, cgroup_mkdir)
{
    if (args->root != CGROUP2_HIERARCHY_ID)
        return 0;
    struct cgroup_event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) {
        stat_add(STAT_LOST_EVENTS);
        return 0;
    }
    u64 pid_tgid = bpf_get_current_pid_tgid();
    e->h.type = EV_CGROUP_MKDIR;
    e->h.target = 0xffffffff;
    e->h.pid = pid_tgid >> 32;
    e->h.tid = (u32)pid_tgid;
    e->id = args->id;
    e->level = args->level;
    e->pad = 0;
    e->path[0] = 0;
    TP_DATA_LOC_READ_STR(e->path, path, CGROUP_PATH_LEN);
    events.ringbuf_submit(e, 0);
    return 0;
}
