/* SPDX-License-Identifier: MIT */
/*
 * The module loader.  Native: dlopen the driver .so into the kernel process
 * (RTLD_NOW, so a missing kernel symbol fails the load, not a later call);
 * its undefined symbols resolve to the kernel's own functions, which the
 * executable exports (linked with export_dynamic).  Isolated: the same .so
 * goes into a domain with the generated glue (kernel/isolated/); the kernel
 * never maps it.
 *
 * One module's init or exit runs at a time (module_mutex); while it runs it
 * is "current", so whatever it registers is owned by it and can be cleaned
 * up if its exit forgets, or if its domain dies.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/printk.h>

#include "internal.h"

struct lxd_module {
	void *handle;
	const struct lxd_module_info *info;
	enum lxd_module_mode mode;
	char name[64];
	char **params; /* copies: a charp parameter points into them */
	size_t nparams;
	struct lxd_iso *iso; /* isolated: its domain (kernel/isolated/) */
};

static pthread_mutex_t module_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Per thread: only the thread running a module's init/exit sees it as current. */
static _Thread_local struct lxd_module *current;

struct lxd_module *lxd_module_current(void)
{
	return current;
}

static void set_current(struct lxd_module *m)
{
	current = m;
}

void lxd_module_set_current(struct lxd_module *m)
{
	current = m;
}

struct lxd_iso *lxd_module_iso(const struct lxd_module *m)
{
	return m ? m->iso : NULL;
}

void lxd_module_reap(struct lxd_module *m)
{
	pthread_mutex_lock(&module_mutex);
	struct lxd_module *was = current;
	set_current(m);
	/* Unregister only: the devices' memory stays until unload, for whoever holds them. */
	lxd_net_unregister_owner(m);
	lxd_blk_release_owner(m);
	set_current(was);
	pthread_mutex_unlock(&module_mutex);
}

static void free_module(struct lxd_module *m);
static void name_from_path(char *dst, size_t len, const char *path, const char *given);

/* Isolated: the domain runs the module; the kernel keeps its name and params only. */
static int load_isolated(const char *path, const char *const *params, size_t nparams,
			 struct lxd_module **out)
{
	if (access(path, R_OK) != 0)
		return -errno;
	struct lxd_module *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mode = LXD_MODULE_ISOLATED;
	name_from_path(m->name, sizeof(m->name), path, NULL);
	pthread_mutex_lock(&module_mutex);
	set_current(m);
	int err = lxd_iso_load(m, path, params, nparams, &m->iso);
	if (err) {
		lxd_net_release_owner(m);
		lxd_blk_release_owner(m);
	}
	set_current(NULL);
	pthread_mutex_unlock(&module_mutex);
	if (err) {
		lxd_iso_release(m->iso);
		free_module(m);
		return err;
	}
	atomic_fetch_add(&lxd_counts.modules, 1);
	*out = m;
	return 0;
}

static void free_module(struct lxd_module *m)
{
	for (size_t i = 0; i < m->nparams; i++)
		free(m->params[i]);
	free(m->params);
	free(m);
}

static void name_from_path(char *dst, size_t len, const char *path, const char *given)
{
	if (given && given[0]) {
		snprintf(dst, len, "%s", given);
		return;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strcspn(base, ".");
	snprintf(dst, len, "%.*s", (int)n, base);
}

int lxd_module_load(const char *path, enum lxd_module_mode mode, const char *const *params,
		    size_t nparams, struct lxd_module **out)
{
	if (!path || !out || (nparams && !params))
		return -EINVAL;
	*out = NULL;
	if (mode == LXD_MODULE_ISOLATED)
		return load_isolated(path, params, nparams, out);
	if (mode != LXD_MODULE_NATIVE)
		return -EINVAL;
	if (access(path, R_OK) != 0)
		return -errno;
	struct lxd_module *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mode = mode;
	m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->handle) {
		pr_err("module %s: %s\n", path, dlerror());
		free_module(m);
		return -ENOEXEC;
	}
	lxd_module_info_fn fn = (lxd_module_info_fn)dlsym(m->handle, LXD_MODULE_INFO_SYMBOL);
	m->info = fn ? fn() : NULL;
	if (!m->info || m->info->abi != LXD_MODULE_ABI || !m->info->init) {
		pr_err("module %s: not an lxds module (no %s, or ABI %u != %u)\n", path,
		       LXD_MODULE_INFO_SYMBOL, m->info ? m->info->abi : 0, LXD_MODULE_ABI);
		dlclose(m->handle);
		free_module(m);
		return -ENOEXEC;
	}
	name_from_path(m->name, sizeof(m->name), path, m->info->name);
	m->params = calloc(nparams ? nparams : 1, sizeof(*m->params));
	int err = m->params ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < nparams; i++) {
		m->params[i] = strdup(params[i]);
		if (!m->params[i]) {
			err = -ENOMEM;
			break;
		}
		m->nparams++;
		err = lxd_module_set_param(m->info, m->params[i]);
		if (err)
			pr_err("module %s: bad parameter '%s' (%s)\n", m->name, params[i],
			       err == -ENOENT ? "no such parameter" : "bad value");
	}
	if (!err) {
		pthread_mutex_lock(&module_mutex);
		set_current(m);
		err = m->info->init();
		/* A failed init must leave nothing behind; if it did, take it down. */
		if (err) {
			lxd_net_release_owner(m);
			lxd_blk_release_owner(m);
		}
		set_current(NULL);
		pthread_mutex_unlock(&module_mutex);
		if (err > 0) {
			pr_err("module %s: init returned %d, not a -errno\n", m->name, err);
			err = -EINVAL;
		}
	}
	if (err) {
		lxd_softirq_barrier();
		dlclose(m->handle);
		free_module(m);
		return err;
	}
	atomic_fetch_add(&lxd_counts.modules, 1);
	*out = m;
	return 0;
}

