/*
 * kqemu_mon_test.c - the `kqemu` engine and its DragonFly host glue
 * (kmod/kqemu/kqemu_engine_kqemu.cc, kqemu_mon*.c) on the host kernel, with
 * the stand-in monitor tests/kqemu/monstub.c in place of kqemu 1.4's (the
 * real one needs ring 0: it is proven only on the real kernel, by the
 * target tier's accel suite).
 *
 * Owns: the module kqemu_acc (kqemu.ko as built with KQEMU_SRC, the stub
 * linked instead of the GPL monitor) and these cases: engine default and
 * license, INIT/EXEC/delete bookkeeping of user pages (wired only when
 * fork would copy them), kernel pages and
 * device mappings against the host VM model, EXEC exit reasons and their
 * counters, the monitor reading and writing guest RAM through the pages the
 * glue locked, the budget, bad pointers, injected failures of every VM
 * call and allocation, signal -> INTR, the EXEC time slice, the
 * user-reschedule path of
 * kqemu_schedule, a process killed inside EXEC, fork with the parent
 * exiting first, a process exiting with its instance open, a wired
 * page's PTE taken by another fault before the unlock, unload refused
 * while a monitor instance lives.  Every case
 * boots a fresh host kernel and ends with hk_shutdown_clean(): no page
 * held or wired, no kernel memory, no vmspace left.
 *
 * Locking: cases with a second OS thread say so; the host kernel does its
 * own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "hk.h"
#include "kqemu.h"
#include "qemu_seq.h"

#define RAM_SIZE	(2UL * 1024 * 1024)	/* kqs_vm_alloc's minimum */
#define PAGE		4096UL
/* What the stub locks at INIT: the first page of each of the 4 arrays. */
#define INIT_PAGES	4
/* The stub keeps at most 8 guest RAM pages locked. */
#define RAM_LOCKS	8

enum { OP_SUM = 1, OP_SPIN = 2, OP_FAULT = 3, OP_STORE = 4, OP_ABORT = 5, OP_CLOCK = 6 };
enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3 };

static struct hk_proc *h_proc;

/* Host kernel calls a case makes itself, as the process's own thread does
 * on DragonFly (umtx, ptrace, procfs fault pages in through these). */
struct vm_page;
struct vm_page *vm_fault_page_quick(unsigned long va, unsigned char fault_type,
    int *errorp, int *busyp);
void vm_page_unhold(struct vm_page *m);

static void
h_boot_module(const char *module, const char *max_locked)
{
	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	if (max_locked != NULL)
		ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.max_locked_pages", max_locked), 0);
	ATF_REQUIRE_EQ(hk_kldload(module, NULL), 0);
	hk_devfs_sync();
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &h_proc), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);
}

static void
h_boot(void)
{
	h_boot_module("kqemu_acc", NULL);
}

static void
h_end(void)
{
	if (hk_curproc() != NULL)
		hk_thread_leave();
	ATF_REQUIRE_EQ_MSG(hk_shutdown_clean(), 0, "host kernel leaked (see stderr)");
}

static void
h_vm(struct kqs_vm *vm)
{
	size_t i;

	ATF_REQUIRE_EQ(kqs_vm_alloc(vm, RAM_SIZE), 0);
	ATF_REQUIRE_EQ(hk_proc_map_user(h_proc, vm->block, vm->block_len, 1), 0);
	for (i = 0; i < vm->ram_size; i++)
		vm->ram[i] = (uint8_t)(i * 7 + i / PAGE);
}

static int
h_open(void)
{
	int fd = -1;

	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR, &fd), 0);
	return (fd);
}

static int
h_init(int fd, struct kqs_vm *vm)
{
	vm->args->init.ram_base = vm->ram;
	vm->args->init.ram_size = vm->ram_size;
	vm->args->init.ram_dirty = vm->ram_dirty;
	vm->args->init.pages_to_flush = vm->pages_to_flush;
	vm->args->init.ram_pages_to_update = vm->ram_pages_to_update;
	vm->args->init.modified_ram_pages = vm->modified_ram_pages;
	return (hk_ioctl(fd, KQEMU_IOC_INIT, &vm->args->init));
}

