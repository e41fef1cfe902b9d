/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: everything the kernel decodes from a domain, fed
 * arbitrary bytes.  The input is a sequence of 64-byte messages as a
 * domain could leave them in a channel slot; each is copied in once and
 * run through every kernel-side check: READY, control replies, buffer
 * words (whose bytes are then read: ASan catches a range check that lets
 * anything outside the arena through), capability references (a resolved
 * one must be one of the table's objects), arena frees of domain-chosen
 * addresses, and the bytes as a log line (fault records).
 *
 * Built with -DLXD_FUZZ_STANDALONE it is a plain program that runs every
 * file of the directories it is given: tests/domain runs the seed corpus.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lxds/domain.h"

#define ARENA (1u << 20)
#define NOBJ 8

static struct lxd_arena arena;
static struct lxd_cap_table caps;
static int objects[NOBJ];
static lxd_ref_t refs[NOBJ];
static void *live[64];

static void setup_once(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	void *mem = aligned_alloc(LXD_ARENA_CHUNK, ARENA);
	if (!mem || lxd_arena_init(&arena, mem, ARENA, 0, ARENA) != 0 || lxd_cap_init(&caps, 3) != 0)
		abort();
	for (int i = 0; i < NOBJ; i++)
		refs[i] = lxd_cap_insert(&caps, &objects[i], 1 + (unsigned)i % 3);
	lxd_cap_revoke(&caps, refs[0], 1); /* one stale reference among them */
	for (int i = 0; i < 64; i++)
		live[i] = lxd_arena_alloc(&arena, (size_t)64 << (i % 6));
}

static void check_message(const uint8_t *bytes)
{
	struct lxd_msg m;
	memcpy(&m, bytes, sizeof(m));
	struct lxd_msg_copy c;
	lxd_msg_copy_in(&c, &m);

	struct lxd_ctl_ready r;
	if (lxd_ctl_decode_ready(&c, &r) == 0 && (r.pid <= 0 || r.cpu < -1))
		abort();
	static const uint32_t reqs[] = {LXD_CTL_PING, LXD_CTL_INIT, LXD_CTL_EXIT, LXD_CTL_READY};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		int res = 1;
		int rc = lxd_ctl_decode_reply(reqs[i], c.w[1], &c, &res);
		if (rc > 0 || rc < -4095 || (rc == 0 && (res > 0 || res < -4095)))
			abort();
	}
	for (unsigned i = 0; i < LXD_MSG_WORDS; i++) {
		void *p;
		uint32_t len;
		if (lxd_arena_buf_get(&arena, c.w[i], &p, &len) == 0) {
			volatile uint8_t sum = 0;
			for (uint32_t k = 0; k < len; k++)
				sum += ((uint8_t *)p)[k];
			(void)sum;
		}
		for (unsigned type = 0; type < 4; type++) {
			void *o;
			if (lxd_cap_lookup(&caps, 3, c.w[i], type, &o) == 0 &&
			    ((int *)o < objects || (int *)o >= objects + NOBJ))
				abort();
		}
	}
	/* A domain-chosen address to free: refused unless it is a live block. */
	uint8_t *addr = arena.base + (c.w[0] % (ARENA + 256)) - 128;
	for (int i = 0; i < 64; i++)
		if (live[i] == addr)
			return; /* freeing a real allocation is legitimate; keep the pool */
	if (lxd_arena_free(&arena, addr) == 0)
		abort();

	char line[65];
	memcpy(line, bytes, 64);
	line[64] = '\0';
	int sig, nr;
	uint64_t a;
	if (lxd_fault_parse(line, &sig, &nr, &a) == 0 && (sig <= 0 || sig > 64))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	uint8_t msg[64];
	for (size_t off = 0; off < size; off += 64) {
		size_t n = size - off < 64 ? size - off : 64;
		memset(msg, 0, sizeof(msg));
		memcpy(msg, data + off, n);
		check_message(msg);
	}
	return 0;
}

#ifdef LXD_FUZZ_STANDALONE
int main(int argc, char **argv)
{
	unsigned files = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "%s: cannot open\n", argv[i]);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			static uint8_t buf[1 << 16];
			size_t n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, n);
			files++;
		}
		closedir(d);
	}
	printf("domain_msg: %u inputs checked\n", files);
	return files ? 0 : 1;
}
#endif
