/*
 * kqemu_test.c - kqemu.ko on the host kernel (ATF-C).
 *
 * Owns: the module-level tests of issue 3: the QEMU 0.10 call sequence
 * under `conform`, every errno of the contract, the locked-pages budget,
 * INTR on a pending signal, unload vetoes (open instance, wrapper hold,
 * interception, an instance on another cdev), isolation of two instances
 * on two cdevs (through the test-only h_twin module), `decline`, and
 * injected kmalloc failure at every allocation point.  Every case boots a
 * fresh host kernel and ends with hk_shutdown_clean(): nothing leaked.
 *
 * Locking: single-threaded cases; the host kernel does its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include "hk.h"
#include "kqemu.h"
#include "qemu_seq.h"

#define RAM_SIZE	(4UL * 1024 * 1024)
#define PAGE		4096UL

static struct hk_proc *h_proc;

/* Boot, set the tunables (NULL: unset), load kqemu, act as a root process. */
static void
h_boot(const char *engine, const char *max_locked)
{
	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	if (engine != NULL)
		ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", engine), 0);
	if (max_locked != NULL)
		ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.max_locked_pages", max_locked), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &h_proc), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);
}

static void
h_end(void)
{
	hk_thread_leave();
	ATF_REQUIRE_EQ_MSG(hk_shutdown_clean(), 0, "host kernel leaked (see stderr)");
}

/* A VM whose block is user memory of h_proc. */
static void
h_vm(struct kqs_vm *vm)
{
	ATF_REQUIRE_EQ(kqs_vm_alloc(vm, RAM_SIZE), 0);
	ATF_REQUIRE_EQ(hk_proc_map_user(h_proc, vm->block, vm->block_len, 1), 0);
}

static int
h_open(const char *path)
{
	int fd = -1;

	ATF_REQUIRE_EQ(hk_open(path, O_RDWR, &fd), 0);
	return (fd);
}

static int
h_ioctl(void *ctx, unsigned long cmd, void *arg)
{
	return (hk_ioctl(*(int *)ctx, cmd, arg));
}

static long long
h_stat(const char *name)
{
	long long v = -1;

	ATF_REQUIRE_EQ_MSG(hk_sysctl_int(name, &v), 0, "sysctl %s", name);
	return (v);
}

/* hw.kqemu.list into buf. */
static void
h_list(char *buf, size_t len)
{
	size_t n = len;

	buf[0] = '\0';
	ATF_REQUIRE_EQ(hk_sysctl("hw.kqemu.list", buf, &n, NULL, 0), 0);
	buf[len - 1] = '\0';
}

static int
h_list_has(const char *needle)
{
	char buf[4096];

	h_list(buf, sizeof(buf));
	return (strstr(buf, needle) != NULL);
}

/* The line of hw.kqemu.list for cdev name contains needle. */
static int
h_line_has(const char *name, const char *needle)
{
	char buf[4096], *line, *save = NULL;
	size_t n = strlen(name);

	h_list(buf, sizeof(buf));
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			return (strstr(line, needle) != NULL);
	}
	return (0);
}

/*
 * DragonFly's linker drops a reference when MOD_UNLOAD vetoes
 * (docs/design.md §10): after one vetoed kldunload, loading h_twin (which
 * depends on kqemu) leaves kqemu with the single reference that lets the next
 * kldunload(kqemu) reach kqemu's own MOD_UNLOAD while h_twin is loaded --
 * the case kqemu's holder count and interception check exist for.
 */
static void
h_veto_once(void)
{
	int fd = h_open("/dev/kqemu");

	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), EBUSY);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
}

/* Load h_twin with its tunables; /dev/kqemu_twin appears. */
static void
h_load_twin(const char *hold, const char *intercept)
{
	ATF_REQUIRE_EQ(hk_setenv("h_twin.hold", hold), 0);
	ATF_REQUIRE_EQ(hk_setenv("h_twin.intercept", intercept), 0);
	ATF_REQUIRE_EQ(hk_kldload("h_twin", NULL), 0);
	hk_devfs_sync();
	ATF_REQUIRE(hk_devfs_exists("kqemu_twin"));
}

/* Unload h_twin; kqemu may go with it (its last reference); then make
 * sure it is gone. */
static void
h_unload_twin_and_kqemu(void)
{
	ATF_REQUIRE_EQ(hk_kldunload("h_twin"), 0);
	if (hk_kld_isloaded("kqemu"))
		ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	ATF_REQUIRE(!hk_kld_isloaded("kqemu"));
}

static void
h_require_seq(int fd, struct kqs_vm *vm, int nexec, struct kqs_result *res)
{
	int error = kqs_run(h_ioctl, &fd, vm, nexec, res);

	ATF_REQUIRE_MSG(error == 0, "sequence failed at %s: %d", res->step, error);
	ATF_REQUIRE_EQ(res->phys_errors, 0);
	ATF_REQUIRE_EQ(res->execs, nexec);
}

/* --- the QEMU sequence ---------------------------------------------------- */

ATF_TC(conform__qemu_sequence);
ATF_TC_HEAD(conform__qemu_sequence, tc)
{
	atf_tc_set_md_var(tc, "descr", "QEMU 0.10's whole call sequence under "
	    "conform: GET_VERSION, INIT, the PC physical map, 300 EXECs with "
	    "page lists and a faithful state round trip, MODIFY_RAM_PAGES "
	    "when the table fills; statistics follow");
}
ATF_TC_BODY(conform__qemu_sequence, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	h_require_seq(fd, &vm, 300, &res);
	ATF_REQUIRE_EQ(res.version, KQEMU_VERSION);
	ATF_REQUIRE_EQ(res.softmmu, 300);
	ATF_REQUIRE_EQ(res.intr, 0);
	ATF_REQUIRE(res.modify_calls > 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 1);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.inits"), 1);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.execs"), 300);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_softmmu"), 300);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_intr"), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.set_phys_mem"), 7);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.modify_ram_pages"), res.modify_calls);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), KQEMU_MIN_LOCKED_PAGES);
	ATF_REQUIRE(h_list_has("kqemu pid="));
	ATF_REQUIRE(h_list_has("state=READY engine=conform"));
	ATF_REQUIRE(h_list_has(" execs=300 softmmu=300 intr=0 phys_calls=7 ranges=6 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(conform__sequential_reuse);
ATF_TC_HEAD(conform__sequential_reuse, tc)
{
	atf_tc_set_md_var(tc, "descr", "After the last close the cdev is free "
	    "again and the next open starts a fresh NEW instance");
}
ATF_TC_BODY(conform__sequential_reuse, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	for (int round = 0; round < 3; round++) {
		fd = h_open("/dev/kqemu");
		/* Fresh state: EXEC before INIT is refused. */
		ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, &vm.args->cpu), EIO);
		h_require_seq(fd, &vm, 20, &res);
		ATF_REQUIRE_EQ(hk_close(fd), 0);
		ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	}
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.opens"), 3);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.inits"), 3);
	h_end();
	kqs_vm_free(&vm);
}