/* One EXEC of the stub's program op; returns retval. */
static int
h_exec(int fd, struct kqs_vm *vm, uint64_t op, uint64_t rbx, uint64_t rcx)
{
	struct kqemu_cpu_state *c = &vm->args->cpu;

	memset(c, 0, sizeof(*c));
	c->regs[RAX] = op;
	c->regs[RBX] = rbx;
	c->regs[RCX] = rcx;
	c->eip = 0x1000;
	c->cpl = 3;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, c), 0);
	return (c->retval);
}

static struct hk_vm_stats
h_vmst(void)
{
	struct hk_vm_stats st;

	ATF_REQUIRE_EQ(hk_vm_stats(&st), 0);
	return (st);
}

static long long
h_stat(const char *name)
{
	long long v = -1;

	ATF_REQUIRE_EQ_MSG(hk_sysctl_int(name, &v), 0, "sysctl %s", name);
	return (v);
}

static int
h_list_has(const char *needle)
{
	char buf[4096];
	size_t n = sizeof(buf);

	buf[0] = '\0';
	ATF_REQUIRE_EQ(hk_sysctl("hw.kqemu.list", buf, &n, NULL, 0), 0);
	buf[sizeof(buf) - 1] = '\0';
	return (strstr(buf, needle) != NULL);
}

static void
h_sysctl_str(const char *name, char *buf, size_t len)
{
	size_t n = len;

	ATF_REQUIRE_EQ(hk_sysctl(name, buf, &n, NULL, 0), 0);
	buf[len - 1] = '\0';
}

/* Nothing of a VM left in the VM model but the monitor's global state
 * (vmspaces: base's count changed by gone processes). */
static void
h_require_idle_vs(struct hk_vm_stats base, long vmspaces)
{
	struct hk_vm_stats st = h_vmst();

	ATF_REQUIRE_EQ_MSG(st.held_pages, 0, "%ld pages still held", st.held_pages);
	ATF_REQUIRE_EQ_MSG(st.wired_pages, 0, "%ld pages still wired", st.wired_pages);
	ATF_REQUIRE_EQ(st.kmem_pages, base.kmem_pages);
	ATF_REQUIRE_EQ(st.mapdevs, 0);
	ATF_REQUIRE_EQ(st.vmspaces, vmspaces);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
}

static void
h_require_idle(struct hk_vm_stats base)
{
	h_require_idle_vs(base, base.vmspaces);
}

/* --- engine and license ------------------------------------------------ */

ATF_TC(engine__default_kqemu_gpl);
ATF_TC_HEAD(engine__default_kqemu_gpl, tc)
{
	atf_tc_set_md_var(tc, "descr", "With a monitor linked, the engine "
	    "is kqemu without any tunable and the module says it is GPL; "
	    "without one it is decline and BSD");
}
ATF_TC_BODY(engine__default_kqemu_gpl, tc)
{
	char buf[128];

	h_boot();
	h_sysctl_str("hw.kqemu.engine", buf, sizeof(buf));
	ATF_REQUIRE_STREQ(buf, "kqemu");
	h_sysctl_str("hw.kqemu.license", buf, sizeof(buf));
	ATF_REQUIRE_MATCH("^GPL", buf);
	h_end();

	h_boot_module("kqemu", NULL);
	h_sysctl_str("hw.kqemu.engine", buf, sizeof(buf));
	ATF_REQUIRE_STREQ(buf, "decline");
	h_sysctl_str("hw.kqemu.license", buf, sizeof(buf));
	ATF_REQUIRE_MATCH("^BSD", buf);
	h_end();
}

