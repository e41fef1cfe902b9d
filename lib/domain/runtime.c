/* SPDX-License-Identifier: MIT */
/*
 * The domain side: what `lxds-domain` does, in order.
 *
 *   1. die with the kernel (parent-death signal, re-checked against the
 *      parent pid the kernel passed, closing the race with an early death)
 *   2. map the arena at the kernel's address and attach the channel (this
 *      registers membarrier), then close both memfds
 *   3. dlopen the glue libraries (RTLD_GLOBAL: the module's undefined
 *      symbols resolve to their stubs), then the module (RTLD_NOW)
 *   4. pin to the CPU, give stdout a fixed buffer (no fstat later)
 *   5. lock down (sandbox.c)
 *   6. only now run module code: lxd_module_info(), parameters
 *   7. send READY, then run the glue's entry point or the serve loop
 *   8. _exit: atexit handlers would need syscalls the sandbox refuses
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "internal.h"
#include "lxds/util.h"

#define MAX_GLUE 8
#define MAX_PARAMS 64

struct args {
	const char *name, *module;
	const char *glue[MAX_GLUE];
	const char *params[MAX_PARAMS];
	unsigned nglue, nparams;
	uint64_t slots, arena_base, arena_size, share_off, share_len, ppid;
	int64_t cpu;
};

static void fatal(const char *what, const char *detail)
{
	fprintf(stderr, "lxds-domain: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	fflush(stderr);
	_exit(2);
}

static bool num(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return false;
	*out = v;
	return true;
}

static void parse(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->cpu = -1;
	a->name = "domain";
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i], *eq = strchr(arg, '=');
		if (strncmp(arg, "--", 2) != 0 || !eq)
			fatal("bad argument (this program is started by lib/domain)", arg);
		*eq = '\0';
		const char *k = arg + 2, *v = eq + 1;
		uint64_t u;
		bool ok = true;
		if (!strcmp(k, "name"))
			a->name = v;
		else if (!strcmp(k, "module"))
			a->module = v;
		else if (!strcmp(k, "glue") && a->nglue < MAX_GLUE)
			a->glue[a->nglue++] = v;
		else if (!strcmp(k, "param") && a->nparams < MAX_PARAMS)
			a->params[a->nparams++] = v;
		else if (!strcmp(k, "cpu"))
			a->cpu = strcmp(v, "-1") == 0 ? -1 : (ok = num(v, &u)) ? (int64_t)u : -1;
		else if (!strcmp(k, "slots"))
			ok = num(v, &a->slots);
		else if (!strcmp(k, "arena-base"))
			ok = num(v, &a->arena_base);
		else if (!strcmp(k, "arena-size"))
			ok = num(v, &a->arena_size);
		else if (!strcmp(k, "share-off"))
			ok = num(v, &a->share_off);
		else if (!strcmp(k, "share-len"))
			ok = num(v, &a->share_len);
		else if (!strcmp(k, "ppid"))
			ok = num(v, &a->ppid);
		else
			fatal("unknown or repeated too often", k);
		if (!ok)
			fatal("not a number", k);
	}
	if (!a->slots || !a->arena_base || !a->arena_size || !a->share_len || !a->ppid)
		fatal("missing arguments (this program is started by lib/domain)", NULL);
}

/* Tell the kernel we are up: the first message on the ring. */
static int send_ready(struct lxd_domain_env *env, const struct args *a)
{
	struct lxd_msg *m = lxd_chan_reserve(env->chan);
	if (!m)
		return -EIO;
	m->w[0] = LXD_CTL_MAGIC;
	m->w[1] = LXD_CTL_VERSION;
	m->w[2] = (uint64_t)getpid();
	m->w[3] = a->arena_base;
	m->w[4] = a->arena_size;
	m->w[5] = (uint64_t)(int64_t)env->cpu;
	m->w[6] = 0;
	lxd_msg_set(m, LXD_CTL_READY, 0);
	lxd_chan_publish(env->chan);
	return 0;
}

static const struct lxd_module_info *module_info(void *h, const char *path)
{
	lxd_module_info_fn fn = (lxd_module_info_fn)dlsym(h, LXD_MODULE_INFO_SYMBOL);
	if (!fn)
		fatal("module has no " LXD_MODULE_INFO_SYMBOL, path);
	return (void *)fn; /* called only after lockdown */
}

