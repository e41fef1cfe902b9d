/* SPDX-License-Identifier: MIT */
/*
 * printk and pr_*: the kernel log.  A message starts with a level string
 * as in Linux; lxds prints levels up to KERN_WARNING on stderr and the rest
 * only when LXDS_KLOG=1 (tests and benchmarks stay quiet).
 */
#ifndef LXDS_LINUX_PRINTK_H
#define LXDS_LINUX_PRINTK_H

#include <linux/compiler.h>

#define KERN_SOH "\001"
#define KERN_EMERG KERN_SOH "0"
#define KERN_ALERT KERN_SOH "1"
#define KERN_CRIT KERN_SOH "2"
#define KERN_ERR KERN_SOH "3"
#define KERN_WARNING KERN_SOH "4"
#define KERN_NOTICE KERN_SOH "5"
#define KERN_INFO KERN_SOH "6"
#define KERN_DEBUG KERN_SOH "7"

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif

/* Log a message.  Returns the number of characters printed (0 when filtered out). */
__printf(1, 2) int printk(const char *fmt, ...);

#define pr_emerg(fmt, ...) printk(KERN_EMERG pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...) printk(KERN_ERR pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...) printk(KERN_WARNING pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...) printk(KERN_NOTICE pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...) printk(KERN_INFO pr_fmt(fmt), ##__VA_ARGS__)
#define pr_debug(fmt, ...) printk(KERN_DEBUG pr_fmt(fmt), ##__VA_ARGS__)

#endif