ATF_TC(engine__unknown_name_refused);
ATF_TC_HEAD(engine__unknown_name_refused, tc)
{
	atf_tc_set_md_var(tc, "descr", "hw.kqemu.engine=kqemu on a module "
	    "without the monitor fails MOD_LOAD with EINVAL (5.8.1's kldload "
	    "returns 0 and keeps the file, with no module)");
}
ATF_TC_BODY(engine__unknown_name_refused, tc)
{
	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "kqemu"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	ATF_REQUIRE_EQ(hk_modfind("kqemu"), ENOENT);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu_acc", NULL), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu_acc"), 0);
	ATF_REQUIRE_EQ(hk_shutdown_clean(), 0);
}

/* --- INIT, EXEC, delete ------------------------------------------------ */

ATF_TC(init__pages_locked_then_all_returned);
ATF_TC_HEAD(init__pages_locked_then_all_returned, tc)
{
	atf_tc_set_md_var(tc, "descr", "INIT wires and holds the user pages "
	    "the monitor maps, allocates zeroed kernel pages and maps the "
	    "APIC; the last close unwires, unholds (dirty) and frees them all");
}
ATF_TC_BODY(init__pages_locked_then_all_returned, tc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base, st;
	int fd;

	h_boot();
	h_vm(&vm);
	base = h_vmst();
	ATF_REQUIRE(base.kmem_pages >= 1);	/* the monitor's global state */
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	st = h_vmst();
	ATF_REQUIRE_EQ(st.held_pages, INIT_PAGES);
	ATF_REQUIRE_EQ(st.wired_pages, INIT_PAGES);
	ATF_REQUIRE(st.kmem_pages >= base.kmem_pages + 3);	/* state + 2 */
	ATF_REQUIRE_EQ(st.mapdevs, 1);
	ATF_REQUIRE(h_list_has(" engine=kqemu "));
	ATF_REQUIRE(h_list_has(" user_pages=4 kernel_pages="));
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), KQEMU_MIN_LOCKED_PAGES);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_require_idle(base);
	ATF_REQUIRE(h_vmst().dirtied >= INIT_PAGES);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(lock__shared_memory_held_not_wired);
ATF_TC_HEAD(lock__shared_memory_held_not_wired, tc)
{
	atf_tc_set_md_var(tc, "descr", "Pages of memory shared with children "
	    "(MAP_SHARED, VM_INHERIT_SHARE) are held but not wired: fork never "
	    "copies them, and 5.8.1's pmap could not unwire them; private "
	    "pages are wired too, so fork copies them for the child");
}
ATF_TC_BODY(lock__shared_memory_held_not_wired, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	ATF_REQUIRE_EQ(hk_proc_share_user(h_proc, vm.block, 1), 0);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_vmst().held_pages, INIT_PAGES);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 3 * PAGE), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(h_vmst().held_pages, INIT_PAGES + 3);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_vmst().held_pages, 0);

	ATF_REQUIRE_EQ(hk_proc_share_user(h_proc, vm.block, 0), 0);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, INIT_PAGES);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(exec__monitor_reads_guest_ram);