/* --- open ------------------------------------------------------------------ */

ATF_TC(open__read_only_eperm);
ATF_TC_HEAD(open__read_only_eperm, tc)
{
	atf_tc_set_md_var(tc, "descr", "A read-only open gets EPERM and leaves "
	    "no instance");
}
ATF_TC_BODY(open__read_only_eperm, tc)
{
	int fd = -1;

	h_boot("conform", NULL);
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDONLY, &fd), EPERM);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	/* The refusal did not take the cdev. */
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
}

ATF_TC(open__second_open_ebusy);
ATF_TC_HEAD(open__second_open_ebusy, tc)
{
	atf_tc_set_md_var(tc, "descr", "Single-instance driver: a second open "
	    "of the same cdev gets EBUSY, from the same or another process; a "
	    "dup shares the instance; the last close frees the cdev");
}
ATF_TC_BODY(open__second_open_ebusy, tc)
{
	struct hk_proc *other;
	struct kqs_vm vm;
	int fd, fd2 = -1, dupfd = -1, version;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR, &fd2), EBUSY);

	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &other), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(other), 0);
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR, &fd2), EBUSY);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(other, 0), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);

	ATF_REQUIRE_EQ(hk_dup(fd, &dupfd), 0);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &dupfd, &vm), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	/* Not the last close: the instance, READY, lives on through the dup. */
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 1);
	ATF_REQUIRE_EQ(hk_ioctl(dupfd, KQEMU_IOC_INIT, &vm.args->init), EIO);
	ATF_REQUIRE_EQ(kqs_get_version(h_ioctl, &dupfd, &vm, &version), 0);
	ATF_REQUIRE_EQ(hk_close(dupfd), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

/* --- ioctl errors ----------------------------------------------------------- */

ATF_TC(ioctl__state_eio);
ATF_TC_HEAD(ioctl__state_eio, tc)
{
	atf_tc_set_md_var(tc, "descr", "State machine NEW -> READY: EXEC, "
	    "SET_PHYS_MEM and MODIFY_RAM_PAGES before INIT get EIO, INIT twice "
	    "gets EIO, GET_VERSION works in both states");
}
ATF_TC_BODY(ioctl__state_eio, tc)
{
	struct kqs_vm vm;
	int fd, version = 0;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_get_version(h_ioctl, &fd, &vm, &version), 0);
	ATF_REQUIRE_EQ(version, KQEMU_VERSION);
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, &vm.args->cpu), EIO);
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 0, PAGE, 0,
	    KQEMU_IO_MEM_RAM), EIO);
	vm.args->count = 1;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES, &vm.args->count), EIO);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), EIO);
	version = 0;
	ATF_REQUIRE_EQ(kqs_get_version(h_ioctl, &fd, &vm, &version), 0);
	ATF_REQUIRE_EQ(version, KQEMU_VERSION);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.inits"), 1);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.ioctl_errors"), 4);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(ioctl__unknown_enotty);
ATF_TC_HEAD(ioctl__unknown_enotty, tc)
{
	atf_tc_set_md_var(tc, "descr", "Commands kqemu does not define get "
	    "ENOTTY, also the Linux encodings of its own (the host kernel, like "
	    "DragonFly, speaks BSD encodings only)");
}
ATF_TC_BODY(ioctl__unknown_enotty, tc)
{
	struct kqs_vm vm;
	const unsigned long bad[] = {
		0x2000710aUL,			/* _IO('q', 10) */
		0x80047106UL,			/* _IOW('q', 6, int) */
		0x40047403UL,			/* _IOR('t', 3, int) */
		KQEMU_LINUX_IOC_INIT,		/* _IOR('q', 2, 48) in BSD terms */
		KQEMU_LINUX_IOC_GET_VERSION,	/* _IOW('q', 3, int) */
	};
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ATF_REQUIRE_EQ_MSG(hk_ioctl(fd, bad[i], vm.args), ENOTTY,
		    "cmd %#lx", bad[i]);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

/* --- INIT ------------------------------------------------------------------ */

ATF_TC(init__invalid_einval);
ATF_TC_HEAD(init__invalid_einval, tc)
{
	atf_tc_set_md_var(tc, "descr", "INIT refuses unaligned pointers and a "
	    "ram_size that is zero, not a multiple of 4 KiB or >= 0x7ffff000, "
	    "with EINVAL, and the instance stays NEW");
}
ATF_TC_BODY(init__invalid_einval, tc)
{
	struct kqs_vm vm;
	struct kqemu_init good, *d;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	d = &vm.args->init;
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);	/* fills d */
	good = *d;
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	fd = h_open("/dev/kqemu");

	for (int k = 0; k < 9; k++) {
		*d = good;
		switch (k) {
		case 0: d->ram_base += 8; break;
		case 1: d->ram_dirty += 1; break;
		case 2: d->pages_to_flush = (kqemu_u64 *)((char *)d->pages_to_flush + 16); break;
		case 3: d->ram_pages_to_update = (kqemu_u64 *)((char *)d->ram_pages_to_update + 2048); break;
		case 4: d->modified_ram_pages = (kqemu_u64 *)((char *)d->modified_ram_pages + 8); break;
		case 5: d->ram_size = 0; break;
		case 6: d->ram_size = RAM_SIZE - 100; break;
		case 7: d->ram_size = KQEMU_MAX_RAM_SIZE; break;
		case 8: d->ram_size = 0x80000000ULL; break;
		}
		ATF_REQUIRE_EQ_MSG(hk_ioctl(fd, KQEMU_IOC_INIT, d), EINVAL, "case %d", k);
	}
	/* Still NEW: a good INIT now works. */
	*d = good;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_INIT, d), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.init_errors"), 9);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), KQEMU_MIN_LOCKED_PAGES);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(init__unreadable_efault);
ATF_TC_HEAD(init__unreadable_efault, tc)
{
	atf_tc_set_md_var(tc, "descr", "INIT probes each of its five user areas "
	    "(first and last byte, read and write): an area outside user memory, "
	    "or read-only, or running past the end of user memory gets EFAULT");
}
ATF_TC_BODY(init__unreadable_efault, tc)
{
	struct kqs_vm vm;
	struct kqemu_init good, *d;
	void *unmapped, *rdonly;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	/* Page-aligned memory that is not user memory, and some read-only. */
	unmapped = aligned_alloc(PAGE, RAM_SIZE);
	rdonly = aligned_alloc(PAGE, RAM_SIZE);
	ATF_REQUIRE(unmapped != NULL && rdonly != NULL);
	ATF_REQUIRE_EQ(hk_proc_map_user(h_proc, rdonly, RAM_SIZE, 0), 0);
	fd = h_open("/dev/kqemu");
	d = &vm.args->init;
	d->ram_base = vm.ram;
	d->ram_size = vm.ram_size;
	d->ram_dirty = vm.ram_dirty;
	d->pages_to_flush = vm.pages_to_flush;
	d->ram_pages_to_update = vm.ram_pages_to_update;
	d->modified_ram_pages = vm.modified_ram_pages;
	good = *d;

	for (int bad = 0; bad < 2; bad++) {
		void *p = bad == 0 ? unmapped : rdonly;

		for (int k = 0; k < 5; k++) {
			*d = good;
			switch (k) {
			case 0: d->ram_base = p; break;
			case 1: d->ram_dirty = p; break;
			case 2: d->pages_to_flush = p; break;
			case 3: d->ram_pages_to_update = p; break;
			case 4: d->modified_ram_pages = p; break;
			}
			ATF_REQUIRE_EQ_MSG(hk_ioctl(fd, KQEMU_IOC_INIT, d), EFAULT,
			    "%s area %d", bad == 0 ? "unmapped" : "read-only", k);
		}
	}
	/* RAM that starts in user memory but runs past its end. */
	*d = good;
	d->ram_base = vm.ram_dirty;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_INIT, d), EFAULT);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
	*d = good;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_INIT, d), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
	free(unmapped);
	free(rdonly);
}

