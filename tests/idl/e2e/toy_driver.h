/* SPDX-License-Identifier: MIT */
/* What the toy driver saw, exported for the end-to-end test to inspect. */
#ifndef TOY_DRIVER_H
#define TOY_DRIVER_H

#include "toydev.h"

#define TOY_PRIV_MAGIC 0x5eedu

struct toy_driver_report {
	int inited, stopped;
	struct toy_dev *dev;    /* the driver's pointer: a shadow when isolated */
	unsigned alloc_id;
	char alloc_name[16];
	int opens;
	int log_result, long_log_result, sum, nstats, update_result;
	unsigned long long stats[4];
	unsigned long long last_sector;
};

extern struct toy_driver_report toy_drv;

#endif
