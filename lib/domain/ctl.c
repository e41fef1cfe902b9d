/* SPDX-License-Identifier: MIT */
/*
 * Kernel-side decoding of what a domain sends.  Every function here works on
 * a private copy (struct lxd_msg_copy) made with one read per word, and
 * checks every field's range before anything uses it.  The fuzz target
 * tests/fuzz/domain_msg drives these with arbitrary bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lxds/domain.h"

void lxd_msg_copy_in(struct lxd_msg_copy *out, const struct lxd_msg *m)
{
	/* Acquire: pairs with the sender's release publish, like try_recv. */
	uint64_t h = atomic_load_explicit(&((struct lxd_msg *)m)->hdr, memory_order_acquire);
	out->op = lxd_hdr_op(h);
	out->tag = lxd_hdr_tag(h);
	/* volatile: exactly one load per word, the compiler may not re-read
	 * the shared slot later in place of the copy. */
	const volatile uint64_t *w = m->w;
	for (unsigned i = 0; i < LXD_MSG_WORDS; i++)
		out->w[i] = w[i];
}

int lxd_ctl_decode_ready(const struct lxd_msg_copy *m, struct lxd_ctl_ready *out)
{
	if (m->op != LXD_CTL_READY || m->w[0] != LXD_CTL_MAGIC || m->w[1] != LXD_CTL_VERSION)
		return -EPROTO;
	int64_t cpu = (int64_t)m->w[5];
	if (m->w[2] == 0 || m->w[2] > 0x7fffffff || cpu < -1 || cpu > 4096 ||
	    m->w[4] == 0 || m->w[4] > LXD_ARENA_MAX_SIZE || m->w[3] > UINT64_MAX - m->w[4])
		return -ERANGE;
	out->version = (uint32_t)m->w[1];
	out->pid = (pid_t)m->w[2];
	out->arena_base = m->w[3];
	out->arena_size = m->w[4];
	out->cpu = (int32_t)cpu;
	return 0;
}

/* An errno result: a 64-bit word holding an int in [-4095, 0]. */
static bool errno_word(uint64_t w, int *out)
{
	int64_t v = (int64_t)w;
	if (v < -4095 || v > 0)
		return false;
	*out = (int)v;
	return true;
}

int lxd_ctl_decode_reply(uint32_t req, uint64_t ping_word, const struct lxd_msg_copy *m,
			 int *result)
{
	int v;
	if (m->op == LXD_CTL_ERROR) {
		if (!errno_word(m->w[0], &v) || v == 0)
			return -EPROTO;
		return v;
	}
	if (m->op != req)
		return -EPROTO;
	switch (req) {
	case LXD_CTL_PING:
		if (m->w[0] != ping_word + 1)
			return -EPROTO;
		*result = 0;
		return 0;
	case LXD_CTL_INIT:
	case LXD_CTL_EXIT:
		if (!errno_word(m->w[0], &v))
			return -EPROTO;
		*result = v;
		return 0;
	default:
		return -EPROTO;
	}
}

int lxd_fault_parse(const char *line, int *signo, int *nr, uint64_t *addr)
{
	size_t pl = strlen(LXD_FAULT_PREFIX);
	if (strncmp(line, LXD_FAULT_PREFIX, pl) != 0)
		return -EINVAL;
	int s, n, used = 0;
	unsigned long long a;
	if (sscanf(line + pl, "sig=%d nr=%d addr=0x%llx%n", &s, &n, &a, &used) != 3 ||
	    line[pl + (size_t)used] != '\0' || s <= 0 || s >= 65 || n < -1 || n > 4095)
		return -EINVAL;
	*signo = s;
	*nr = n;
	*addr = a;
	return 0;
}