ATF_TC(init__budget_enomem);
ATF_TC_HEAD(init__budget_enomem, tc)
{
	atf_tc_set_md_var(tc, "descr", "The locked-pages budget "
	    "(hw.kqemu.max_locked_pages): INIT needs 1024 pages, gets ENOMEM "
	    "when they are not left, and the pages come back on delete");
}
ATF_TC_BODY(init__budget_enomem, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot("conform", "1023");
	h_vm(&vm);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.max_locked_pages"), 1023);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), ENOMEM);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);

	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.max_locked_pages", "1024"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	for (int round = 0; round < 3; round++) {
		/* Exactly one instance fits; it is returned at close. */
		fd = h_open("/dev/kqemu");
		ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
		ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 1024);
		ATF_REQUIRE(h_list_has("locked=1024"));
		ATF_REQUIRE_EQ(hk_close(fd), 0);
		ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
	}
	h_end();
	kqs_vm_free(&vm);
}

/* --- SET_PHYS_MEM, MODIFY_RAM_PAGES, EXEC ------------------------------------ */

ATF_TC(set_phys_mem__invalid_einval);
ATF_TC_HEAD(set_phys_mem__invalid_einval, tc)
{
	atf_tc_set_md_var(tc, "descr", "SET_PHYS_MEM refuses unaligned or empty "
	    "ranges, ranges past 4 GiB, RAM/ROM outside ram_size and unknown "
	    "io_index values with EINVAL, and leaves the map as it was");
}
ATF_TC_BODY(set_phys_mem__invalid_einval, tc)
{
	struct kqs_vm vm;
	int fd;
	const struct {
		uint64_t phys, size, ram;
		uint32_t io;
	} bad[] = {
		{ 0x1001, PAGE, 0, KQEMU_IO_MEM_RAM },		/* unaligned address */
		{ 0, PAGE + 1, 0, KQEMU_IO_MEM_RAM },		/* unaligned size */
		{ 0, 0, 0, KQEMU_IO_MEM_RAM },			/* empty */
		{ 0x100000000ULL, PAGE, 0, KQEMU_IO_MEM_UNASSIGNED },	/* at 4 GiB */
		{ 0xfffff000ULL, 2 * PAGE, 0, KQEMU_IO_MEM_COMM },	/* crosses 4 GiB */
		{ 0, PAGE, RAM_SIZE, KQEMU_IO_MEM_RAM },	/* RAM past ram_size */
		{ 0, 2 * PAGE, RAM_SIZE - PAGE, KQEMU_IO_MEM_ROM },	/* ROM runs past */
		{ 0, PAGE, 0x800, KQEMU_IO_MEM_RAM },		/* ram_addr unaligned */
		{ 0, PAGE, 0, 4 },				/* io_index */
		{ 0, PAGE, 0, 0xffffffffU },
		{ 0, UINT64_MAX & ~(PAGE - 1), 0, KQEMU_IO_MEM_UNASSIGNED },	/* wraps */
	};

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 0, 0x100000, 0,
	    KQEMU_IO_MEM_RAM), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ATF_REQUIRE_EQ_MSG(kqs_set_phys_mem(h_ioctl, &fd, &vm, bad[i].phys,
		    bad[i].size, bad[i].ram, bad[i].io), EINVAL, "case %zu", i);
	ATF_REQUIRE(h_list_has("phys_calls=1 ranges=1 "));
	/* The edges that are valid: a range ending exactly at 4 GiB, RAM
	 * ending exactly at ram_size. */
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 0xfffff000ULL, PAGE, 0,
	    KQEMU_IO_MEM_COMM), 0);
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 0x200000, PAGE,
	    RAM_SIZE - PAGE, KQEMU_IO_MEM_RAM), 0);
	ATF_REQUIRE(h_list_has("phys_calls=3 ranges=3 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(set_phys_mem__overlap_replaces);
ATF_TC_HEAD(set_phys_mem__overlap_replaces, tc)
{
	atf_tc_set_md_var(tc, "descr", "An update overlapping earlier ranges "
	    "replaces what it covers (splitting a range it falls inside), and "
	    "UNASSIGNED removes mappings");
}
ATF_TC_BODY(set_phys_mem__overlap_replaces, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
#define MAP(p, s, r, io) \
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, p, s, r, io), 0)
	MAP(0, 0x100000, 0, KQEMU_IO_MEM_RAM);
	ATF_REQUIRE(h_list_has(" ranges=1 "));
	MAP(0x10000, 0x10000, 0x200000, KQEMU_IO_MEM_ROM);	/* inside: split */
	ATF_REQUIRE(h_list_has(" ranges=3 "));
	MAP(0x10000, 0x10000, 0x300000, KQEMU_IO_MEM_ROM);	/* same: replace */
	ATF_REQUIRE(h_list_has(" ranges=3 "));
	MAP(0x8000, 0x10000, 0, KQEMU_IO_MEM_COMM);	/* straddles two */
	ATF_REQUIRE(h_list_has(" ranges=4 "));
	MAP(0x200000, 0x1000, 0x1000, KQEMU_IO_MEM_RAM);	/* disjoint */
	ATF_REQUIRE(h_list_has(" ranges=5 "));
	MAP(0x40000, 0x10000, 0, KQEMU_IO_MEM_UNASSIGNED);	/* hole: splits */
	ATF_REQUIRE(h_list_has(" ranges=6 "));
	MAP(0, 0x100000, 0, KQEMU_IO_MEM_UNASSIGNED);	/* all of the first MiB */
	ATF_REQUIRE(h_list_has(" ranges=1 "));
	MAP(0, 0x1000000, 0, KQEMU_IO_MEM_UNASSIGNED);
	ATF_REQUIRE(h_list_has(" ranges=0 "));
#undef MAP
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(set_phys_mem__map_full_enomem);
ATF_TC_HEAD(set_phys_mem__map_full_enomem, tc)
{
	atf_tc_set_md_var(tc, "descr", "The guest physical map holds 256 "
	    "ranges: one more disjoint range gets ENOMEM and changes nothing; "
	    "replacing an existing range still works");
}
ATF_TC_BODY(set_phys_mem__map_full_enomem, tc)
{
	struct kqs_vm vm;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	for (uint64_t i = 0; i < 256; i++)
		ATF_REQUIRE_EQ_MSG(kqs_set_phys_mem(h_ioctl, &fd, &vm, i * 2 * PAGE,
		    PAGE, 0, KQEMU_IO_MEM_COMM), 0, "range %ju", (uintmax_t)i);
	ATF_REQUIRE(h_list_has(" ranges=256 "));
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 0x10000000, PAGE, 0,
	    KQEMU_IO_MEM_COMM), ENOMEM);
	/* Replacing needs no new slot: [0, 8K) takes over [0, 4K). */
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 0, 2 * PAGE, 0,
	    KQEMU_IO_MEM_RAM), 0);
	ATF_REQUIRE(h_list_has(" ranges=256 "));
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd, &vm, 2 * PAGE, PAGE, 0,
	    KQEMU_IO_MEM_UNASSIGNED), 0);
	ATF_REQUIRE(h_list_has(" ranges=255 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(exec__page_list_unreadable_efault);
ATF_TC_HEAD(exec__page_list_unreadable_efault, tc)
{
	atf_tc_set_md_var(tc, "descr", "EXEC reads the page-list entries it "
	    "consumes: a list that is no longer user memory gets EFAULT, and "
	    "EXEC works again without it");
}
ATF_TC_BODY(exec__page_list_unreadable_efault, tc)
{
	struct kqs_vm vm;
	struct kqemu_cpu_state *cs;
	uint64_t *list;
	int fd;

	h_boot("conform", NULL);
	h_vm(&vm);
	list = aligned_alloc(PAGE, PAGE);
	ATF_REQUIRE(list != NULL);
	ATF_REQUIRE_EQ(hk_proc_map_user(h_proc, list, PAGE, 1), 0);
	fd = h_open("/dev/kqemu");
	vm.pages_to_flush = list;	/* INIT hands this one to the driver */
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	ATF_REQUIRE_EQ(hk_proc_unmap_user(h_proc, list), 0);
	cs = &vm.args->cpu;
	memset(cs, 0, sizeof(*cs));
	cs->nb_pages_to_flush = 5;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, cs), EFAULT);
	cs->nb_pages_to_flush = KQEMU_FLUSH_ALL;	/* names no entry */
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, cs), 0);
	ATF_REQUIRE_EQ(cs->retval, KQEMU_RET_SOFTMMU);
	ATF_REQUIRE(h_list_has(" execs=1 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
	free(list);
}

ATF_TC(modify_ram_pages__limits);
ATF_TC_HEAD(modify_ram_pages__limits, tc)
{
	atf_tc_set_md_var(tc, "descr", "MODIFY_RAM_PAGES accepts 0..512 and the "
	    "'all' value 513, refuses other counts with EINVAL; EXEC refuses "
	    "page-list counters past their limits with EINVAL");
}
ATF_TC_BODY(modify_ram_pages__limits, tc)
{
	struct kqs_vm vm;
	struct kqemu_cpu_state *cs;
	int fd;
	const int ok[] = { 0, 1, 512, 513 }, bad[] = { 514, -1, 100000, -513 };

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	for (size_t i = 0; i < 4; i++) {
		vm.args->count = ok[i];
		ATF_REQUIRE_EQ_MSG(hk_ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES,
		    &vm.args->count), 0, "count %d", ok[i]);
		vm.args->count = bad[i];
		ATF_REQUIRE_EQ_MSG(hk_ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES,
		    &vm.args->count), EINVAL, "count %d", bad[i]);
	}
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.modify_ram_pages"), 4);

	cs = &vm.args->cpu;
	memset(cs, 0, sizeof(*cs));
	cs->nb_pages_to_flush = KQEMU_FLUSH_ALL;
	cs->nb_ram_pages_to_update = KQEMU_RAM_PAGES_UPDATE_ALL;
	cs->nb_modified_ram_pages = KQEMU_MAX_MODIFIED_RAM_PAGES;
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, cs), 0);
	ATF_REQUIRE_EQ(cs->nb_pages_to_flush, 0);
	ATF_REQUIRE_EQ(cs->nb_modified_ram_pages, 0);
	for (int k = 0; k < 3; k++) {
		memset(cs, 0, sizeof(*cs));
		if (k == 0)
			cs->nb_pages_to_flush = KQEMU_FLUSH_ALL + 1;
		if (k == 1)
			cs->nb_ram_pages_to_update = KQEMU_RAM_PAGES_UPDATE_ALL + 1;
		if (k == 2)
			cs->nb_modified_ram_pages = KQEMU_MAX_MODIFIED_RAM_PAGES + 1;
		ATF_REQUIRE_EQ_MSG(hk_ioctl(fd, KQEMU_IOC_EXEC, cs), EINVAL, "k %d", k);
	}
	ATF_REQUIRE(h_list_has("flushed=0 modified=1025 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(exec__intr_on_pending_signal);
ATF_TC_HEAD(exec__intr_on_pending_signal, tc)
{
	atf_tc_set_md_var(tc, "descr", "EXEC answers INTR while a signal is "
	    "pending for the caller (QEMU's SIGALRM timer), with the state "
	    "still round-tripped, and SOFTMMU again once it is gone");
}
ATF_TC_BODY(exec__intr_on_pending_signal, tc)
{
	struct kqs_vm vm;
	int fd, rv = 0, modify = 0;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	ATF_REQUIRE_EQ(kqs_exec_once(h_ioctl, &fd, &vm, 1, &rv, &modify), 0);
	ATF_REQUIRE_EQ(rv, KQEMU_RET_SOFTMMU);
	ATF_REQUIRE_EQ(hk_kill(h_proc, SIGALRM), 0);
	ATF_REQUIRE_EQ(kqs_exec_once(h_ioctl, &fd, &vm, 2, &rv, &modify), 0);
	ATF_REQUIRE_EQ(rv, KQEMU_RET_INTR);
	ATF_REQUIRE_EQ(hk_sig_clear(h_proc, SIGALRM), 0);
	ATF_REQUIRE_EQ(kqs_exec_once(h_ioctl, &fd, &vm, 3, &rv, &modify), 0);
	ATF_REQUIRE_EQ(rv, KQEMU_RET_SOFTMMU);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_intr"), 1);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.exec_softmmu"), 2);
	ATF_REQUIRE(h_list_has(" execs=3 softmmu=2 intr=1 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

/* --- module ---------------------------------------------------------------- */

ATF_TC(unload__refused_while_open);
ATF_TC_HEAD(unload__refused_while_open, tc)
{
	atf_tc_set_md_var(tc, "descr", "MOD_UNLOAD returns EBUSY while an "
	    "instance lives; the device keeps working; after the close the "
	    "unload succeeds and /dev/kqemu is gone");
}
ATF_TC_BODY(unload__refused_while_open, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	int fd, version;

	h_boot("conform", NULL);
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), EBUSY);
	ATF_REQUIRE(hk_kld_isloaded("kqemu"));
	ATF_REQUIRE(hk_devfs_exists("kqemu"));
	ATF_REQUIRE_EQ(kqs_get_version(h_ioctl, &fd, &vm, &version), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	ATF_REQUIRE(!hk_kld_isloaded("kqemu"));
	hk_devfs_sync();
	ATF_REQUIRE(!hk_devfs_exists("kqemu"));
	/* And again from scratch. */
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	fd = h_open("/dev/kqemu");
	h_require_seq(fd, &vm, 5, &res);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(load__unknown_engine_einval);
ATF_TC_HEAD(load__unknown_engine_einval, tc)
{
	atf_tc_set_md_var(tc, "descr", "An unknown hw.kqemu.engine fails "
	    "MOD_LOAD (EINVAL) and leaves nothing behind but the file, which "
	    "5.8.1 keeps loaded (kldload returns 0) and which unloads");
}
ATF_TC_BODY(load__unknown_engine_einval, tc)
{
	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "turbo"), 0);
	/* 5.8.1 module_register_init swallows MOD_LOAD's error. */
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	ATF_REQUIRE(hk_kld_isloaded("kqemu"));
	ATF_REQUIRE_EQ(hk_modfind("kqemu"), ENOENT);
	hk_devfs_sync();
	ATF_REQUIRE(!hk_devfs_exists("kqemu"));
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "conform"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	ATF_REQUIRE_EQ_MSG(hk_shutdown_clean(), 0, "host kernel leaked");
}

/* Open /dev/kqemu read-write as a new process with uid/gid; the errno. */
/* /dev/kqemu's owner, group and mode are uid, gid, mode. */
static void
h_require_attr(uid_t uid, gid_t gid, int mode)
{
	uid_t u = 99;
	gid_t g = 99;
	int m = 0;

	ATF_REQUIRE_EQ(hk_devfs_node_attr("kqemu", &u, &g, &m), 0);
	ATF_REQUIRE_EQ(u, uid);
	ATF_REQUIRE_EQ(g, gid);
	ATF_REQUIRE_EQ_MSG(m & 07777, mode, "mode %#o", m);
}

static int
h_open_as(uid_t uid, gid_t gid)
{
	struct hk_proc *p;
	int fd = -1, error;

	ATF_REQUIRE_EQ(hk_proc_create(uid, gid, &p), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(p), 0);
	error = hk_open("/dev/kqemu", O_RDWR, &fd);
	if (error == 0)
		ATF_REQUIRE_EQ(hk_close(fd), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(p, 0), 0);
	return (error);
}

ATF_TC(load__node_mode_from_tunables);
ATF_TC_HEAD(load__node_mode_from_tunables, tc)
{
	atf_tc_set_md_var(tc, "descr", "/dev/kqemu is 0660 root:wheel by "
	    "default; hw.kqemu.gid and hw.kqemu.perms set its group and mode; a "
	    "mode beyond 0777 fails MOD_LOAD with EINVAL");
}
ATF_TC_BODY(load__node_mode_from_tunables, tc)
{
	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	h_require_attr(0, 0, 0660);
	ATF_REQUIRE_EQ(h_open_as(1000, 1000), EACCES);
	ATF_REQUIRE_EQ(h_open_as(1000, 0), 0);		/* wheel */
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);

	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.gid", "1000"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	h_require_attr(0, 1000, 0660);
	ATF_REQUIRE_EQ(h_open_as(1000, 1000), 0);
	ATF_REQUIRE_EQ(h_open_as(1001, 0), EACCES);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);

	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.perms", "0606"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	h_require_attr(0, 1000, 0606);
	ATF_REQUIRE_EQ(h_open_as(1000, 1000), EACCES);	/* group: none */
	ATF_REQUIRE_EQ(h_open_as(1001, 1001), 0);	/* other: rw */
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);

	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.perms", "04660"), 0);
	/* MOD_LOAD fails (EINVAL); 5.8.1's kldload returns 0 anyway. */
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	ATF_REQUIRE_EQ(hk_modfind("kqemu"), ENOENT);
	ATF_REQUIRE(!hk_devfs_exists("kqemu"));
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	ATF_REQUIRE(!hk_kld_isloaded("kqemu"));
	ATF_REQUIRE_EQ_MSG(hk_shutdown_clean(), 0, "host kernel leaked");
}

