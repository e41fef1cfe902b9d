/* SPDX-License-Identifier: MIT */
/* Glue generation: placeholder until the emitters land. */
#include <errno.h>

#include "idl.h"

int idl_gen(FILE *out, const struct idl_file *f, enum idl_side side, const char *idl_name)
{
	(void)out;
	(void)f;
	(void)side;
	(void)idl_name;
	return -ENOSYS;
}
