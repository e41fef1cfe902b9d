/* SPDX-License-Identifier: MIT */
/* Capability tables: good references resolve; forged, stale, mistyped, foreign ones are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lxds/cap.h"

static int faults_seen, released;
static void on_fault(void *arg, enum lxd_cap_fault f, lxd_ref_t ref)
{
	(void)arg;
	(void)f;
	(void)ref;
	faults_seen++;
}
static void release(void *o) { (void)o; released++; }

static void test_insert_lookup(void **state)
{
	(void)state;
	struct lxd_cap_table t;
	int a, b;
	assert_int_equal(lxd_cap_init(&t, 7), 0);
	assert_int_equal(lxd_cap_insert(&t, NULL, 1), LXD_REF_NULL);
	assert_int_equal(lxd_cap_insert(&t, &a, 0), LXD_REF_NULL);
	assert_int_equal(lxd_cap_insert(&t, &a, LXD_CAP_MAX_TYPES), LXD_REF_NULL);
	lxd_ref_t ra = lxd_cap_insert(&t, &a, 1), rb = lxd_cap_insert(&t, &b, 2);
	assert_int_not_equal(ra, LXD_REF_NULL);
	assert_int_not_equal(ra, rb);
	void *p;
	assert_int_equal(lxd_cap_lookup(&t, 7, ra, 1, &p), 0);
	assert_ptr_equal(p, &a);
	assert_int_equal(lxd_cap_lookup(&t, 7, rb, 2, &p), 0);
	assert_ptr_equal(p, &b);
	for (int f = 0; f < LXD_CAP_NFAULTS; f++)
		assert_int_equal(lxd_cap_faults(&t, f), 0);
	lxd_cap_fini(&t);
}

static void test_refused(void **state)
{
	(void)state;
	struct lxd_cap_table t;
	int a, b;
	faults_seen = 0;
	assert_int_equal(lxd_cap_init(&t, 7), 0);
	t.on_fault = on_fault;
	lxd_ref_t ra = lxd_cap_insert(&t, &a, 1);
	void *p = NULL;
	/* forged */
	assert_int_equal(lxd_cap_lookup(&t, 7, LXD_REF_NULL, 1, &p), -EBADF);
	assert_int_equal(lxd_cap_lookup(&t, 7, ra + 1, 1, &p), -EBADF);      /* next index: never given */
	assert_int_equal(lxd_cap_lookup(&t, 7, ra + 0xffff, 1, &p), -EBADF);
	assert_int_equal(lxd_cap_lookup(&t, 7, ra + (2ull << 32), 1, &p), -EBADF); /* a future generation */
	/* wrong type, wrong owner */
	assert_int_equal(lxd_cap_lookup(&t, 7, ra, 2, &p), -EPROTOTYPE);
	assert_int_equal(lxd_cap_lookup(&t, 8, ra, 1, &p), -EPERM);
	assert_null(p);
	/* stale: revoked, then the slot reused by another object */
	assert_int_equal(lxd_cap_revoke(&t, ra, 1), 0);
	assert_int_equal(lxd_cap_lookup(&t, 7, ra, 1, &p), -ESTALE);
	assert_int_equal(lxd_cap_revoke(&t, ra, 1), -ESTALE);
	lxd_ref_t rb = lxd_cap_insert(&t, &b, 1);
	assert_int_equal((uint32_t)rb, (uint32_t)ra); /* same slot */
	assert_int_equal(lxd_cap_lookup(&t, 7, ra, 1, &p), -ESTALE);
	assert_int_equal(lxd_cap_lookup(&t, 7, rb, 1, &p), 0);
	assert_ptr_equal(p, &b);

	assert_int_equal(lxd_cap_faults(&t, LXD_CAP_FORGED), 4);
	assert_int_equal(lxd_cap_faults(&t, LXD_CAP_WRONG_TYPE), 1);
	assert_int_equal(lxd_cap_faults(&t, LXD_CAP_WRONG_OWNER), 1);
	assert_int_equal(lxd_cap_faults(&t, LXD_CAP_STALE), 2);
	assert_int_equal(faults_seen, 8); /* revoke's refusal is the kernel's, not reported */
	lxd_cap_fini(&t);
}

static void test_revoke_all(void **state)
{
	(void)state;
	struct lxd_cap_table t;
	int objs[100];
	lxd_ref_t refs[100];
	released = 0;
	assert_int_equal(lxd_cap_init(&t, 1), 0);
	t.release[3] = release;
	for (int i = 0; i < 100; i++)
		refs[i] = lxd_cap_insert(&t, &objs[i], i % 2 ? 3 : 4);
	assert_int_equal(lxd_cap_revoke(&t, refs[1], 3), 0);
	assert_int_equal(lxd_cap_revoke_all(&t), 99);
	assert_int_equal(released, 49); /* type 3 has a release hook; one was revoked before */
	void *p;
	for (int i = 0; i < 100; i++)
		assert_int_equal(lxd_cap_lookup(&t, 1, refs[i], i % 2 ? 3 : 4, &p), -ESTALE);
	assert_int_equal(t.live, 0);
	lxd_cap_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_revoke_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