int lxd_domain_runtime_main(int argc, char **argv)
{
	static struct args a;
	static struct lxd_chan chan;
	static struct lxd_arena arena;
	static struct lxd_domain_env env;
	static char outbuf[4096];

	parse(argc, argv, &a);
	/* 1: die with the kernel.  The signal is armed first, then the parent
	 * checked: if it died before, we are orphaned and end here. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || (uint64_t)getppid() != a.ppid)
		fatal("the kernel is gone", NULL);

	/* 2: memory. */
	int rc = lxd_arena_map_at(LXD__CHILD_ARENA_FD, (uintptr_t)a.arena_base, a.arena_size);
	if (rc)
		fatal("cannot map the arena at the kernel's address", strerror(-rc));
	close(LXD__CHILD_ARENA_FD);
	if (a.slots > LXD_CHAN_MAX_SLOTS)
		fatal("bad ring size", NULL);
	rc = lxd_chan_open_shm(&chan, LXD__CHILD_CHAN_FD, (uint32_t)a.slots, LXD_SIDE_DOMAIN);
	if (rc)
		fatal("cannot attach the channel", strerror(-rc));
	close(LXD__CHILD_CHAN_FD);
	rc = lxd_arena_init(&arena, (void *)(uintptr_t)a.arena_base, a.arena_size, a.share_off,
			    a.share_len);
	if (rc)
		fatal("bad arena geometry", strerror(-rc));

	/* 3: code, loaded but not run (modules have no constructors). */
	lxd_glue_main_fn glue_main = NULL;
	lxd_glue_prepare_fn glue_prepare = NULL;
	for (unsigned i = 0; i < a.nglue; i++) {
		void *h = dlopen(a.glue[i], RTLD_NOW | RTLD_GLOBAL);
		if (!h)
			fatal("cannot load glue", dlerror());
		if (!glue_main)
			glue_main = (lxd_glue_main_fn)dlsym(h, LXD_GLUE_MAIN_SYMBOL);
		if (!glue_prepare)
			glue_prepare = (lxd_glue_prepare_fn)dlsym(h, LXD_GLUE_PREPARE_SYMBOL);
	}
	lxd_module_info_fn info_fn = NULL;
	if (a.module) {
		void *h = dlopen(a.module, RTLD_NOW);
		if (!h)
			fatal("cannot load module", dlerror());
		info_fn = (lxd_module_info_fn)module_info(h, a.module);
	}

	/* 4: placement and stdio. */
	env.cpu = -1;
	if (a.cpu >= 0) {
		rc = lxd_pin_self((int)a.cpu);
		if (rc)
			fatal("cannot pin to the CPU", strerror(-rc));
		env.cpu = (int)a.cpu;
	}
	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));

	/* 4b: the glue's own set-up that needs what the sandbox forbids (the
	 * async runtime's stacks and signal handlers); glue code, not module code. */
	if (glue_prepare) {
		rc = glue_prepare();
		if (rc)
			fatal("glue set-up failed", strerror(rc < 0 ? -rc : rc));
	}

	/* 5: lockdown. */
	rc = lxd__sandbox_lockdown(&chan);
	if (rc)
		fatal("cannot lock down", strerror(-rc));

	/* 6: module code may run from here on. */
	env.abi = LXD_DOMAIN_ENV_ABI;
	env.name = a.name;
	env.chan = &chan;
	env.arena = &arena;
	env.arena_base = (void *)(uintptr_t)a.arena_base;
	env.arena_size = a.arena_size;
	env.log_fd = STDERR_FILENO;
	if (info_fn) {
		const struct lxd_module_info *mi = info_fn();
		if (!mi || mi->abi != LXD_MODULE_ABI)
			fatal("module ABI mismatch", a.module);
		for (unsigned i = 0; i < a.nparams; i++)
			if (lxd_module_set_param(mi, a.params[i]) != 0)
				fatal("bad module parameter", a.params[i]);
		env.module = mi;
	}

	/* 7: serve. */
	if (send_ready(&env, &a) != 0)
		_exit(1);
	int status = glue_main ? glue_main(&env) : lxd_domain_serve(&env, NULL, NULL);
	fflush(stdout);
	_exit(status & 0xff);
}
