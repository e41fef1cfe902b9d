/* SPDX-License-Identifier: MIT */
/* snprintf and friends (the C library's, in the kernel and in a domain alike). */
#ifndef LXDS_LINUX_SPRINTF_H
#define LXDS_LINUX_SPRINTF_H

#include <stdio.h>

#endif
