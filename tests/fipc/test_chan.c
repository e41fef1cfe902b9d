/* SPDX-License-Identifier: MIT */
/* fIPC unit tests: set-up and misuse, full/empty, wrap-around, batching, calls. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lxds/fipc.h"

struct pair {
	void *mem;
	size_t len;
	struct lxd_chan k, d; /* kernel side, domain side */
};

static struct pair *pair_new(uint32_t slots)
{
	struct pair *p = calloc(1, sizeof(*p));
	p->len = lxd_chan_shm_size(slots);
	assert_true(p->len > 0);
	p->mem = aligned_alloc(64, p->len);
	assert_int_equal(lxd_chan_format(p->mem, p->len, slots), 0);
	assert_int_equal(lxd_chan_attach(&p->k, p->mem, p->len, slots, LXD_SIDE_KERNEL), 0);
	assert_int_equal(lxd_chan_attach(&p->d, p->mem, p->len, slots, LXD_SIDE_DOMAIN), 0);
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->mem);
	free(p);
}

static void test_size_rejects_bad_slots(void **state)
{
	(void)state;
	assert_int_equal(lxd_chan_shm_size(0), 0);
	assert_int_equal(lxd_chan_shm_size(3), 0);
	assert_int_equal(lxd_chan_shm_size(12), 0);
	assert_int_equal(lxd_chan_shm_size(LXD_CHAN_MAX_SLOTS * 2), 0);
	assert_int_equal(lxd_chan_shm_size(1), 5 * 64 + 2 * 64);
	assert_int_equal(lxd_chan_shm_size(8), 5 * 64 + 16 * 64);
}

static void test_format_and_attach_reject_misuse(void **state)
{
	(void)state;
	size_t len = lxd_chan_shm_size(4);
	void *mem = aligned_alloc(64, len + 64);
	struct lxd_chan ch;
	assert_int_equal(lxd_chan_format(NULL, len, 4), -EINVAL);
	assert_int_equal(lxd_chan_format(mem, len, 0), -EINVAL);
	assert_int_equal(lxd_chan_format(mem, len, 6), -EINVAL);
	assert_int_equal(lxd_chan_format(mem, len - 1, 4), -EINVAL);
	assert_int_equal(lxd_chan_format((char *)mem + 8, len, 4), -EINVAL); /* misaligned */
	assert_int_equal(lxd_chan_format(mem, len, 4), 0);

	assert_int_equal(lxd_chan_attach(NULL, mem, len, 4, LXD_SIDE_KERNEL), -EINVAL);
	assert_int_equal(lxd_chan_attach(&ch, NULL, len, 4, LXD_SIDE_KERNEL), -EINVAL);
	assert_int_equal(lxd_chan_attach(&ch, mem, len, 4, 7), -EINVAL);
	assert_int_equal(lxd_chan_attach(&ch, mem, len, 3, LXD_SIDE_KERNEL), -EINVAL);
	/* The header says 4 slots; a side expecting 2 must not trust it. */
	assert_int_equal(lxd_chan_attach(&ch, mem, len, 2, LXD_SIDE_KERNEL), -EPROTO);
	/* A peer scribbled over the magic. */
	((uint64_t *)mem)[0] ^= 1;
	assert_int_equal(lxd_chan_attach(&ch, mem, len, 4, LXD_SIDE_DOMAIN), -EPROTO);
	free(mem);
}

static void test_empty_then_full(void **state)
{
	(void)state;
	struct pair *p = pair_new(4);
	assert_null(lxd_chan_try_recv(&p->d)); /* nothing there */
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(lxd_chan_try_send(&p->k, 9, 0, &i, 1), 0);
	uint64_t x = 99;
	assert_int_equal(lxd_chan_try_send(&p->k, 9, 0, &x, 1), -EAGAIN); /* ring full */
	assert_null(lxd_chan_try_reserve(&p->k));

	struct lxd_msg *m = lxd_chan_try_recv(&p->d);
	assert_non_null(m);
	assert_int_equal(m->w[0], 0);
	/* Received but not released: the sender still may not reuse it. */
	assert_int_equal(lxd_chan_try_send(&p->k, 9, 0, &x, 1), -EAGAIN);
	lxd_chan_release(&p->d);
	assert_int_equal(lxd_chan_try_send(&p->k, 9, 0, &x, 1), 0);
	pair_free(p);
}

