/* SPDX-License-Identifier: MIT */
/*
 * The kernel inside fio: load one driver module and hand its first disk to
 * the engine's jobs.
 *
 * Symbols.  fio dlopens the engine with RTLD_LAZY | RTLD_LOCAL, so the
 * kernel functions linked into it are invisible to a driver .so loaded
 * later: its undefined symbols (kmalloc, blk_mq_alloc_tag_set, ...) would
 * not resolve.  Before the first load the engine re-opens itself with
 * RTLD_NOLOAD | RTLD_GLOBAL, which promotes the already loaded object into
 * the global scope (dlopen(3)); the driver then binds to the engine's
 * kernel exactly as it binds to the lxds executable's.
 *
 * Processes.  fio forks its jobs after sizing their files in the parent.
 * A kernel started there (its softirq thread, later a domain) would not
 * survive the fork, so sizing is done by a throw-away child (lxfio_probe)
 * and the driver is loaded in the job itself (lxfio_get).  With fio's
 * `thread` option all jobs share one process and one loaded driver.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/blk-mq.h>
#include <linux/blkdev.h>

#include "lxfio.h"

#define MAX_PARAMS 32

struct lxfio_inst {
	struct lxd_module *mod;
	struct gendisk *disk;
	char *driver, *mode, *params; /* the configuration, to check later jobs against */
	unsigned refs;
};

static pthread_mutex_t inst_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lxfio_inst *inst; /* under inst_lock */

static void fmt_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Put this engine's symbols in the global scope, once.  0 or -ELIBACC. */
static int export_kernel(char *err, size_t errlen)
{
	static void *self;
	if (self)
		return 0;
	Dl_info info;
	if (!dladdr((void *)export_kernel, &info) || !info.dli_fname) {
		fmt_err(err, errlen, "cannot find the engine's own file (dladdr)");
		return -ELIBACC;
	}
	self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
	if (!self) {
		fmt_err(err, errlen, "cannot export the kernel's symbols: %s", dlerror());
		return -ELIBACC;
	}
	return 0;
}

/*
 * Split @params ("a=1,b=2" or "a=1:b=2") into @out, pointing into @copy
 * (freed by the caller).  Returns the count or -EINVAL.
 */
static int split_params(const char *params, char **copy, const char *out[MAX_PARAMS], char *err,
			size_t errlen)
{
	*copy = NULL;
	if (!params || !*params)
		return 0;
	*copy = strdup(params);
	if (!*copy)
		return -ENOMEM;
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(*copy, ",:", &save); t; t = strtok_r(NULL, ",:", &save)) {
		if (!strchr(t, '=') || t[0] == '=') {
			fmt_err(err, errlen, "lxds_params: '%s' is not name=value", t);
			return -EINVAL;
		}
		if (n == MAX_PARAMS) {
			fmt_err(err, errlen, "lxds_params: more than %d parameters", MAX_PARAMS);
			return -EINVAL;
		}
		out[n++] = t;
	}
	return n;
}

/* Find and load the driver; on success *@m holds it and *@disk its first disk. */
static int load(const struct lxfio_conf *c, enum lxd_module_mode mode, struct lxd_module **m,
		struct gendisk **disk, char *err, size_t errlen)
{
	char path[4096];
	const char *params[MAX_PARAMS];
	char *copy;
	int n = split_params(c->params, &copy, params, err, errlen);
	if (n < 0) {
		free(copy);
		return n;
	}
	int rc = export_kernel(err, errlen);
	if (rc)
		goto out;
	rc = lxd_module_find(c->driver, path, sizeof(path));
	if (rc) {
		fmt_err(err, errlen, "driver '%s' not found (%s); set LXDS_DRIVER_PATH to the folder of %s.so",
			c->driver, strerror(-rc), c->driver);
		goto out;
	}
	rc = lxd_module_load(path, mode, params, (size_t)n, m);
	if (rc == -ENOSYS) {
		fmt_err(err, errlen, "isolated mode cannot start a domain here (-ENOSYS: a system call it needs, "
			"e.g. pidfd_open or seccomp, is missing -- or fio runs under a tool that hides it)");
		goto out;
	}
	if (rc) {
		fmt_err(err, errlen, "loading %s failed: %s (check lxds_params)", path, strerror(-rc));
		goto out;
	}
	*disk = lxd_module_disk(*m, 0);
	if (!*disk) {
		fmt_err(err, errlen, "%s added no disk", c->driver);
		lxd_module_unload(*m);
		rc = -ENODEV;
	}
out:
	free(copy);
	return rc;
}

static int parse_mode(const char *s, enum lxd_module_mode *mode, char *err, size_t errlen)
{
	if (lxd_module_mode_parse(s ? s : "", mode)) {
		fmt_err(err, errlen, "lxds_mode must be native or isolated, not '%s'", s ? s : "");
		return -EINVAL;
	}
	return 0;
}

