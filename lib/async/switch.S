/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 context switch of the lxds async runtime (System V ABI).
 *
 * A suspended context is its stack pointer; at that address lie, low to
 * high:
 *
 *     [sp+0]  MXCSR (4 bytes) and x87 control word (2 bytes), 2 bytes pad
 *     [sp+8]  r15, r14, r13, r12, rbx, rbp
 *     [sp+56] resume address
 *
 * Only what the ABI makes callee-saved is kept: six registers, the stack
 * pointer, and the control bits of MXCSR and the x87 control word (a thread
 * that changed its rounding mode must not leak it to the next one).
 *
 * A context resumes by an indirect jump to its resume address, with eax =
 * the rc its resumer passed: the value the call it was suspended in
 * returns.  Not by `ret`: the CPU's return-address stack holds the
 * switching thread's calls, not the resumed one's, so a `ret` here would be
 * mispredicted every time (~15-20 cycles); the indirect-branch predictor,
 * which keys on history, gets a regular pattern of switches right.  The
 * scheduler calls lxd__ctx_switch() as a tail call from lxd_yield(),
 * lxd_finish(), lxd_call() and lxd_async(), so the resume address is their
 * caller's return address and the resumed thread lands straight in user
 * code, with no return of ours left to mispredict.
 *
 * On the CPU this was tuned on (AMD EPYC), stmxcsr costs ~12 cycles and
 * ldmxcsr/fldcw ~2-3, so a suspended thread's words are stored once and
 * compared, and a finishing thread (lxd__ctx_exit) stores nothing and
 * loads the incoming words unconditionally.
 */
	.text

/* int lxd__ctx_switch(void **save_sp, void *to_sp, int rc)
 * Save the running context, store its stack pointer in *save_sp, resume
 * the context whose stack pointer is to_sp with eax = rc.  Returns (when
 * someone resumes us) the rc that resumer passed. */
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
	/* load the incoming words only when they differ: almost never */
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
	movl	%edx, %eax
	popq	%rcx
	jmpq	*%rcx
.Lload_mxcsr:
	ldmxcsr	(%rsp)
.Lload_fcw:
	fldcw	4(%rsp)
	jmp	.Lrestore
	.cfi_endproc
	.size	lxd__ctx_switch, .-lxd__ctx_switch

/* void lxd__ctx_exit(void *to_sp, int rc)
 * Resume to_sp with eax = rc, saving nothing: the running thread has
 * finished and its stack is already back in the pool (nothing runs on it
 * again before this jump).  The incoming control words are loaded
 * unconditionally; comparing would need a stmxcsr, the dearer instruction.
 * Its own copy of the restore, so its jump gets its own predictor entry. */
	.globl	lxd__ctx_exit
	.type	lxd__ctx_exit, @function
	.p2align 4
lxd__ctx_exit:
	.cfi_startproc
	movq	%rdi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	movl	%esi, %eax
	popq	%rcx
	jmpq	*%rcx
	.cfi_endproc
	.size	lxd__ctx_exit, .-lxd__ctx_exit

/* int lxd__ctx_start(void **save_sp, void *stack_top, void (*fn)(void *), void *arg)
 * Save the running context exactly as lxd__ctx_switch does (so it can be
 * resumed by a switch), then call fn(arg) on the new stack.  If fn returns,
 * the saved context is resumed right here, returning 0: a thread that never
 * blocks costs a plain call on another stack.  If fn switches to the saved
 * context instead, this returns that switch's rc.  stack_top must be
 * 16-byte aligned. */
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
	xorl	%eax, %eax
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