static void test_wraparound_keeps_order(void **state)
{
	(void)state;
	struct pair *p = pair_new(8);
	uint64_t next_send = 0, next_recv = 0;
	/* Uneven bursts so the indexes wrap at every offset. */
	for (int round = 0; round < 1000; round++) {
		int burst = 1 + round % 7;
		for (int i = 0; i < burst; i++) {
			uint64_t w[LXD_MSG_WORDS];
			for (int k = 0; k < LXD_MSG_WORDS; k++)
				w[k] = next_send * 10 + (uint64_t)k;
			if (lxd_chan_try_send(&p->k, (uint32_t)(next_send & LXD_OP_MAX), (uint32_t)next_send,
					      w, LXD_MSG_WORDS) == 0)
				next_send++;
		}
		struct lxd_msg *m;
		int take = 1 + round % 5;
		while (take-- && (m = lxd_chan_try_recv(&p->d))) {
			uint64_t h = atomic_load(&m->hdr);
			assert_int_equal(lxd_hdr_op(h), next_recv & LXD_OP_MAX);
			assert_int_equal(lxd_hdr_tag(h), (uint32_t)next_recv);
			for (int k = 0; k < LXD_MSG_WORDS; k++)
				assert_int_equal(m->w[k], next_recv * 10 + (uint64_t)k);
			next_recv++;
			lxd_chan_release(&p->d);
		}
	}
	assert_true(next_send > 2000);
	assert_true(next_recv > 2000);
	pair_free(p);
}

static void test_batch_publish_and_receive(void **state)
{
	(void)state;
	struct pair *p = pair_new(16);
	struct lxd_msg *m[16];
	for (int i = 0; i < 5; i++) {
		m[i] = lxd_chan_try_reserve(&p->k);
		assert_non_null(m[i]);
		m[i]->w[0] = (uint64_t)i;
		lxd_msg_set(m[i], 1, (uint32_t)i);
	}
	/* Reserved but unpublished: invisible to the receiver. */
	assert_null(lxd_chan_try_recv(&p->d));
	lxd_chan_publish(&p->k);
	assert_int_equal(lxd_chan_recv_batch(&p->d, m, 3), 3);
	assert_int_equal(lxd_chan_recv_batch(&p->d, m + 3, 16), 2);
	for (int i = 0; i < 5; i++)
		assert_int_equal(m[i]->w[0], (uint64_t)i);
	assert_int_equal(lxd_chan_recv_batch(&p->d, m, 16), 0);
	lxd_chan_release(&p->d);
	/* All 16 slots free again: 16 reservations fit, the 17th does not. */
	for (int i = 0; i < 16; i++)
		assert_non_null(lxd_chan_try_reserve(&p->k));
	assert_null(lxd_chan_try_reserve(&p->k));
	pair_free(p);
}

/* The sender learns of released slots a run at a time (lxd__chan_find_free):
 * exactly the released ones become usable, across runs and wraps. */
static void test_sender_reuses_exactly_the_released_slots(void **state)
{
	(void)state;
	struct pair *p = pair_new(64);
	uint64_t sent = 0, got = 0;
	for (int round = 0; round < 6; round++) {
		for (int tries = 0; tries < 128 && lxd_chan_try_send(&p->k, 1, (uint32_t)sent, &sent, 1) == 0; tries++)
			sent++;
		assert_int_equal(sent - got, 64); /* full: every slot in flight, none reused early */
		unsigned take = 7 + 11u * (unsigned)round; /* 7 .. 62: runs shorter and longer than one look-ahead */
		for (unsigned i = 0; i < take; i++) {
			struct lxd_msg *m = lxd_chan_try_recv(&p->d);
			assert_non_null(m);
			assert_int_equal(m->w[0], got++);
		}
		/* Taken, not yet released: still not the sender's. */
		assert_int_equal(lxd_chan_try_send(&p->k, 1, 0, &sent, 1), -EAGAIN);
		lxd_chan_release(&p->d);
	}
	pair_free(p);
}

