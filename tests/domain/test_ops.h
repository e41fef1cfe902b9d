/* SPDX-License-Identifier: MIT */
/* Requests the test glue serves inside the sandbox (rpc numbers). */
#ifndef LXDS_TEST_DOMAIN_OPS_H
#define LXDS_TEST_DOMAIN_OPS_H

enum test_op {
	T_ECHO = 1,     /* reply w0 + 1 */
	T_OPEN,         /* open("/etc/passwd") */
	T_SOCKET,       /* socket(AF_INET, SOCK_STREAM) */
	T_EXECVE,       /* execve("/bin/true") */
	T_PTRACE,       /* ptrace(PTRACE_TRACEME) */
	T_MPROTECT,     /* map a fresh page, then mprotect it PROT_EXEC */
	T_WRITE,        /* write to address w0 */
	T_NULL,         /* NULL dereference */
	T_ABORT,        /* abort() */
	T_HANG,         /* loop for ever */
	T_ARENA,        /* w0: buffer word; reply w0 = byte sum, w1 = word of a new buffer
			   of w1 bytes filled with (i * 7) & 0xff, w2 = the kernel buffer's address */
	T_ECHO_REF,     /* reply w0 = w0 + w1 (a reference, possibly forged) */
	T_MALLOC,       /* malloc and free a lot; reply 0 */
};

#endif
