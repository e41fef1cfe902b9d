/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 context switch of the lxds async runtime (System V ABI).
 *
 * A suspended context is its stack pointer; at that address lie, low to
 * high:
 *
 *     [sp+0]  MXCSR (4 bytes) and x87 control word (2 bytes), 2 bytes pad
 *     [sp+8]  r15, r14, r13, r12, rbx, rbp
 *     [sp+56] return address
 *
 * Only what the ABI makes callee-saved is kept: six registers, the stack
 * pointer, and the control bits of MXCSR and the x87 control word (a thread
 * that changed its rounding mode must not leak it to the next one).
 * Loading MXCSR is the expensive part of a switch, so the incoming words
 * are compared with the outgoing ones and loaded only when they differ:
 * almost never, since threads rarely touch them.
 */
	.text

/* void lxd__ctx_switch(void **save_sp, void *to_sp)
 * Save the running context, store its stack pointer in *save_sp, resume
 * the context whose stack pointer is to_sp. */
	.globl	lxd__ctx_switch
	.type	lxd__ctx_switch, @function
	.p2align 4
lxd__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movl	(%rsp), %eax		/* outgoing MXCSR */
	movzwl	4(%rsp), %ecx		/* outgoing x87 control word */
	movq	%rsi, %rsp
	cmpl	(%rsp), %eax
	jne	.Lload_mxcsr
	cmpw	4(%rsp), %cx
	jne	.Lload_fcw
.Lrestore:
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
.Lload_mxcsr:
	ldmxcsr	(%rsp)
.Lload_fcw:
	fldcw	4(%rsp)
	jmp	.Lrestore
	.cfi_endproc
	.size	lxd__ctx_switch, .-lxd__ctx_switch

/* void lxd__ctx_start(void **save_sp, void *stack_top, void (*fn)(void *), void *arg)
 * Save the running context exactly as lxd__ctx_switch does (so it can be
 * resumed by a switch), then call fn(arg) on the new stack.  If fn returns,
 * the saved context is resumed right here: a thread that never blocks costs
 * a plain call on another stack.  stack_top must be 16-byte aligned. */
	.globl	lxd__ctx_start
	.type	lxd__ctx_start, @function
	.p2align 4
lxd__ctx_start:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rdi, %rbx		/* callee-saved: survives fn */
	movq	%rsi, %rsp
	movq	%rcx, %rdi
	callq	*%rdx
	/* fn returned without ever blocking: *save_sp is still our frame.
	 * fn kept the FP control words (the ABI makes it), so skip them. */
	movq	(%rbx), %rsp
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	lxd__ctx_start, .-lxd__ctx_start

/* First frame of a thread started with lxd__ctx_switch (sanitizer builds):
 * r12 = function, r13 = argument.  The function never returns. */
	.globl	lxd__ctx_trampoline
	.type	lxd__ctx_trampoline, @function
	.p2align 4
lxd__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	lxd__ctx_trampoline, .-lxd__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
