/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over the whole front end of lxds-idlc: lex, parse,
 * check, and for inputs that compile, the dump and both glue emitters.
 * Diagnostics are printed (to /dev/null) so the caret code runs too.
 * The same function is driven over the seed corpus by the 'idl' test suite
 * (tests/idl/test_fuzz_seeds.c), so seeds that once crashed stay tested.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "idl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	if (!null)
		null = fopen("/dev/null", "w");
	struct idl_ctx cx;
	idl_ctx_init(&cx, "fuzz.idl", (const char *)data, size, null);
	struct idl_file *f = idl_compile(&cx);
	if (f && null) {
		idl_dump(null, f);
		idl_gen(null, f, IDL_KERNEL, "fuzz.idl");
		idl_gen(null, f, IDL_DOMAIN, "fuzz.idl");
	}
	idl_ctx_free(&cx);
	return 0;
}