ATF_TC_HEAD(exec__monitor_reads_guest_ram, tc)
{
	atf_tc_set_md_var(tc, "descr", "The monitor sums guest RAM through "
	    "the physical pages the glue locked: the sum is the process's own "
	    "bytes; EXEC returns INT 0x80 and the counters say so");
}
ATF_TC_BODY(exec__monitor_reads_guest_ram, tc)
{
	struct kqs_vm vm;
	uint64_t want = 0, off = 3 * PAGE + 100, len = 5 * PAGE;
	size_t i;
	int fd;

	h_boot();
	h_vm(&vm);
	for (i = off; i < off + len; i++)
		want += vm.ram[i];
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, off, len), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(vm.args->cpu.regs[RDX], want);
	ATF_REQUIRE_EQ(vm.args->cpu.next_eip, 0x1002);
	ATF_REQUIRE_EQ(h_vmst().held_pages, INIT_PAGES + 6);
	ATF_REQUIRE(h_list_has(" execs=1 softmmu=0 intr=0 "));
	ATF_REQUIRE(h_list_has(" exception=0 int=1 syscall=0 abort=0 user_pages=10 "));
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_int"), 1);
	/* Past its lock limit the monitor unlocks the oldest first. */
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 40 * PAGE), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(h_vmst().held_pages, INIT_PAGES + RAM_LOCKS);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_vmst().held_pages, 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(exec__monitor_writes_guest_ram);
ATF_TC_HEAD(exec__monitor_writes_guest_ram, tc)
{
	atf_tc_set_md_var(tc, "descr", "A store by the monitor through a "
	    "locked page is seen in the process's RAM, and the page is marked "
	    "dirty when it is unlocked");
}
ATF_TC_BODY(exec__monitor_writes_guest_ram, tc)
{
	struct kqs_vm vm;
	long dirtied;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	vm.ram[7 * PAGE + 9] = 0;
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_STORE, 7 * PAGE + 9, 0x5a),
	    KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(vm.ram[7 * PAGE + 9], 0x5a);
	dirtied = h_vmst().dirtied;
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_vmst().dirtied, dirtied + INIT_PAGES + 1);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(exec__exit_codes_counted);
ATF_TC_HEAD(exec__exit_codes_counted, tc)
{
	atf_tc_set_md_var(tc, "descr", "EXCEPTION (with cr2 and error code), "
	    "ABORT and SOFTMMU come back in retval, the state round trip "
	    "intact, each counted under its code");
}
ATF_TC_BODY(exec__exit_codes_counted, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_FAULT, 0xdead000, 0), KQEMU_RET_EXCEPTION | 14);
	ATF_REQUIRE_EQ(vm.args->cpu.cr2, 0xdead000);
	ATF_REQUIRE_EQ(vm.args->cpu.error_code, 6);
	ATF_REQUIRE_EQ(vm.args->cpu.eip, 0x1000);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_ABORT, 0, 0), KQEMU_RET_ABORT);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, 99, 0, 0), KQEMU_RET_SOFTMMU);
	ATF_REQUIRE(h_list_has(" execs=3 softmmu=1 intr=0 "));
	ATF_REQUIRE(h_list_has(" exception=1 int=0 syscall=0 abort=1 "));
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_exception"), 1);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_abort"), 1);
	/* SET_PHYS_MEM: the monitor's refusal is EINVAL. */
	vm.args->phys = (struct kqemu_phys_mem){ 0, 0x10000, 0, KQEMU_IO_MEM_RAM, 0 };
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_SET_PHYS_MEM, &vm.args->phys), 0);
	vm.args->phys.ram_addr = RAM_SIZE;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_SET_PHYS_MEM, &vm.args->phys), EINVAL);
	vm.args->count = 513;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES, &vm.args->count), 0);
	vm.args->count = 514;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES, &vm.args->count), EINVAL);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

/* --- INIT refusals ------------------------------------------------------ */

ATF_TC(init__refusals_leave_nothing);
ATF_TC_HEAD(init__refusals_leave_nothing, tc)
{
	atf_tc_set_md_var(tc, "descr", "Misaligned INIT -> EINVAL; an array "
	    "outside user memory -> EFAULT (a page the glue cannot lock); past "
	    "the budget -> ENOMEM; INIT twice -> EIO; nothing held after each");
}
ATF_TC_BODY(init__refusals_leave_nothing, tc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base;
	static uint8_t outside[2 * PAGE];
	uint8_t *unmapped = (uint8_t *)(((uintptr_t)outside + PAGE - 1) & ~(PAGE - 1));
	int fd;

	h_boot_module("kqemu_acc", "1024");
	h_vm(&vm);
	base = h_vmst();
	fd = h_open();
	vm.args->init.ram_base = vm.ram + 1;
	vm.args->init.ram_size = vm.ram_size;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_INIT, &vm.args->init), EINVAL);
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_init(fd, &vm), EIO);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_require_idle(base);

	fd = h_open();
	vm.args->init.ram_dirty = unmapped;
	vm.args->init.ram_base = vm.ram;
	vm.args->init.ram_size = vm.ram_size;
	vm.args->init.pages_to_flush = vm.pages_to_flush;
	vm.args->init.ram_pages_to_update = vm.ram_pages_to_update;
	vm.args->init.modified_ram_pages = vm.modified_ram_pages;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_INIT, &vm.args->init), EFAULT);
	h_require_idle(base);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();

	h_boot_module("kqemu_acc", "1023");
	h_vm(&vm);
	base = h_vmst();
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), ENOMEM);
	h_require_idle(base);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