ATF_TC(decline__init_enxio);
ATF_TC_HEAD(decline__init_enxio, tc)
{
	atf_tc_set_md_var(tc, "descr", "The default engine, decline: "
	    "GET_VERSION answers 0x010400, INIT fails with ENXIO (each time), "
	    "the instance stays NEW and closes cleanly");
}
ATF_TC_BODY(decline__init_enxio, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	char engine[32];
	size_t len = sizeof(engine);
	int fd;

	h_boot(NULL, NULL);
	h_vm(&vm);
	ATF_REQUIRE_EQ(hk_sysctl("hw.kqemu.engine", engine, &len, NULL, 0), 0);
	ATF_REQUIRE_STREQ(engine, "decline");
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.version"), KQEMU_VERSION);
	fd = h_open("/dev/kqemu");
	/* What QEMU does: GET_VERSION, INIT, and on failure close. */
	ATF_REQUIRE_EQ(kqs_run(h_ioctl, &fd, &vm, 1, &res), ENXIO);
	ATF_REQUIRE_STREQ(res.step, "INIT");
	ATF_REQUIRE_EQ(res.version, KQEMU_VERSION);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, &vm), ENXIO);
	ATF_REQUIRE_EQ(hk_ioctl(fd, KQEMU_IOC_EXEC, &vm.args->cpu), EIO);
	ATF_REQUIRE(h_list_has("state=NEW engine=decline"));
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.init_errors"), 2);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	h_end();
	kqs_vm_free(&vm);
}

