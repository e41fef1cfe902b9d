/* SPDX-License-Identifier: MIT */
/*
 * Isolated domains: a driver module running in its own sandboxed process.
 *
 * The kernel side (this process) creates a domain from a driver module and
 * an options record.  lib/domain maps the domain's arena at a fixed address,
 * creates its fIPC channel and log pipe, and starts the small `lxds-domain`
 * executable, which maps the same memory, loads the glue libraries and the
 * module, locks itself down (seccomp allow-list, no new privileges, not
 * dumpable, own process group, dies with the kernel), pins itself and only
 * then runs driver code.  A monitor thread per domain watches it through a
 * pidfd: on death every wait on its channel fails with -EIO, its
 * capabilities are revoked and the kernel carries on; the domain can be
 * started again.  A call left unanswered past a deadline gets it killed.
 *
 * Errors are negative errno values.
 */
#ifndef LXDS_DOMAIN_H
#define LXDS_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lxds/arena.h"
#include "lxds/cap.h"
#include "lxds/fipc.h"
#include "lxds/module_abi.h"

/* ---- the control protocol (op bit 0x400000) ------------------------------------------ */

/*
 * fIPC op space: 0 .. 0x3fffff rpc numbers (generated glue), 0x800000 set
 * on replies (async runtime), 0x400000 set on the runtime's own control
 * messages, below.
 */
#define LXD_OP_CTL 0x400000u
#define LXD_OP_REPLY 0x800000u

enum lxd_ctl_op {
	LXD_CTL_READY = LXD_OP_CTL | 1, /* domain->kernel ring: up and locked down */
	LXD_CTL_PING = LXD_OP_CTL | 2,  /* call: reply w0 = request w0 + 1 */
	LXD_CTL_INIT = LXD_OP_CTL | 3,  /* call: run the module's init; reply w0 = its result */
	LXD_CTL_EXIT = LXD_OP_CTL | 4,  /* call: run the module's exit, reply, then end */
	LXD_CTL_ERROR = LXD_OP_CTL | 5, /* reply op: request refused, w0 = -errno */
};

#define LXD_CTL_MAGIC 0x6c78647352445931ull /* "lxdsRDY1": READY's w0 */
#define LXD_CTL_VERSION 1u

/*
 * A message copied out of shared memory once.  Everything the kernel
 * decides is decided on such a copy: a domain that rewrites the slot
 * while the kernel checks it changes nothing.
 */
struct lxd_msg_copy {
	uint32_t op, tag;
	uint64_t w[LXD_MSG_WORDS];
};

/* Copy @m (shared, untrusted) into @out, each word read exactly once. */
void lxd_msg_copy_in(struct lxd_msg_copy *out, const struct lxd_msg *m);

/* What a READY message says, checked. */
struct lxd_ctl_ready {
	uint32_t version;
	pid_t pid;
	uint64_t arena_base, arena_size; /* must echo what the kernel gave */
	int32_t cpu;                     /* CPU it pinned itself to, -1 none */
};

/*
 * Decode a READY message from the domain.  Returns 0, or -EPROTO for a
 * wrong op, magic or version, -ERANGE for values out of range.
 */
int lxd_ctl_decode_ready(const struct lxd_msg_copy *m, struct lxd_ctl_ready *out);

/*
 * Decode the reply to control call @req (PING: w0 must be @ping_word + 1;
 * INIT/EXIT: w0 an int in [-4095, 0]).  Returns 0 with *@result set, a
 * negative errno the domain refused the request with (LXD_CTL_ERROR), or
 * -EPROTO for a reply that makes no sense.
 */
int lxd_ctl_decode_reply(uint32_t req, uint64_t ping_word, const struct lxd_msg_copy *m,
			 int *result);

/* ---- the domain side: what glue code gets ------------------------------------------- */

#define LXD_DOMAIN_ENV_ABI 1u
#define LXD_GLUE_MAIN_SYMBOL "lxd_glue_domain_main"

/* Handed to a glue library's entry point, after lockdown. */
struct lxd_domain_env {
	uint32_t abi;                          /* LXD_DOMAIN_ENV_ABI */
	const char *name;                      /* domain name */
	struct lxd_chan *chan;                 /* domain side of the channel */
	struct lxd_arena *arena;               /* allocator over the domain's share */
	void *arena_base;                      /* same address as in the kernel */
	size_t arena_size;
	const struct lxd_module_info *module;  /* the driver, or NULL */
	int log_fd;                            /* write-only; also stdout/stderr */
	int cpu;                               /* pinned CPU, -1 none */
	bool module_live;                      /* init ran and succeeded, exit not yet run */
};