/* Each VM call and allocation of INIT fails in turn: an errno, nothing
 * left; then INIT works. */
static void
h_init_fails_cleanly(const char *what, int nth, int is_kmalloc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base;
	int fd, error;

	h_boot();
	h_vm(&vm);
	base = h_vmst();
	fd = h_open();
	if (is_kmalloc)
		ATF_REQUIRE_EQ(hk_fail_kmalloc_nth(what, nth), 0);
	else
		ATF_REQUIRE_EQ(hk_vm_fail_nth(what, nth), 0);
	error = h_init(fd, &vm);
	ATF_REQUIRE_MSG(error == ENOMEM || error == EFAULT,
	    "%s #%d: INIT returned %d", what, nth, error);
	h_require_idle(base);
	if (is_kmalloc)
		ATF_REQUIRE_EQ(hk_fail_kmalloc_nth(what, 0), 0);
	else
		ATF_REQUIRE_EQ(hk_vm_fail_nth(what, 0), 0);
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_require_idle(base);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(init__injected_failures_unwind);
ATF_TC_HEAD(init__injected_failures_unwind, tc)
{
	atf_tc_set_md_var(tc, "descr", "vm_map_wire, vm_fault_page_quick, "
	    "kmem_alloc and the glue's own kmalloc failing at each call INIT "
	    "makes: INIT fails with ENOMEM or EFAULT and leaves nothing held, "
	    "wired or allocated; the next INIT works");
}
ATF_TC_BODY(init__injected_failures_unwind, tc)
{
	int nth;

	for (nth = 1; nth <= INIT_PAGES; nth++) {
		h_init_fails_cleanly("vm_map_wire", nth, 0);
		h_init_fails_cleanly("vm_fault_page_quick", nth, 0);
	}
	for (nth = 1; nth <= 3; nth++)
		h_init_fails_cleanly("kmem_alloc", nth, 0);
	/* KQEMUMON: the VM record, 4 user-page and 2 kernel-page records,
	 * the state's vmalloc record. */
	for (nth = 1; nth <= 8; nth++)
		h_init_fails_cleanly("KQEMUMON", nth, 1);
}

ATF_TC(init__no_apic_mapping_still_runs);
ATF_TC_HEAD(init__no_apic_mapping_still_runs, tc)
{
	atf_tc_set_md_var(tc, "descr", "pmap_mapdev_uncacheable failing is "
	    "not fatal: the monitor runs without masking NMIs (as kqemu does "
	    "when io_map returns NULL)");
}
ATF_TC_BODY(init__no_apic_mapping_still_runs, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(hk_vm_fail_nth("pmap_mapdev", 1), 0);
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_vmst().mapdevs, 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 10), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(exec__lock_failure_aborts_cleanly);
ATF_TC_HEAD(exec__lock_failure_aborts_cleanly, tc)
{
	atf_tc_set_md_var(tc, "descr", "A guest RAM page the glue cannot "
	    "lock during EXEC is counted (lock_failures) and the VM stays "
	    "usable; close returns everything");
}
ATF_TC_BODY(exec__lock_failure_aborts_cleanly, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(hk_vm_fail_nth("vm_fault_page_quick", 1), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, PAGE), KQEMU_RET_ABORT);
	ATF_REQUIRE(h_list_has(" lock_failures=1 "));
	ATF_REQUIRE_EQ(h_vmst().held_pages, INIT_PAGES);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, INIT_PAGES);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, PAGE), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