/* --- injected allocation failures --------------------------------------------- */

/*
 * Run open + the sequence + close with the nth KQEMU allocation failing;
 * returns 1 when nothing was refused (n is past the last allocation).
 */
static int
h_fail_nth_once(struct kqs_vm *vm, int n, size_t base_bytes)
{
	struct kqs_result res;
	size_t bytes = 0, count = 0;
	int fd = -1, error, clean = 1;

	ATF_REQUIRE_EQ(hk_fail_kmalloc_nth("KQEMU", n), 0);
	error = hk_open("/dev/kqemu", O_RDWR, &fd);
	if (error != 0) {
		ATF_REQUIRE_EQ_MSG(error, ENOMEM, "open, failing #%d", n);
		ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
		clean = 0;
	} else {
		error = kqs_run(h_ioctl, &fd, vm, 3, &res);
		if (error != 0) {
			ATF_REQUIRE_EQ_MSG(error, ENOMEM, "%s, failing #%d",
			    res.step, n);
			ATF_REQUIRE_STREQ(res.step, "INIT");
			ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
			/* The instance is usable after the refusal. */
			ATF_REQUIRE_EQ(hk_fail_kmalloc_nth("KQEMU", 0), 0);
			ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd, vm), 0);
			clean = 0;
		}
		ATF_REQUIRE_EQ(hk_close(fd), 0);
	}
	ATF_REQUIRE_EQ(hk_fail_kmalloc_nth("KQEMU", 0), 0);
	ATF_REQUIRE_EQ(hk_kmalloc_stats("KQEMU", &bytes, &count), 0);
	ATF_REQUIRE_EQ_MSG(bytes, base_bytes, "leak after failing #%d", n);
	return (clean);
}