/*
 * Optional, exported as LXD_GLUE_PREPARE_SYMBOL by a glue library: runs
 * after the libraries are loaded and the domain is pinned, *before*
 * lockdown, for set-up the sandbox forbids (the async runtime's stacks,
 * guard pages and signal handlers).  Glue code only; no module code runs
 * yet.  Returns 0, or -errno: the domain then ends.
 */
#define LXD_GLUE_PREPARE_SYMBOL "lxd_glue_domain_prepare"
typedef int (*lxd_glue_prepare_fn)(void);

/*
 * A glue library's entry point, exported as LXD_GLUE_MAIN_SYMBOL.  Runs
 * after lockdown; serves the domain until it returns its exit status.
 * Glue without it only provides symbols; the default serve loop runs.
 */
typedef int (*lxd_glue_main_fn)(struct lxd_domain_env *env);

/*
 * Handler for non-control requests: @w is a private copy of the payload
 * (copy once); for a call (@is_call) fill @w with the reply and return the
 * reply op (>= 0); for a ring message return anything.  A negative return
 * to a call sends LXD_CTL_ERROR with w0 = that value.
 */
typedef int (*lxd_domain_handler_fn)(void *arg, struct lxd_domain_env *env, uint32_t op,
				     uint64_t w[LXD_MSG_WORDS], bool is_call);

/*
 * The serve loop: waits on the doorbell (sleeping when idle), handles the
 * control requests (PING, INIT, EXIT) itself and passes every other
 * request to @fn (NULL: refused with -ENOSYS).  This is where the async
 * runtime's dispatcher plugs in.  Returns the domain's exit status after
 * LXD_CTL_EXIT (0), or 1 when the channel dies.
 */
int lxd_domain_serve(struct lxd_domain_env *env, lxd_domain_handler_fn fn, void *arg);

/* The `lxds-domain` executable's whole main(). */
int lxd_domain_runtime_main(int argc, char **argv);

/* ---- the kernel side -------------------------------------------------------------- */

struct lxd_domain;

struct lxd_domain_opts {
	const char *name;            /* for logs; NULL: the module's file name */
	const char *module;          /* driver .so path, or NULL (glue only) */
	const char *const *glue;     /* NULL-terminated glue .so paths, loaded first; or NULL */
	const char *const *params;   /* NULL-terminated "name=value" module params, or NULL */
	int cpu;                     /* CPU to pin the domain to, -1: not pinned */
	size_t arena_size;           /* bytes, multiple of 64 KiB; 0: 16 MiB */
	size_t arena_domain_share;   /* bytes the domain allocates from; 0: half */
	uint32_t chan_slots;         /* ring slots per direction; 0: 256 */
	uint32_t hang_ms;            /* a call unanswered this long kills the domain; 0: 2000 */
	uint32_t start_ms;           /* deadline for READY; 0: 10000 */
	bool kill_on_bad_ref;        /* a refused capability lookup ends the domain */
	const char *exe;             /* lxds-domain path; NULL: $LXDS_DOMAIN_EXE or the built one */
	/* Each line the domain writes (without newline); NULL: to stderr, prefixed. */
	void (*log)(void *arg, const char *name, const char *line);
	void *log_arg;
	/* Called on the monitor thread after the domain died and was cleaned up. */
	void (*on_death)(void *arg, struct lxd_domain *d);
	void *on_death_arg;
};

enum lxd_domain_state {
	LXD_DOMAIN_NEW = 0,   /* created, not started */
	LXD_DOMAIN_STARTING,  /* process started, READY not seen yet */
	LXD_DOMAIN_RUNNING,
	LXD_DOMAIN_STOPPING,  /* orderly exit requested */
	LXD_DOMAIN_DEAD,      /* gone: see struct lxd_domain_status */
};

enum lxd_domain_end {
	LXD_END_NONE = 0,
	LXD_END_EXIT,      /* exited on its own or after LXD_CTL_EXIT: exit_code */
	LXD_END_SYSCALL,   /* a system call outside the allow-list (SIGSYS): syscall_nr/name */
	LXD_END_SIGNAL,    /* another fatal signal (crash): signo, fault_addr */
	LXD_END_HUNG,      /* killed: a call went unanswered past hang_ms */
	LXD_END_KILLED,    /* killed by lxd_domain_kill() */
	LXD_END_BAD_REF,   /* killed: a refused capability lookup (kill_on_bad_ref) */
};

struct lxd_domain_status {
	enum lxd_domain_state state;
	pid_t pid;                 /* current or last process, 0 before the first start */
	unsigned starts, deaths;
	enum lxd_domain_end end;   /* how the last process ended */
	int exit_code;             /* LXD_END_EXIT */
	int signo;                 /* the fatal signal, 0 for an exit */
	int syscall_nr;            /* LXD_END_SYSCALL: number, -1 unknown */
	char syscall_name[32];     /* LXD_END_SYSCALL: "openat", "?" unknown */
	uint64_t fault_addr;       /* SIGSEGV/SIGBUS: the address, from the domain's report */
	bool fault_reported;       /* the domain's fault handler reported the details */
	uint64_t cpu_ns;           /* CPU time (user + system) of the current/last process */
	char reason[160];          /* one line for humans */
};

