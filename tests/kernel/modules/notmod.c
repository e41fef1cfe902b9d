// SPDX-License-Identifier: MIT
/* A shared object that is not an lxds module (no lxd_module_info). */
int notmod_answer(void);
int notmod_answer(void) { return 42; }