/* --- scheduling, signals, kill ------------------------------------------ */

ATF_TC(schedule__signal_returns_intr);
ATF_TC_HEAD(schedule__signal_returns_intr, tc)
{
	atf_tc_set_md_var(tc, "descr", "A signal pending for the process "
	    "makes kqemu_schedule say so: a never-ending guest run returns "
	    "INTR, counted; the VM runs again after");
}
ATF_TC_BODY(schedule__signal_returns_intr, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SPIN, 50, 0), KQEMU_RET_SOFTMMU);
	ATF_REQUIRE_EQ(hk_kill(h_proc, SIGALRM), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SPIN, 0, 0), KQEMU_RET_INTR);
	ATF_REQUIRE_EQ(hk_sig_clear(h_proc, SIGALRM), 0);
	ATF_REQUIRE(h_list_has(" execs=2 softmmu=1 intr=1 "));
	ATF_REQUIRE(h_list_has(" schedules=51 yields=0 slices=0"));
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 1), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(schedule__time_slice_ends_exec);
ATF_TC_HEAD(schedule__time_slice_ends_exec, tc)
{
	atf_tc_set_md_var(tc, "descr", "A guest that never traps and gets no "
	    "signal still leaves EXEC (INTR) once its 100 ms slice of host "
	    "clock ticks is used up, so callers draining in-flight ioctls "
	    "never wait on it for long; counted as slices");
}
ATF_TC_BODY(schedule__time_slice_ends_exec, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_CLOCK, 0, 0), KQEMU_RET_INTR);
	ATF_REQUIRE(h_list_has(" yields=0 slices=1"));
	ATF_REQUIRE(h_list_has(" schedules=10 "));	/* hz 100: 10 ticks */
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_CLOCK, 0, 0), KQEMU_RET_INTR);
	ATF_REQUIRE(h_list_has(" slices=2"));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(schedule__user_resched_gives_cpu_away);
ATF_TC_HEAD(schedule__user_resched_gives_cpu_away, tc)
{
	atf_tc_set_md_var(tc, "descr", "When the scheduler asks for a user "
	    "reschedule, kqemu_schedule lowers its priority as userexit does, "
	    "calls acquire_curproc (which clears the request and runs another "
	    "process) and restores the passive release; counted as a yield");
}
ATF_TC_BODY(schedule__user_resched_gives_cpu_away, tc)
{
	struct kqs_vm vm;
	long acquires;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	acquires = h_vmst().acquires;
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SPIN, 10, 0), KQEMU_RET_SOFTMMU);
	ATF_REQUIRE_EQ(h_vmst().acquires, acquires);
	hk_sched_want_user_resched(1);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SPIN, 10, 0), KQEMU_RET_SOFTMMU);
	ATF_REQUIRE_EQ(h_vmst().acquires, acquires + 1);
	ATF_REQUIRE(h_list_has(" schedules=20 yields=1"));
	/* A second request, a second yield: td_release was restored (the
	 * model aborts if acquire_curproc finds it set). */
	hk_sched_want_user_resched(1);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SPIN, 1, 0), KQEMU_RET_SOFTMMU);
	ATF_REQUIRE(h_list_has(" yields=2"));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	kqs_vm_free(&vm);
	h_end();
}

struct spinner {
	struct hk_proc	*proc;
	struct kqs_vm	*vm;
	int		fd;
	int		retval;
	int		error;
};

/* A thread of proc inside a never-ending EXEC. */
static void *
spinner_main(void *arg)
{
	struct spinner *s = arg;
	struct kqemu_cpu_state *c = &s->vm->args->cpu;

	if (hk_thread_enter(s->proc) != 0) {
		s->error = ESRCH;
		return (NULL);
	}
	memset(c, 0, sizeof(*c));
	c->regs[RAX] = OP_SPIN;
	s->error = hk_ioctl(s->fd, KQEMU_IOC_EXEC, c);
	s->retval = c->retval;
	hk_thread_leave();
	return (NULL);
}

