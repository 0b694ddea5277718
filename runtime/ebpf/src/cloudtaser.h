/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the BPF programs and the agent: one definition of every wire value. */
#ifndef CLOUDTASER_H
#define CLOUDTASER_H

#define CT_COMM_LEN 16

/* Settings live in an array map rather than .rodata so a restarted agent can
 * reuse the pinned copy (mode is sticky, see agent.c) without reloading. */
enum ct_mode {
	CT_MODE_OFF = 0, /* never set: maps exist but nothing is enforced yet */
	CT_MODE_DETECT = 1, /* log every would-be denial, deny nothing */
	CT_MODE_ENFORCE = 2,
};

/* Task-local mark (BPF_MAP_TYPE_TASK_STORAGE). Protection is attached to the
 * task itself, so it dies with the task and can never pass to a reused PID. */
enum ct_mark_flags {
	CT_F_PROTECTED = 1,
	CT_F_REGISTERED = 2, /* registered over the socket (vs. inherited) */
	CT_F_INHERITED = 4, /* child or thread of a protected task */
	CT_F_AGENT = 8, /* an instance of the agent binary */
};

/* Index of protected processes by tgid, for status and for hooks that only
 * have a tgid number (file_open). start_ticks (the process start time in
 * USER_HZ ticks, as in /proc/PID/stat field 22) makes a stale entry never
 * match a process that reuses the number. */
struct ct_proc {
	unsigned long long start_ticks;
	unsigned int parent_tgid;
	unsigned int flags;
};

struct ct_settings {
	unsigned int mode;
	unsigned int agent_dev; /* kernel dev_t encoding: major << 20 | minor */
	unsigned long long agent_ino;
};

enum ct_hook {
	CT_H_PTRACE = 1,
	CT_H_FILE_OPEN = 2,
	CT_H_BPF_MAP = 3,
	CT_H_BPF_PROG = 4,
	CT_H_INODE = 5,
	CT_H_BPRM = 6,
	CT_H_TRACEME = 7,
	CT_H_RLIMIT = 8,
};

enum ct_vector {
	CT_V_OTHER = 0,
	CT_V_ENVIRON = 1,
	CT_V_MEM = 2,
	CT_V_MAPS = 3,
	CT_V_SMAPS = 4,
	CT_V_PAGEMAP = 5,
	CT_V_STACK = 6,
	CT_V_VM_READV = 7,
	CT_V_VM_WRITEV = 8,
	CT_V_PTRACE = 9,
	CT_V_PIDFD_GETFD = 10,
	CT_V_PROC_LINK = 11, /* /proc/PID/{ns,fd,exe,cwd,root}, opened during path walk */
	CT_V_KCMP = 12,
	CT_V_BPF_MAP = 13,
	CT_V_BPF_PROG = 14,
	CT_V_PIN_REMOVE = 15,
	CT_V_AGENT_EXE_WRITE = 16,
	CT_V_TRACED_AGENT = 17,
	CT_V_TRACEME = 18,
	CT_V_CORE_RLIMIT = 19,
	CT_V_PROC_READ = 20, /* READ-mode ptrace check from another /proc reader */
	CT_V_SMAPS_ROLLUP = 21,
	CT_V__COUNT
};

enum ct_stat {
	CT_S_DENIED = 0,
	CT_S_DETECTED = 1,
	CT_S_EVENTS_DROPPED = 2,
	CT_S_INHERITED = 3,
	CT_S_EXITED = 4,
	CT_S__COUNT = 8,
};

struct ct_event {
	unsigned long long ts_ns; /* CLOCK_BOOTTIME */
	unsigned long long cgroup_id; /* attacker's cgroup v2 id */
	unsigned int attacker_tgid;
	unsigned int attacker_pid;
	unsigned int attacker_uid;
	unsigned int target_tgid; /* 0 when the target is not a process */
	unsigned int hook;
	unsigned int vector;
	unsigned int ptrace_mode;
	int syscall_nr;
	int verdict; /* 0: allowed (detect mode), else the errno returned (negative) */
	unsigned int pad;
	char attacker_comm[CT_COMM_LEN];
	char target_comm[CT_COMM_LEN];
};

#endif
