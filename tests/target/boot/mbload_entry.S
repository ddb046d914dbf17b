/*
 * mbload_entry.S: the assembly ends of the multiboot loader.
 *
 * Owns: the multiboot v1 header, the 32-bit entry QEMU's -kernel jumps to
 * (protected mode, paging off, %eax = magic, %ebx = info), the loader's own
 * stack, and the switch to long mode that enters the DragonFly kernel.
 * No locking: one CPU, interrupts off from entry to the kernel.
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-align modules, want memory map */

	.section .multiboot, "a"
	.align	4
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl	mb_entry
mb_entry:
	cli
	cld
	movl	$loader_stack_top, %esp
	pushl	%ebx			/* multiboot info */
	pushl	%eax			/* magic */
	call	mbload_main		/* never returns */
1:	hlt
	jmp	1b

/*
 * enter_long_mode(pml4, entry_lo, entry_hi, stack)
 *   pml4:  physical address of the PML4 (identity + KERNBASE mappings)
 *   entry: 64-bit virtual address of btext
 *   stack: physical address of [u32 0, u32 modulep, u32 kernend]
 * btext reads modulep at 4(%rsp) and kernend at 8(%rsp).
 */
	.globl	enter_long_mode
enter_long_mode:
	movl	4(%esp), %eax
	movl	%eax, %cr3
	movl	8(%esp), %eax
	movl	%eax, entry64
	movl	12(%esp), %eax
	movl	%eax, entry64 + 4
	movl	16(%esp), %ebp		/* the kernel's initial stack */

	movl	%cr4, %eax
	orl	$0x20, %eax		/* CR4.PAE */
	movl	%eax, %cr4
	movl	$0xC0000080, %ecx	/* EFER */
	rdmsr
	orl	$0x100, %eax		/* EFER.LME */
	wrmsr
	lgdt	gdt_desc
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* CR0.PG | CR0.PE */
	movl	%eax, %cr0
	ljmp	$0x08, $long_entry

	.code64
long_entry:
	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%ebp, %esp		/* zero-extends: the stack is below 4 GiB */
	movq	entry64(%rip), %rax
	jmp	*%rax

	.data
	.align	8
entry64:
	.quad	0
	.align	8
gdt:
	.quad	0
	.quad	0x00209A0000000000	/* 0x08: 64-bit code, DPL 0 */
	.quad	0x0000920000000000	/* 0x10: data */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	.bss
	.align	16
	.space	16384
loader_stack_top:

	.section .note.GNU-stack, "", @progbits