ATF_TC(kill__inside_exec_reclaimed);
ATF_TC_HEAD(kill__inside_exec_reclaimed, tc)
{
	atf_tc_set_md_var(tc, "descr", "SIGKILL of a process whose thread "
	    "is inside a guest run: EXEC returns INTR, the process exits, its "
	    "close deletes the monitor VM and every page is returned "
	    "(two OS threads)");
}
ATF_TC_BODY(kill__inside_exec_reclaimed, tc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base;
	struct spinner s;
	struct hk_proc *victim;
	pthread_t t;
	int i;

	h_boot();
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &victim), 0);
	ATF_REQUIRE_EQ(kqs_vm_alloc(&vm, RAM_SIZE), 0);
	ATF_REQUIRE_EQ(hk_proc_map_user(victim, vm.block, vm.block_len, 1), 0);
	hk_thread_leave();
	base = h_vmst();
	ATF_REQUIRE_EQ(hk_thread_enter(victim), 0);
	memset(&s, 0, sizeof(s));
	s.proc = victim;
	s.vm = &vm;
	s.fd = h_open();
	ATF_REQUIRE_EQ(h_init(s.fd, &vm), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, spinner_main, &s), 0);
	/* Inside the guest run: the monitor is calling kqemu_schedule. */
	for (i = 0; i < 5000 && h_vmst().user_yields < 100; i++)
		usleep(1000);
	ATF_REQUIRE(h_vmst().user_yields >= 100);
	ATF_REQUIRE_EQ(hk_kill(victim, SIGKILL), 0);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_REQUIRE_EQ(s.error, 0);
	ATF_REQUIRE_EQ(s.retval, KQEMU_RET_INTR);
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);
	for (i = 0; i < 3000 && h_stat("hw.kqemu.instances") != 0; i++)
		usleep(1000);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	h_require_idle_vs(base, base.vmspaces - 1);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(fork__parent_exits_first);
ATF_TC_HEAD(fork__parent_exits_first, tc)
{
	atf_tc_set_md_var(tc, "descr", "A child forked with the instance's "
	    "file outlives the parent: the parent's locked pages stay held "
	    "and its vmspace referenced until the child's close deletes the "
	    "VM; then the vmspace goes and nothing is left");
}
ATF_TC_BODY(fork__parent_exits_first, tc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base;
	struct hk_proc *child;
	int fd;

	h_boot();
	h_vm(&vm);
	base = h_vmst();
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 2 * PAGE), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(hk_fork(&child), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(h_proc, 0), 0);
	/* The parent's map is gone (wirings with it); its pages are still
	 * held and its vmspace referenced by the monitor's locks. */
	ATF_REQUIRE_EQ(h_vmst().held_pages, INIT_PAGES + 2);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, 0);
	ATF_REQUIRE_EQ(h_vmst().vmspaces, base.vmspaces + 1);
	ATF_REQUIRE_EQ(hk_thread_enter(child), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_vmst().held_pages, 0);
	ATF_REQUIRE_EQ(h_vmst().vmspaces, base.vmspaces);	/* child's only */
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(child, 0), 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(exit__instance_open_private_pages_unwired);
ATF_TC_HEAD(exit__instance_open_private_pages_unwired, tc)
{
	atf_tc_set_md_var(tc, "descr", "A process whose instance still "
	    "has private (wired) pages locked exits without closing it: "
	    "exit1's fdfree closes the file before the vmspace goes, the "
	    "unlock puts each wired page's PTE back (vm_fault) and unwires "
	    "it; nothing stays wired or held");
}
ATF_TC_BODY(exit__instance_open_private_pages_unwired, tc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base;
	int fd;

	h_boot();
	h_vm(&vm);
	base = h_vmst();
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 2 * PAGE), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, INIT_PAGES + 2);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(h_proc, 0), 0);	/* fd still open */
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	ATF_REQUIRE(h_vmst().faults >= base.faults + INIT_PAGES + 2);
	h_require_idle_vs(base, base.vmspaces - 1);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(lock__pte_taken_meanwhile_still_unwired);
