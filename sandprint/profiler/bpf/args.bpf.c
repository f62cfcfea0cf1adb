/* The decisive arguments of the syscalls seccomp/argspec.py names (ARG_RULES), per target.
 *
 * Called from on_sys_enter (syscalls.bpf.c) for a tracked task's every syscall: a call of one
 * of those syscalls has its arguments read from the same place the file part reads them
 * (syscall_args: the saved registers at offsets from BTF, or the regular tracepoint's
 * record), masked as argspec.py says, and counted in the kernel under (target, syscall,
 * masked values). User space reads the map once at the end (arg_values.py).
 *
 * The table is argspec.py's, given as -D values (arg_values.defines): for rule i,
 * ARG_NR_i (the syscall number on this architecture, -1 for none), and for its argument j
 * (0..ARG_VALUES-1) ARG_IX_i_j (the position) and ARG_MK_i_j (the mask; 0 for no argument).
 * No second table is kept here.
 */

/* The six arguments: from the regular tracepoint's record, or, on the raw tracepoint, from the
 * caller's saved registers at the offsets the running kernel's BTF gives (btf.py). Read only
 * for a tracked task's file syscalls, execs and the calls of ARG_RULES. */
#ifndef RAW_SYSCALL_ARGS
#define SC_ARG0 0
#define SC_ARG1 0
#define SC_ARG2 0
#define SC_ARG3 0
#define SC_ARG4 0
#define SC_ARG5 0
#endif

static __always_inline void syscall_args(u64 out[6], const void *regs, const unsigned long *tp)
{
    if (tp) {
#pragma unroll
        for (int i = 0; i < 6; i++)
            out[i] = tp[i];
        return;
    }
    bpf_probe_read_kernel(&out[0], 8, regs + SC_ARG0);
    bpf_probe_read_kernel(&out[1], 8, regs + SC_ARG1);
    bpf_probe_read_kernel(&out[2], 8, regs + SC_ARG2);
    bpf_probe_read_kernel(&out[3], 8, regs + SC_ARG3);
    bpf_probe_read_kernel(&out[4], 8, regs + SC_ARG4);
    bpf_probe_read_kernel(&out[5], 8, regs + SC_ARG5);
}

#define ARG_RULES_MAX 12        /* rules the C below has slots for */
#define ARG_VALUES 3            /* decisive arguments per rule, at most */
#ifndef ARG_MAX_KEYS
#define ARG_MAX_KEYS 8192
#endif

struct arg_key {
    u32 target;
    u32 nr;
    u64 v[ARG_VALUES];
};

/* (target, syscall, masked values) -> calls */
BPF_HASH(arg_counts, struct arg_key, u64, ARG_MAX_KEYS);
/* [0]: calls whose values found no room in arg_counts (the recording is then incomplete) */
BPF_ARRAY(args_lost, u64, 1);

#define ARG_U64(x) x##ULL
#define ARG_MASK(x) ARG_U64(x)

/* which rule (0..ARG_RULES_MAX-1) a syscall number has, or -1 */
#define ARG_MATCH(i) if (nr == ARG_NR_##i) return i;
static __always_inline int arg_rule(long nr)
{
    ARG_MATCH(0) ARG_MATCH(1) ARG_MATCH(2) ARG_MATCH(3) ARG_MATCH(4) ARG_MATCH(5)
    ARG_MATCH(6) ARG_MATCH(7) ARG_MATCH(8) ARG_MATCH(9) ARG_MATCH(10) ARG_MATCH(11)
    return -1;
}

#define ARG_FILL(i) case i: \
    key->v[0] = a[ARG_IX_##i##_0] & ARG_MASK(ARG_MK_##i##_0); \
    key->v[1] = a[ARG_IX_##i##_1] & ARG_MASK(ARG_MK_##i##_1); \
    key->v[2] = a[ARG_IX_##i##_2] & ARG_MASK(ARG_MK_##i##_2); \
    break;
static __always_inline void arg_fill(struct arg_key *key, int rule, const u64 a[6])
{
    switch (rule) {
    ARG_FILL(0) ARG_FILL(1) ARG_FILL(2) ARG_FILL(3) ARG_FILL(4) ARG_FILL(5)
    ARG_FILL(6) ARG_FILL(7) ARG_FILL(8) ARG_FILL(9) ARG_FILL(10) ARG_FILL(11)
    }
}

static __always_inline void args_enter(u32 target, long nr, const void *regs,
                                       const unsigned long *tp)
{
    int rule = arg_rule(nr);
    if (rule < 0)
        return;
    u64 a[6] = {};
    syscall_args(a, regs, tp);
    struct arg_key key = {.target = target, .nr = (u32)nr};
    arg_fill(&key, rule, a);
    u64 *c = arg_counts.lookup(&key);
    if (c) {
        __sync_fetch_and_add(c, 1);
        return;
    }
    u64 one = 1;
    if (arg_counts.insert(&key, &one) == 0)
        return;
    c = arg_counts.lookup(&key);        /* another CPU put it there first */
    if (c) {
        __sync_fetch_and_add(c, 1);
        return;
    }
    u32 zero = 0;
    u64 *lost = args_lost.lookup(&zero);
    if (lost)
        __sync_fetch_and_add(lost, 1);
}
