/* SPDX-License-Identifier: MIT */
/* The kernel log: stderr, filtered by level (LXDS_KLOG=1 shows everything). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/printk.h>

int printk(const char *fmt, ...)
{
	int level = 4; /* messages without a level count as warnings */
	if (fmt[0] == KERN_SOH[0] && fmt[1] >= '0' && fmt[1] <= '7') {
		level = fmt[1] - '0';
		fmt += 2;
	}
	const char *all = getenv("LXDS_KLOG");
	if (level > 4 && !(all && strcmp(all, "1") == 0))
		return 0;
	va_list ap;
	va_start(ap, fmt);
	fputs("[kernel] ", stderr);
	int n = vfprintf(stderr, fmt, ap);
	va_end(ap);
	return n;
}
