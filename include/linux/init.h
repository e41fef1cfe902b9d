/* SPDX-License-Identifier: MIT */
/* __init/__exit: Linux discards these sections after boot; lxds keeps them. */
#ifndef LXDS_LINUX_INIT_H
#define LXDS_LINUX_INIT_H

#define __init
#define __exit
#define __initdata

#endif