/*
 * Create a domain and start it (see lxd_domain_start()).  Returns 0 with
 * *@out set, or -errno: -EINVAL bad options, -ENOENT a file missing,
 * -ENOSPC no arena slot, -ETIMEDOUT no READY in time, -ECHILD the domain
 * died while starting (its log says why; *@out is still NULL).
 */
int lxd_domain_create(const struct lxd_domain_opts *o, struct lxd_domain **out);

/*
 * Start (or restart, after death or stop) the domain's process and wait
 * for READY.  A restart gets a fresh channel and a zeroed domain share of
 * the arena; the kernel's share and its buffers survive.  Callers must be
 * done with the old channel (they got -EIO).  Returns 0 or -errno as
 * lxd_domain_create().
 */
int lxd_domain_start(struct lxd_domain *d);

/*
 * Orderly stop: LXD_CTL_EXIT (the module's exit path runs), then wait for
 * the process to end, killing it past the hang deadline.  Returns the
 * module exit call's status (0), -EIO if it died instead, or -ESRCH when
 * not running.
 */
int lxd_domain_stop(struct lxd_domain *d);

/* SIGKILL the domain and wait until the monitor has cleaned up.  Returns 0 or -ESRCH. */
int lxd_domain_kill(struct lxd_domain *d);

/* Stop (or kill) it if running, then free everything, arena included. */
void lxd_domain_destroy(struct lxd_domain *d);

/* Wait until the domain is DEAD, up to @timeout_ms (< 0: for ever).  Returns 0 or -ETIMEDOUT. */
int lxd_domain_wait_dead(struct lxd_domain *d, int timeout_ms);

/*
 * A synchronous call through the call line: @w (7 words) is the request,
 * and receives a private copy of the reply.  Bracketed by call_begin/end,
 * serialized with other callers of this function.  Returns the reply op
 * (>= 0), -EIO when the domain is dead (or dies meanwhile), -ESRCH when
 * it has not started.
 */
int lxd_domain_call(struct lxd_domain *d, uint32_t op, uint64_t w[LXD_MSG_WORDS]);

/* Control calls over the call line (serialized; watched by the hang deadline). */
int lxd_domain_ping(struct lxd_domain *d);            /* 0 or -errno (-EIO dead) */
int lxd_domain_module_init(struct lxd_domain *d);     /* the module init's result, or -EIO */

/*
 * Mark a call to @d in flight / answered, for the hang deadline: the
 * domain is killed when calls are in flight and none was answered for
 * hang_ms.  The async runtime (and every raw-fIPC caller) brackets calls
 * with these.  Cheap: two relaxed atomics.
 */
void lxd_domain_call_begin(struct lxd_domain *d);
void lxd_domain_call_end(struct lxd_domain *d);
/* Calls are still in flight but one was just answered: the deadline starts again. */
void lxd_domain_call_progress(struct lxd_domain *d);

/* The kernel side of the domain's channel.  Valid until the next start. */
struct lxd_chan *lxd_domain_chan(struct lxd_domain *d);

/* The kernel's allocator over its share of the arena (whole arena for checks). */
struct lxd_arena *lxd_domain_arena(struct lxd_domain *d);

/* The domain's capability table (owner id = lxd_domain_id()). */
struct lxd_cap_table *lxd_domain_caps(struct lxd_domain *d);

uint32_t lxd_domain_id(const struct lxd_domain *d);
const char *lxd_domain_name(const struct lxd_domain *d);

/* Snapshot of the domain's state.  CPU time is read now (live) or at death. */
void lxd_domain_get_status(struct lxd_domain *d, struct lxd_domain_status *st);

/* Short name of a state / an end ("running", "syscall"). */
const char *lxd_domain_state_name(enum lxd_domain_state s);
const char *lxd_domain_end_name(enum lxd_domain_end e);

/*
 * CPU time (user + system) of process @pid from /proc/<pid>/stat, in ns.
 * Returns 0, or -errno (-ESRCH: no such process).
 */
int lxd_proc_cpu_ns(pid_t pid, uint64_t *ns);

/* The fault record a domain writes to its log pipe before it dies. */
#define LXD_FAULT_PREFIX "\x1elxds-fault "

/*
 * Parse one log line as a fault record: "<prefix>sig=N nr=N addr=0xN".
 * Returns 0 with the fields set, -EINVAL when it is not one.
 */
int lxd_fault_parse(const char *line, int *signo, int *nr, uint64_t *addr);

#endif
