/*
 * crt0.S: process entry and the system call gate of the freestanding
 * DragonFly x86_64 runtime.
 *
 * Facts (DragonFly 5.8 x86_64 ABI): the kernel enters _start with %rdi
 * pointing at the argc/argv/envp block; `syscall` takes the number in %rax
 * and arguments in %rdi %rsi %rdx %r10 %r8 %r9; on error the carry flag is
 * set and %rax holds the errno; fork returns %rdx = 1 in the child; pipe
 * returns its two descriptors in %rax and %rdx.
 * No locking: nothing here keeps state.
 */
	.text
	.globl	_start
_start:
	xorl	%ebp, %ebp
	andq	$-16, %rsp
	call	rt_start		/* rt_start(block): never returns */
	hlt

/* long rt_syscall(long nr, long a1, ..., long a6): result or -errno. */
	.globl	rt_syscall
rt_syscall:
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	movq	%rcx, %rdx
	movq	%r8, %r10
	movq	%r9, %r8
	movq	8(%rsp), %r9
	syscall
	jc	1f
	ret
1:	negq	%rax
	ret

/* long rt_syscall2(long nr, long a1, long a2, long *rdx): both results. */
	.globl	rt_syscall2
rt_syscall2:
	pushq	%rcx
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	xorl	%edx, %edx
	syscall
	popq	%rcx
	jc	1f
	movq	%rdx, (%rcx)
	ret
1:	negq	%rax
	ret

	.section .note.GNU-stack, "", @progbits

/* The ABI note DragonFly's image activator checks (brand "DragonFly"). */
	.section .note.tag, "a", @note
	.p2align 2
	.long	10			/* namesz: "DragonFly\0" */
	.long	4			/* descsz */
	.long	1			/* type: ABI tag */
	.asciz	"DragonFly"
	.p2align 2
	.long	500800			/* __DragonFly_version of 5.8 */
