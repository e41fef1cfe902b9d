/* SPDX-License-Identifier: MIT */
/*
 * lxds domain run: load a driver module isolated in a domain, init it, show
 * the domain's state and CPU time once a second (an idle domain sleeps on
 * its doorbell: its CPU time stays flat), then stop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "lxds/domain.h"

#define MAX_LIST 16

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: lxds domain run MODULE.so [--glue G.so]... [--param NAME=VALUE]...\n"
		   "                          [--cpu N] [--seconds S]\n\n"
		   "Start MODULE.so isolated in a sandboxed domain, run its init, print the\n"
		   "domain's state and CPU time every second for S seconds (default 3), stop it.\n");
	return rc;
}

static void show(struct lxd_domain *d, unsigned t)
{
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	printf("%3us  %-10s pid %-7d %-9s cpu %8.3f ms  %s\n", t, lxd_domain_name(d), (int)st.pid,
	       lxd_domain_state_name(st.state), (double)st.cpu_ns / 1e6, st.reason);
	fflush(stdout);
}

static int run(int argc, char **argv)
{
	const char *glue[MAX_LIST + 1] = {0}, *params[MAX_LIST + 1] = {0};
	unsigned ng = 0, np = 0;
	unsigned long cpu = 1, secs = 3;
	struct lxd_domain_opts o = {.cpu = 1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (lxd_is_help(a))
			return usage(stdout, 0);
		if (!strcmp(a, "--glue") && v && ng < MAX_LIST) {
			glue[ng++] = v;
			i++;
		} else if (!strcmp(a, "--param") && v && np < MAX_LIST) {
			params[np++] = v;
			i++;
		} else if (!strcmp(a, "--cpu")) {
			if (!lxd_parse_uint(a, v, 1023, &cpu))
				return 2;
			o.cpu = (int)cpu;
			i++;
		} else if (!strcmp(a, "--seconds")) {
			if (!lxd_parse_uint(a, v, 3600, &secs))
				return 2;
			i++;
		} else if (a[0] != '-' && !o.module) {
			o.module = a;
		} else {
			fprintf(stderr, "lxds domain run: unexpected '%s'\n", a);
			return usage(stderr, 2);
		}
	}
	if (!o.module)
		return usage(stderr, 2);
	o.glue = ng ? glue : NULL;
	o.params = params;
	struct lxd_domain *d;
	int rc = lxd_domain_create(&o, &d);
	if (rc) {
		fprintf(stderr, "lxds domain run: cannot start %s: %s\n", o.module, strerror(-rc));
		return 1;
	}
	rc = lxd_domain_module_init(d);
	if (rc)
		fprintf(stderr, "lxds domain run: module init: %s\n", strerror(-rc));
	for (unsigned t = 0; t <= secs; t++) {
		show(d, t);
		if (t < secs)
			sleep(1);
	}
	rc = lxd_domain_stop(d);
	show(d, (unsigned)secs);
	lxd_domain_destroy(d);
	return rc ? 1 : 0;
}

int lxd_cmd_domain(int argc, char **argv)
{
	static const struct lxd_cmd sub[] = {
		{"run", "run a module isolated, showing its state and CPU time", run},
	};
	return lxd_cmd_dispatch("lxds domain", "Isolated domains: sandboxed driver processes.", sub,
				sizeof(sub) / sizeof(sub[0]), argc, argv);
}