ATF_TC_HEAD(lock__pte_taken_meanwhile_still_unwired, tc)
{
	atf_tc_set_md_var(tc, "descr", "5.8.1's vm_fault_page removes the "
	    "PTE of the address it faults, wired or not, and unwiring finds "
	    "pages only through their PTEs: after the process's own thread "
	    "faults a locked page in that way (as umtx or ptrace would), the "
	    "close still unwires every page (the unlock faults the PTE back)");
}
ATF_TC_BODY(lock__pte_taken_meanwhile_still_unwired, tc)
{
	struct kqs_vm vm;
	struct hk_vm_stats base;
	struct vm_page *m;
	int fd, error = -1;

	h_boot();
	h_vm(&vm);
	base = h_vmst();
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	m = vm_fault_page_quick((unsigned long)vm.pages_to_flush, 0x01,
	    &error, NULL);
	ATF_REQUIRE(m != NULL);
	ATF_REQUIRE_EQ(error, 0);
	vm_page_unhold(m);
	ATF_REQUIRE_EQ(h_vmst().wired_pages, INIT_PAGES);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_require_idle(base);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TC(unload__refused_while_vm_lives);
ATF_TC_HEAD(unload__refused_while_vm_lives, tc)
{
	atf_tc_set_md_var(tc, "descr", "kldunload of a kqemu with a live "
	    "monitor VM is refused with EBUSY; after the close it unloads and "
	    "the monitor's global state is freed");
}
ATF_TC_BODY(unload__refused_while_vm_lives, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot();
	h_vm(&vm);
	fd = h_open();
	ATF_REQUIRE_EQ(h_init(fd, &vm), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu_acc"), EBUSY);
	ATF_REQUIRE_EQ(h_exec(fd, &vm, OP_SUM, 0, 1), KQEMU_RET_INT | 0x80);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu_acc"), 0);
	ATF_REQUIRE_EQ(h_vmst().kmem_pages, 0);
	kqs_vm_free(&vm);
	h_end();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, engine__default_kqemu_gpl);
	ATF_TP_ADD_TC(tp, engine__unknown_name_refused);
	ATF_TP_ADD_TC(tp, init__pages_locked_then_all_returned);
	ATF_TP_ADD_TC(tp, lock__shared_memory_held_not_wired);
	ATF_TP_ADD_TC(tp, exec__monitor_reads_guest_ram);
	ATF_TP_ADD_TC(tp, exec__monitor_writes_guest_ram);
	ATF_TP_ADD_TC(tp, exec__exit_codes_counted);
	ATF_TP_ADD_TC(tp, init__refusals_leave_nothing);
	ATF_TP_ADD_TC(tp, init__injected_failures_unwind);
	ATF_TP_ADD_TC(tp, init__no_apic_mapping_still_runs);
	ATF_TP_ADD_TC(tp, exec__lock_failure_aborts_cleanly);
	ATF_TP_ADD_TC(tp, schedule__signal_returns_intr);
	ATF_TP_ADD_TC(tp, schedule__time_slice_ends_exec);
	ATF_TP_ADD_TC(tp, schedule__user_resched_gives_cpu_away);
	ATF_TP_ADD_TC(tp, kill__inside_exec_reclaimed);
	ATF_TP_ADD_TC(tp, fork__parent_exits_first);
	ATF_TP_ADD_TC(tp, exit__instance_open_private_pages_unwired);
	ATF_TP_ADD_TC(tp, lock__pte_taken_meanwhile_still_unwired);
	ATF_TP_ADD_TC(tp, unload__refused_while_vm_lives);
	return (atf_no_error());
}