static void test_receiver_cannot_overrun_unreleased(void **state)
{
	(void)state;
	struct pair *p = pair_new(2);
	uint64_t v = 1;
	assert_int_equal(lxd_chan_try_send(&p->k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_try_send(&p->k, 1, 0, &v, 1), 0);
	assert_non_null(lxd_chan_try_recv(&p->d));
	assert_non_null(lxd_chan_try_recv(&p->d));
	/* Both held: a third look must not see slot 0's old message again. */
	assert_null(lxd_chan_try_recv(&p->d));
	pair_free(p);
}

static void test_directions_are_independent(void **state)
{
	(void)state;
	struct pair *p = pair_new(1);
	uint64_t a = 11, b = 22;
	assert_int_equal(lxd_chan_try_send(&p->k, 1, 0, &a, 1), 0);
	assert_int_equal(lxd_chan_try_send(&p->d, 2, 0, &b, 1), 0);
	struct lxd_msg *m = lxd_chan_try_recv(&p->k);
	assert_non_null(m);
	assert_int_equal(m->w[0], 22);
	m = lxd_chan_try_recv(&p->d);
	assert_non_null(m);
	assert_int_equal(m->w[0], 11);
	pair_free(p);
}

static void test_call_line_round_trip(void **state)
{
	(void)state;
	struct pair *p = pair_new(4);
	for (uint64_t i = 0; i < 10; i++) {
		assert_null(lxd_chan_serve_poll(&p->d));
		lxd_chan_call_line(&p->k)->w[0] = i;
		lxd_chan_call_send(&p->k, 5);
		assert_int_equal(lxd_chan_call_poll(&p->k), -EAGAIN);
		assert_true(lxd_chan_has_work(&p->d));
		struct lxd_msg *req = lxd_chan_serve_poll(&p->d);
		assert_non_null(req);
		assert_int_equal(req->w[0], i);
		req->w[0] = i * 2;
		lxd_chan_serve_reply(&p->d, 6);
		assert_null(lxd_chan_serve_poll(&p->d)); /* a reply is not a request */
		assert_int_equal(lxd_chan_call_wait(&p->k), 6);
		assert_int_equal(lxd_chan_call_line(&p->k)->w[0], i * 2);
	}
	/* The other direction has its own line. */
	assert_null(lxd_chan_serve_poll(&p->k));
	pair_free(p);
}

static void test_dead_channel_fails_waits(void **state)
{
	(void)state;
	struct pair *p = pair_new(1);
	lxd_chan_mark_dead(&p->k);
	lxd_chan_call_send(&p->k, 1); /* nobody will answer */
	assert_int_equal(lxd_chan_call_wait(&p->k), -EIO);
	assert_int_equal(lxd_chan_wait(&p->k, -1), -EIO);
	uint64_t v = 0;
	assert_int_equal(lxd_chan_try_send(&p->k, 1, 0, &v, 1), 0);
	assert_null(lxd_chan_reserve(&p->k)); /* full and dead: gives up */
	pair_free(p);
}

static void test_wait_times_out_and_sees_work(void **state)
{
	(void)state;
	struct pair *p = pair_new(2);
	p->d.spin_cycles = 1000; /* reach the sleeping path quickly */
	assert_int_equal(lxd_chan_wait(&p->d, 2000000), -ETIMEDOUT);
	assert_true(p->d.sleeps >= 1);
	uint64_t v = 3;
	assert_int_equal(lxd_chan_try_send(&p->k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_wait(&p->d, 2000000), 0);
	assert_non_null(lxd_chan_try_recv(&p->d));
	pair_free(p);
}

static void test_shm_between_mappings(void **state)
{
	(void)state;
	struct lxd_chan k, d;
	int fd;
	assert_int_equal(lxd_chan_create_shm(&k, 0, &fd), -EINVAL);
	assert_int_equal(lxd_chan_create_shm(&k, 4, &fd), 0);
	/* A side that expects another size is refused by the header check. */
	assert_int_equal(lxd_chan_open_shm(&d, fd, 8, LXD_SIDE_DOMAIN), -EPROTO);
	assert_int_equal(lxd_chan_open_shm(&d, fd, 4, LXD_SIDE_DOMAIN), 0);
	close(fd);
	/* Two mappings at two addresses: offsets, not pointers, make it work. */
	assert_ptr_not_equal(k.shm, d.shm);
	uint64_t v = 42;
	assert_int_equal(lxd_chan_try_send(&k, 1, 0, &v, 1), 0);
	struct lxd_msg *m = lxd_chan_try_recv(&d);
	assert_non_null(m);
	assert_int_equal(m->w[0], 42);
	lxd_chan_close_shm(&d);
	lxd_chan_close_shm(&k);
	assert_int_equal(lxd_chan_open_shm(&d, -1, 4, LXD_SIDE_DOMAIN), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_rejects_bad_slots),
		cmocka_unit_test(test_format_and_attach_reject_misuse),
		cmocka_unit_test(test_empty_then_full),
		cmocka_unit_test(test_sender_reuses_exactly_the_released_slots),
		cmocka_unit_test(test_wraparound_keeps_order),
		cmocka_unit_test(test_batch_publish_and_receive),
		cmocka_unit_test(test_receiver_cannot_overrun_unreleased),
		cmocka_unit_test(test_directions_are_independent),
		cmocka_unit_test(test_call_line_round_trip),
		cmocka_unit_test(test_dead_channel_fails_waits),
		cmocka_unit_test(test_wait_times_out_and_sees_work),
		cmocka_unit_test(test_shm_between_mappings),
	};
	return cmocka_run_group_tests_name("fipc", tests, NULL, NULL);
}
