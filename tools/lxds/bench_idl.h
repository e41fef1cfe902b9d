/* SPDX-License-Identifier: MIT */
/*
 * The interface lxds bench idl calls through generated glue
 * (bench_idl.idl).  Both sides live in one process here, so the domain
 * side's glue is compiled with these names mapped to *_impl (meson.build):
 * the kernel side's stubs keep the real names.
 */
#ifndef LXDS_TOOL_BENCH_IDL_H
#define LXDS_TOOL_BENCH_IDL_H

long bench_idl_null(long x);
int bench_idl_sum(const unsigned char *buf, unsigned int n);

#endif