ATF_TC(alloc__fail_every_point);
ATF_TC_HEAD(alloc__fail_every_point, tc)
{
	atf_tc_set_md_var(tc, "descr", "kmalloc failure injected at every "
	    "allocation point of load, open and INIT in turn: a clean ENOMEM, "
	    "nothing half-registered, nothing leaked, and the next try works");
}
ATF_TC_BODY(alloc__fail_every_point, tc)
{
	struct kqs_vm vm;
	size_t base = 0, count = 0;
	int n, error;

	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "conform"), 0);
	/* MOD_LOAD's allocations. */
	for (n = 1; n < 50; n++) {
		ATF_REQUIRE_EQ(hk_fail_kmalloc_nth("KQEMU", n), 0);
		error = hk_kldload("kqemu", NULL);
		ATF_REQUIRE_EQ(hk_fail_kmalloc_nth("KQEMU", 0), 0);
		/* 5.8.1: MOD_LOAD's ENOMEM is swallowed, the file stays. */
		ATF_REQUIRE_EQ_MSG(error, 0, "load, failing #%d", n);
		if (hk_modfind("kqemu") == 0)
			break;
		hk_devfs_sync();
		ATF_REQUIRE(!hk_devfs_exists("kqemu"));
		ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
		ATF_REQUIRE(!hk_kld_isloaded("kqemu"));
	}
	ATF_REQUIRE_MSG(n > 1 && n < 50, "load never failed or never succeeded (n=%d)", n);
	hk_devfs_sync();
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &h_proc), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);
	h_vm(&vm);
	ATF_REQUIRE_EQ(hk_kmalloc_stats("KQEMU", &base, &count), 0);
	for (n = 1; n < 50; n++) {
		if (h_fail_nth_once(&vm, n, base))
			break;
	}
	/* open: lock + instance; INIT: the VM. */
	ATF_REQUIRE_MSG(n == 4, "expected 3 allocation points, ran clean at %d", n);
	h_end();
	kqs_vm_free(&vm);
}

/* --- two cdevs (h_twin) -------------------------------------------------------- */

ATF_TC(close__stray_file_keeps_instance);
ATF_TC_HEAD(close__stray_file_keeps_instance, tc)
{
	atf_tc_set_md_var(tc, "descr", "A file that did not create the "
	    "instance (5.8.1's D_QUICK open path hands one out although "
	    "d_open said EBUSY) closes without deleting the instance of the "
	    "file that did: only that file's close deletes it");
}
ATF_TC_BODY(close__stray_file_keeps_instance, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	int fd1, fd2 = -1;

	h_boot("conform", NULL);
	ATF_REQUIRE_EQ(hk_setenv("h_twin.quick", "1"), 0);
	h_load_twin("1", "1");
	h_vm(&vm);
	fd1 = h_open("/dev/kqemu");
	/* The quick path drops d_open's EBUSY: a second file, no instance. */
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR, &fd2), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 1);
	ATF_REQUIRE_EQ(hk_close(fd2), 0);
	ATF_REQUIRE_EQ_MSG(h_stat("hw.kqemu.instances"), 1,
	    "the stray file's close deleted the instance");
	h_require_seq(fd1, &vm, 10, &res);
	ATF_REQUIRE_EQ(hk_close(fd1), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	h_unload_twin_and_kqemu();
	h_end();
}

ATF_TC(ioctl__stray_file_enxio);
ATF_TC_HEAD(ioctl__stray_file_enxio, tc)
{
	atf_tc_set_md_var(tc, "descr", "A file that did not create the "
	    "instance (5.8.1's D_QUICK open path hands one out although "
	    "d_open said EBUSY) has none: GET_VERSION, INIT and EXEC through "
	    "it get ENXIO and never reach the instance of the file that did, "
	    "which then runs the whole QEMU sequence (its INIT was not taken)");
}
ATF_TC_BODY(ioctl__stray_file_enxio, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	int fd1, fd2 = -1, version = 0;

	h_boot("conform", NULL);
	ATF_REQUIRE_EQ(hk_setenv("h_twin.quick", "1"), 0);
	h_load_twin("1", "1");
	h_vm(&vm);
	fd1 = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR, &fd2), 0);
	ATF_CHECK_EQ(kqs_get_version(h_ioctl, &fd2, &vm, &version), ENXIO);
	ATF_CHECK_EQ(kqs_init(h_ioctl, &fd2, &vm), ENXIO);
	ATF_CHECK_EQ(hk_ioctl(fd2, KQEMU_IOC_EXEC, &vm.args->cpu), ENXIO);
	ATF_CHECK_EQ(h_stat("hw.kqemu.inits"), 0);
	ATF_REQUIRE_EQ(hk_close(fd2), 0);
	h_require_seq(fd1, &vm, 10, &res);
	ATF_REQUIRE_EQ(hk_close(fd1), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	h_unload_twin_and_kqemu();
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(twin__isolation);
ATF_TC_HEAD(twin__isolation, tc)
{
	atf_tc_set_md_var(tc, "descr", "Two cdevs with kqemu's ops (the base "
	    "and h_twin's) get two instances whose state, statistics and "
	    "errors are independent; each stays single-instance");
}
ATF_TC_BODY(twin__isolation, tc)
{
	struct kqs_vm vm1, vm2;
	struct kqs_result res;
	int fd1, fd2, fd3 = -1, rv, modify = 0;

	h_boot("conform", NULL);
	h_load_twin("1", "0");
	h_vm(&vm1);
	ATF_REQUIRE_EQ(kqs_vm_alloc(&vm2, 3UL * 1024 * 1024), 0);
	ATF_REQUIRE_EQ(hk_proc_map_user(h_proc, vm2.block, vm2.block_len, 1), 0);
	fd1 = h_open("/dev/kqemu");
	fd2 = h_open("/dev/kqemu_twin");
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu_twin", O_RDWR, &fd3), EBUSY);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 2);

	h_require_seq(fd1, &vm1, 50, &res);
	/* The twin is still NEW: EXEC refused there, not on the base. */
	ATF_REQUIRE_EQ(hk_ioctl(fd2, KQEMU_IOC_EXEC, &vm2.args->cpu), EIO);
	h_require_seq(fd2, &vm2, 20, &res);
	ATF_REQUIRE_EQ(kqs_set_phys_mem(h_ioctl, &fd2, &vm2, 0x40000, 0x10000, 0,
	    KQEMU_IO_MEM_UNASSIGNED), 0);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd2, &vm2), EIO);
	ATF_REQUIRE(h_line_has("kqemu", "state=READY engine=conform"));
	ATF_REQUIRE(h_line_has("kqemu", " execs=50 softmmu=50 intr=0 phys_calls=7 ranges=6 "));
	ATF_REQUIRE(h_line_has("kqemu_twin", " execs=20 softmmu=20 intr=0 phys_calls=8 ranges=7 "));

	/* Closing one leaves the other READY. */
	ATF_REQUIRE_EQ(hk_close(fd1), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 1);
	ATF_REQUIRE(!h_line_has("kqemu", "state="));
	ATF_REQUIRE_EQ(kqs_exec_once(h_ioctl, &fd2, &vm2, 99, &rv, &modify), 0);
	ATF_REQUIRE(h_line_has("kqemu_twin", " execs=21 "));
	/* The twin's instance keeps h_twin (and so kqemu) loaded. */
	ATF_REQUIRE_EQ(hk_kldunload("h_twin"), EBUSY);
	ATF_REQUIRE_EQ(hk_close(fd2), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	h_unload_twin_and_kqemu();
	h_end();
	kqs_vm_free(&vm1);
	kqs_vm_free(&vm2);
}

