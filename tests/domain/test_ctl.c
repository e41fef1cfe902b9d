/* SPDX-License-Identifier: MIT */
/* Kernel-side decoding of domain messages: READY, control replies, fault records, copy-in. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lxds/domain.h"

static struct lxd_msg_copy ready(void)
{
	return (struct lxd_msg_copy){.op = LXD_CTL_READY,
				     .w = {LXD_CTL_MAGIC, LXD_CTL_VERSION, 1234, 0x400000000000ull,
					   1u << 20, 1, 0}};
}

static void test_ready(void **state)
{
	(void)state;
	struct lxd_ctl_ready r;
	struct lxd_msg_copy m = ready();
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), 0);
	assert_int_equal(r.pid, 1234);
	assert_int_equal(r.cpu, 1);
	m.op = LXD_CTL_PING;
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), -EPROTO);
	m = ready();
	m.w[0]++;
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), -EPROTO);
	m = ready();
	m.w[1] = 2;
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), -EPROTO);
	m = ready();
	m.w[2] = 1ull << 40; /* pid out of range */
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), -ERANGE);
	m = ready();
	m.w[5] = (uint64_t)-2; /* cpu */
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), -ERANGE);
	m = ready();
	m.w[3] = UINT64_MAX; /* base + size wraps */
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), -ERANGE);
	m = ready();
	m.w[5] = (uint64_t)-1; /* not pinned */
	assert_int_equal(lxd_ctl_decode_ready(&m, &r), 0);
	assert_int_equal(r.cpu, -1);
}

static void test_replies(void **state)
{
	(void)state;
	int res = 99;
	struct lxd_msg_copy m = {.op = LXD_CTL_PING, .w = {11}};
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_PING, 10, &m, &res), 0);
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_PING, 11, &m, &res), -EPROTO);
	m = (struct lxd_msg_copy){.op = LXD_CTL_INIT, .w = {(uint64_t)-22}};
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), 0);
	assert_int_equal(res, -22);
	m.w[0] = 5; /* positive: not an errno */
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), -EPROTO);
	m.w[0] = (uint64_t)-5000;
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), -EPROTO);
	m.w[0] = 1ull << 40;
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), -EPROTO);
	m.op = LXD_CTL_EXIT; /* reply to another request */
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), -EPROTO);
	m = (struct lxd_msg_copy){.op = LXD_CTL_ERROR, .w = {(uint64_t)-ENOSYS}};
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), -ENOSYS);
	m.w[0] = 0; /* an error that says success */
	assert_int_equal(lxd_ctl_decode_reply(LXD_CTL_INIT, 0, &m, &res), -EPROTO);
	m = (struct lxd_msg_copy){.op = 7};
	assert_int_equal(lxd_ctl_decode_reply(7, 0, &m, &res), -EPROTO); /* not a control request */
}

static void test_fault_records(void **state)
{
	(void)state;
	int sig, nr;
	uint64_t addr;
	assert_int_equal(lxd_fault_parse(LXD_FAULT_PREFIX "sig=31 nr=257 addr=0x0", &sig, &nr, &addr), 0);
	assert_int_equal(sig, SIGSYS);
	assert_int_equal(nr, 257);
	assert_int_equal(lxd_fault_parse(LXD_FAULT_PREFIX "sig=11 nr=-1 addr=0x400000000000", &sig, &nr,
					 &addr), 0);
	assert_int_equal(addr, 0x400000000000ull);
	assert_int_equal(lxd_fault_parse("sig=11 nr=-1 addr=0x0", &sig, &nr, &addr), -EINVAL);
	assert_int_equal(lxd_fault_parse(LXD_FAULT_PREFIX "sig=99 nr=1 addr=0x0", &sig, &nr, &addr), -EINVAL);
	assert_int_equal(lxd_fault_parse(LXD_FAULT_PREFIX "sig=11 nr=1 addr=0x0 junk", &sig, &nr, &addr),
			 -EINVAL);
	assert_int_equal(lxd_fault_parse(LXD_FAULT_PREFIX "sig=11 nr=99999 addr=0x0", &sig, &nr, &addr),
			 -EINVAL);
}

static void test_copy_in(void **state)
{
	(void)state;
	struct lxd_msg m;
	atomic_store(&m.hdr, lxd_hdr_make(LXD_CTL_READY, 77, LXD_SLOT_READY));
	for (int i = 0; i < LXD_MSG_WORDS; i++)
		m.w[i] = (uint64_t)i * 3;
	struct lxd_msg_copy c;
	lxd_msg_copy_in(&c, &m);
	assert_int_equal(c.op, LXD_CTL_READY);
	assert_int_equal(c.tag, 77);
	m.w[6] = 1000; /* the peer rewrites the slot afterwards: the copy does not change */
	assert_int_equal(c.w[6], 18);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_fault_records),
		cmocka_unit_test(test_copy_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