int lxfio_probe(const struct lxfio_conf *c, uint64_t *bytes, unsigned *lbs, char *err, size_t errlen)
{
	enum lxd_module_mode mode;
	int rc = parse_mode(c->mode, &mode, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&inst_lock);
	if (inst) { /* thread mode: the driver is already here */
		*bytes = lxfio_bytes(inst);
		*lbs = lxfio_lbs(inst);
		pthread_mutex_unlock(&inst_lock);
		return 0;
	}
	pthread_mutex_unlock(&inst_lock);

	/* The child reports {rc, bytes, lbs, message} through a pipe. */
	struct {
		int rc;
		unsigned lbs;
		uint64_t bytes;
		char msg[256];
	} rep;
	int fd[2];
	if (pipe(fd)) {
		fmt_err(err, errlen, "pipe: %s", strerror(errno));
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(fd[0]);
		close(fd[1]);
		fmt_err(err, errlen, "fork: %s", strerror(-rc));
		return rc;
	}
	if (pid == 0) {
		struct lxd_module *m;
		struct gendisk *disk;
		memset(&rep, 0, sizeof(rep));
		rep.rc = load(c, LXD_MODULE_NATIVE, &m, &disk, rep.msg, sizeof(rep.msg));
		if (!rep.rc) {
			rep.bytes = (uint64_t)get_capacity(disk) * SECTOR_SIZE;
			rep.lbs = queue_logical_block_size(disk->queue);
			lxd_module_unload(m);
		}
		ssize_t w = write(fd[1], &rep, sizeof(rep));
		_exit(w == (ssize_t)sizeof(rep) ? 0 : 1);
	}
	close(fd[1]);
	ssize_t got = read(fd[0], &rep, sizeof(rep));
	close(fd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(rep)) {
		fmt_err(err, errlen, "the probe process died (wait status %#x) before reporting the disk size", st);
		return -ECHILD;
	}
	if (rep.rc) {
		rep.msg[sizeof(rep.msg) - 1] = 0;
		fmt_err(err, errlen, "%s", rep.msg);
		return rep.rc;
	}
	*bytes = rep.bytes;
	*lbs = rep.lbs;
	return 0;
}

static bool same(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

int lxfio_get(const struct lxfio_conf *c, struct lxfio_inst **out, char *err, size_t errlen)
{
	enum lxd_module_mode mode;
	int rc = parse_mode(c->mode, &mode, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&inst_lock);
	if (inst) {
		if (!same(inst->driver, c->driver) || !same(inst->mode, c->mode) || !same(inst->params, c->params)) {
			fmt_err(err, errlen, "jobs sharing one fio process (thread mode) must use the same "
					     "lxds_driver, lxds_mode and lxds_params");
			rc = -EINVAL;
		} else {
			inst->refs++;
			*out = inst;
		}
		pthread_mutex_unlock(&inst_lock);
		return rc;
	}
	struct lxfio_inst *in = calloc(1, sizeof(*in));
	if (!in || !(in->driver = strdup(c->driver ? c->driver : "")) || !(in->mode = strdup(c->mode)) ||
	    !(in->params = strdup(c->params ? c->params : ""))) {
		rc = -ENOMEM;
		fmt_err(err, errlen, "out of memory");
		goto fail;
	}
	rc = load(c, mode, &in->mod, &in->disk, err, errlen);
	if (rc)
		goto fail;
	in->refs = 1;
	inst = in;
	*out = in;
	pthread_mutex_unlock(&inst_lock);
	return 0;
fail:
	pthread_mutex_unlock(&inst_lock);
	if (in) {
		free(in->driver);
		free(in->mode);
		free(in->params);
		free(in);
	}
	return rc;
}

void lxfio_put(struct lxfio_inst *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&inst_lock);
	bool last = --in->refs == 0;
	if (last)
		inst = NULL;
	pthread_mutex_unlock(&inst_lock);
	if (!last)
		return;
	lxd_module_unload(in->mod);
	free(in->driver);
	free(in->mode);
	free(in->params);
	free(in);
}

uint64_t lxfio_bytes(const struct lxfio_inst *in) { return (uint64_t)get_capacity(in->disk) * SECTOR_SIZE; }

unsigned lxfio_lbs(const struct lxfio_inst *in) { return queue_logical_block_size(in->disk->queue); }

void *lxfio_buf_alloc(const struct lxfio_inst *in, size_t len) { return lxd_data_alloc(in->mod, len); }

void lxfio_buf_free(void *p) { lxd_data_free(p); }

int lxfio_submit(struct lxfio_inst *in, struct lxd_blk_io *io, enum lxfio_op op, uint64_t offset,
		 uint32_t len, void *buf)
{
	static const unsigned ops[] = {
		[LXFIO_READ] = REQ_OP_READ,
		[LXFIO_WRITE] = REQ_OP_WRITE,
		[LXFIO_FLUSH] = REQ_OP_FLUSH,
		[LXFIO_DISCARD] = REQ_OP_DISCARD,
	};
	if (offset % SECTOR_SIZE)
		return -EINVAL;
	io->op = ops[op];
	io->sector = offset / SECTOR_SIZE;
	io->len = len;
	io->buf = buf;
	io->error = 0;
	return lxd_blk_submit(in->disk, io);
}