ATF_TC(twin__budget_shared);
ATF_TC_HEAD(twin__budget_shared, tc)
{
	atf_tc_set_md_var(tc, "descr", "The locked-pages budget is global: with "
	    "room for one instance, INIT on a second cdev gets ENOMEM until "
	    "the first instance is deleted");
}
ATF_TC_BODY(twin__budget_shared, tc)
{
	struct kqs_vm vm;
	int fd1, fd2;

	h_boot("conform", "2047");
	h_load_twin("1", "0");
	h_vm(&vm);
	fd1 = h_open("/dev/kqemu");
	fd2 = h_open("/dev/kqemu_twin");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd1, &vm), 0);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd2, &vm), ENOMEM);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 1024);
	ATF_REQUIRE_EQ(hk_close(fd1), 0);
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd2, &vm), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 1024);
	ATF_REQUIRE_EQ(hk_close(fd2), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.locked_pages"), 0);
	h_unload_twin_and_kqemu();
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(unload__refused_while_held);
ATF_TC_HEAD(unload__refused_while_held, tc)
{
	atf_tc_set_md_var(tc, "descr", "kqemu's MOD_UNLOAD returns EBUSY while "
	    "a wrapping module holds it (kqemu_hold), even when the linker "
	    "reaches it with the dependent module loaded");
}
ATF_TC_BODY(unload__refused_while_held, tc)
{
	int fd;

	h_boot("conform", NULL);
	h_veto_once();
	h_load_twin("1", "0");
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.holders"), 1);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), EBUSY);
	ATF_REQUIRE(hk_kld_isloaded("kqemu"));
	/* Nothing was torn down: both nodes still work. */
	fd = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	fd = h_open("/dev/kqemu_twin");
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.holders"), 1);
	h_unload_twin_and_kqemu();
	h_end();
}

ATF_TC(unload__refused_while_intercepted);
ATF_TC_HEAD(unload__refused_while_intercepted, tc)
{
	atf_tc_set_md_var(tc, "descr", "kqemu's MOD_UNLOAD returns EBUSY while "
	    "its cdev is intercepted (dev_ops_intercept), hold or no hold: "
	    "destroying an intercepted cdev panics an INVARIANTS kernel");
}
ATF_TC_BODY(unload__refused_while_intercepted, tc)
{
	struct kqs_vm vm;
	struct kqs_result res;
	int fd;

	h_boot("conform", NULL);
	h_veto_once();
	h_load_twin("0", "1");
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.holders"), 0);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), EBUSY);
	ATF_REQUIRE(hk_kld_isloaded("kqemu"));
	/* Through the interposer, kqemu still serves the base cdev. */
	h_vm(&vm);
	fd = h_open("/dev/kqemu");
	h_require_seq(fd, &vm, 5, &res);
	ATF_REQUIRE(h_line_has("kqemu", " execs=5 "));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_unload_twin_and_kqemu();
	h_end();
	kqs_vm_free(&vm);
}

ATF_TC(unload__refused_while_twin_instance_lives);
ATF_TC_HEAD(unload__refused_while_twin_instance_lives, tc)
{
	atf_tc_set_md_var(tc, "descr", "kqemu counts instances on every cdev "
	    "made with its ops, not only its own: an open instance on another "
	    "cdev vetoes MOD_UNLOAD");
}
ATF_TC_BODY(unload__refused_while_twin_instance_lives, tc)
{
	int fd;

	h_boot("conform", NULL);
	h_veto_once();
	h_load_twin("0", "0");
	fd = h_open("/dev/kqemu_twin");
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 1);
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), EBUSY);
	ATF_REQUIRE(hk_kld_isloaded("kqemu"));
	ATF_REQUIRE(h_line_has("kqemu_twin", "state=NEW"));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_unload_twin_and_kqemu();
	h_end();
}

/* --- concurrency ------------------------------------------------------------ */

#define RACERS	4
#define ROUNDS	200

struct h_racer {
	struct hk_proc		*p;
	pthread_barrier_t	*bar;
	int			wins, busy, other;
};

static void *
h_racer_main(void *arg)
{
	struct h_racer *r = arg;

	if (hk_thread_enter(r->p) != 0) {
		r->other = -1;
		return (NULL);
	}
	for (int i = 0; i < ROUNDS; i++) {
		int fd = -1, error;

		pthread_barrier_wait(r->bar);
		error = hk_open("/dev/kqemu", O_RDWR, &fd);
		if (error == 0)
			r->wins++;
		else if (error == EBUSY)
			r->busy++;
		else
			r->other++;
		pthread_barrier_wait(r->bar);	/* every open attempted */
		if (error == 0 && hk_close(fd) != 0)
			r->other++;
		pthread_barrier_wait(r->bar);	/* the winner closed */
	}
	hk_thread_leave();
	return (NULL);
}