int lxd_module_unload(struct lxd_module *m)
{
	if (!m)
		return -EINVAL;
	if (lxd_module_current() == m)
		return -EBUSY;
	pthread_mutex_lock(&module_mutex);
	set_current(m);
	if (m->iso) {
		/* The exit runs in the domain; then the domain ends and fails what it still held. */
		lxd_iso_unload_exit(m->iso);
		lxd_iso_stop(m->iso);
	} else if (m->info->exit) {
		m->info->exit();
	}
	lxd_net_release_owner(m);
	lxd_blk_release_owner(m);
	set_current(NULL);
	pthread_mutex_unlock(&module_mutex);
	/* The softirq thread may still be returning from one of the module's timer callbacks. */
	lxd_softirq_barrier();
	if (m->iso)
		lxd_iso_release(m->iso);
	else
		dlclose(m->handle);
	free_module(m);
	atomic_fetch_sub(&lxd_counts.modules, 1);
	return 0;
}

const char *lxd_module_name(const struct lxd_module *m)
{
	return m ? m->name : "(kernel)";
}

const struct lxd_module_info *lxd_module_get_info(const struct lxd_module *m)
{
	return m->info; /* NULL for an isolated module: its info lives in its domain */
}

int lxd_module_set_xmit_mode(struct lxd_module *m, enum lxd_xmit_mode mode)
{
	return m && m->iso ? lxd_iso_set_xmit_mode(m->iso, mode) : -EINVAL;
}

int lxd_module_flush(struct lxd_module *m)
{
	return m && m->iso ? lxd_iso_flush(m->iso) : 0;
}

int lxd_module_iso_stats(const struct lxd_module *m, struct lxd_iso_stats *st)
{
	if (!m || !m->iso || !st)
		return -EINVAL;
	lxd_iso_get_stats(m->iso, st);
	return 0;
}

int lxd_module_kill(struct lxd_module *m)
{
	return m && m->iso ? lxd_iso_kill(m->iso) : -EINVAL;
}

bool lxd_module_alive(const struct lxd_module *m)
{
	return !m || !m->iso || lxd_iso_alive(m->iso);
}

enum lxd_module_mode lxd_module_get_mode(const struct lxd_module *m)
{
	return m->mode;
}

struct net_device *lxd_module_netdev(const struct lxd_module *m, unsigned idx)
{
	return lxd_net_owned(m, idx);
}

struct gendisk *lxd_module_disk(const struct lxd_module *m, unsigned idx)
{
	return lxd_blk_owned(m, idx);
}

int lxd_module_mode_parse(const char *s, enum lxd_module_mode *mode)
{
	if (s && strcmp(s, "native") == 0)
		*mode = LXD_MODULE_NATIVE;
	else if (s && strcmp(s, "isolated") == 0)
		*mode = LXD_MODULE_ISOLATED;
	else
		return -EINVAL;
	return 0;
}

static int try_path(char *buf, size_t len, const char *dir, const char *sub, const char *name)
{
	int n = snprintf(buf, len, "%s%s/%s.so", dir, sub, name);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	struct stat st;
	return stat(buf, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -ENOENT;
}

static int try_dir(char *buf, size_t len, const char *dir, const char *name)
{
	static const char *const subs[] = {"", "/net", "/block"};
	int err = -ENOENT;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		err = try_path(buf, len, dir, subs[i], name);
		if (err != -ENOENT)
			return err;
	}
	return err;
}

int lxd_module_find(const char *name, char *buf, size_t len)
{
	if (!name || !name[0] || strchr(name, '/') || !buf)
		return -EINVAL;
	const char *env = getenv("LXDS_DRIVER_PATH");
	if (env) {
		char *dirs = strdup(env);
		if (!dirs)
			return -ENOMEM;
		char *save = NULL;
		for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			int err = try_dir(buf, len, d, name);
			if (err != -ENOENT) {
				free(dirs);
				return err;
			}
		}
		free(dirs);
	}
#ifdef LXDS_DRIVER_BUILD_DIR
	int err = try_dir(buf, len, LXDS_DRIVER_BUILD_DIR, name);
	if (err != -ENOENT)
		return err;
#endif
	return -ENOENT;
}