ATF_TC(open__racing_opens);
ATF_TC_HEAD(open__racing_opens, tc)
{
	atf_tc_set_md_var(tc, "descr", "Opens racing on the same cdev from "
	    "several processes: in every round exactly one gets the instance, "
	    "the others EBUSY (the si_drv1 check and set are one critical "
	    "section)");
}
ATF_TC_BODY(open__racing_opens, tc)
{
	struct h_racer r[RACERS];
	pthread_t t[RACERS];
	pthread_barrier_t bar;
	int wins = 0, busy = 0;

	h_boot("conform", NULL);
	hk_thread_leave();
	ATF_REQUIRE_EQ(pthread_barrier_init(&bar, NULL, RACERS), 0);
	for (int i = 0; i < RACERS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].bar = &bar;
		ATF_REQUIRE_EQ(hk_proc_create(0, 0, &r[i].p), 0);
		ATF_REQUIRE_EQ(pthread_create(&t[i], NULL, h_racer_main, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		ATF_REQUIRE_EQ(pthread_join(t[i], NULL), 0);
		ATF_REQUIRE_EQ_MSG(r[i].other, 0, "racer %d", i);
		wins += r[i].wins;
		busy += r[i].busy;
	}
	pthread_barrier_destroy(&bar);
	ATF_REQUIRE_EQ(wins, ROUNDS);
	ATF_REQUIRE_EQ(busy, ROUNDS * (RACERS - 1));
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.instances"), 0);
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.opens"), ROUNDS);
	h_end();
}

struct h_execer {
	struct hk_proc		*p;
	int			fd;
	struct kqemu_cpu_state	*cs;	/* in user memory, this thread's own */
	int			failures;
};

static void *
h_execer_main(void *arg)
{
	struct h_execer *e = arg;
	struct kqemu_cpu_state want;

	if (hk_thread_enter(e->p) != 0) {
		e->failures = -1;
		return (NULL);
	}
	for (int i = 0; i < ROUNDS; i++) {
		memset(e->cs, 0, sizeof(*e->cs));
		for (int k = 0; k < 16; k++)
			e->cs->regs[k] = (uint64_t)(uintptr_t)e + (uint64_t)i * 16 + k;
		e->cs->eip = (uint64_t)i;
		want = *e->cs;
		if (hk_ioctl(e->fd, KQEMU_IOC_EXEC, e->cs) != 0 ||
		    e->cs->retval != KQEMU_RET_SOFTMMU) {
			e->failures++;
			continue;
		}
		want.retval = KQEMU_RET_SOFTMMU;
		if (memcmp(&want, e->cs, sizeof(want)) != 0)
			e->failures++;
	}
	hk_thread_leave();
	return (NULL);
}

ATF_TC(exec__concurrent_threads);
ATF_TC_HEAD(exec__concurrent_threads, tc)
{
	atf_tc_set_md_var(tc, "descr", "Threads of one process EXEC on the "
	    "shared instance while threads of another do on a second cdev's "
	    "instance: every state round-trips, counts add up per instance");
}
ATF_TC_BODY(exec__concurrent_threads, tc)
{
	struct kqs_vm vm1, vm2;
	struct h_execer e[RACERS];
	struct hk_proc *p2;
	pthread_t t[RACERS];
	int fd1, fd2;

	h_boot("conform", NULL);
	h_load_twin("1", "0");
	h_vm(&vm1);
	fd1 = h_open("/dev/kqemu");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd1, &vm1), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &p2), 0);
	ATF_REQUIRE_EQ(hk_thread_enter(p2), 0);
	ATF_REQUIRE_EQ(kqs_vm_alloc(&vm2, RAM_SIZE), 0);
	ATF_REQUIRE_EQ(hk_proc_map_user(p2, vm2.block, vm2.block_len, 1), 0);
	fd2 = h_open("/dev/kqemu_twin");
	ATF_REQUIRE_EQ(kqs_init(h_ioctl, &fd2, &vm2), 0);
	hk_thread_leave();

	for (int i = 0; i < RACERS; i++) {
		struct kqs_vm *vm = i % 2 == 0 ? &vm1 : &vm2;

		e[i].p = i % 2 == 0 ? h_proc : p2;
		e[i].fd = i % 2 == 0 ? fd1 : fd2;
		/* Each thread its own slice of its VM's RAM for the state. */
		e[i].cs = (struct kqemu_cpu_state *)(void *)(vm->ram + (size_t)i * PAGE);
		e[i].failures = 0;
		ATF_REQUIRE_EQ(pthread_create(&t[i], NULL, h_execer_main, &e[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		ATF_REQUIRE_EQ(pthread_join(t[i], NULL), 0);
		ATF_REQUIRE_EQ_MSG(e[i].failures, 0, "thread %d", i);
	}
	ATF_REQUIRE_EQ(hk_thread_enter(h_proc), 0);
	ATF_REQUIRE(h_line_has("kqemu", " execs=400 softmmu=400 "));
	ATF_REQUIRE(h_line_has("kqemu_twin", " execs=400 softmmu=400 "));
	ATF_REQUIRE_EQ(h_stat("hw.kqemu.execs"), 2 * ROUNDS * RACERS / 2);
	ATF_REQUIRE_EQ(hk_close(fd1), 0);
	h_end();
	kqs_vm_free(&vm1);
	kqs_vm_free(&vm2);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, conform__qemu_sequence);
	ATF_TP_ADD_TC(tp, conform__sequential_reuse);
	ATF_TP_ADD_TC(tp, open__read_only_eperm);
	ATF_TP_ADD_TC(tp, open__second_open_ebusy);
	ATF_TP_ADD_TC(tp, ioctl__state_eio);
	ATF_TP_ADD_TC(tp, ioctl__unknown_enotty);
	ATF_TP_ADD_TC(tp, init__invalid_einval);
	ATF_TP_ADD_TC(tp, init__unreadable_efault);
	ATF_TP_ADD_TC(tp, init__budget_enomem);
	ATF_TP_ADD_TC(tp, set_phys_mem__invalid_einval);
	ATF_TP_ADD_TC(tp, set_phys_mem__overlap_replaces);
	ATF_TP_ADD_TC(tp, set_phys_mem__map_full_enomem);
	ATF_TP_ADD_TC(tp, exec__page_list_unreadable_efault);
	ATF_TP_ADD_TC(tp, modify_ram_pages__limits);
	ATF_TP_ADD_TC(tp, exec__intr_on_pending_signal);
	ATF_TP_ADD_TC(tp, unload__refused_while_open);
	ATF_TP_ADD_TC(tp, load__unknown_engine_einval);
	ATF_TP_ADD_TC(tp, load__node_mode_from_tunables);
	ATF_TP_ADD_TC(tp, decline__init_enxio);
	ATF_TP_ADD_TC(tp, alloc__fail_every_point);
	ATF_TP_ADD_TC(tp, twin__isolation);
	ATF_TP_ADD_TC(tp, close__stray_file_keeps_instance);
	ATF_TP_ADD_TC(tp, ioctl__stray_file_enxio);
	ATF_TP_ADD_TC(tp, twin__budget_shared);
	ATF_TP_ADD_TC(tp, unload__refused_while_held);
	ATF_TP_ADD_TC(tp, unload__refused_while_intercepted);
	ATF_TP_ADD_TC(tp, unload__refused_while_twin_instance_lives);
	ATF_TP_ADD_TC(tp, open__racing_opens);
	ATF_TP_ADD_TC(tp, exec__concurrent_threads);
	return (atf_no_error());
}
