/*
 * suite_linker.c: the real kernel linker's reference rules against our two
 * modules (facts from 5.8.1's sys/kern/kern_linker.c, sys_kldunload and
 * linker_file_unload):
 *   - kldunload needs a user reference (else EBUSY);
 *   - a file with more than one reference (kqemu, which kqemu_clone depends
 *     on) just loses one: kldunload returns 0 and the file stays;
 *   - a module whose MOD_UNLOAD vetoes still loses a reference, so after one
 *     veto a later kldunload(kqemu) with kqemu_clone loaded reaches kqemu's
 *     own MOD_UNLOAD, which must refuse while it is wrapped.
 * Each case ends with no module loaded.  Whatever the sequence, kqemu must
 * never leave from under a loaded kqemu_clone and /dev/kqemu must never
 * outlive kqemu (a node whose ops point into unloaded code).
 */
#include "qseq.h"

#define DEV	"/dev/kqemu"

static const char *
setup(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/kqemu_clone.ko", kqt_module_dir());
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ("kqemu_clone.ko is not in the image (build it: make kbuild-dfly)");
	close(fd);
	return (NULL);
}

/* The device answers GET_VERSION through a fresh open. */
static int
dev_works(void)
{
	int fd = kqt_wait_node(DEV, O_RDWR, 3000), v = 0;

	if (fd < 0)
		return (0);
	if (ioctl(fd, KQEMU_IOC_GET_VERSION, &v) < 0)
		v = 0;
	close(fd);
	return (v == KQEMU_VERSION);
}

/* The node disappears (devfs removes it asynchronously). */
static int
dev_gone(void)
{
	long deadline = now_ms() + 3000;
	int fd;

	while ((fd = open(DEV, O_RDWR)) >= 0 || errno != ENOENT) {
		if (fd >= 0)
			close(fd);
		if (now_ms() > deadline)
			return (0);
		sleep_ms(10);
	}
	return (1);
}

/* Unload whatever is left, shim first; report a module that will not go. */
static const char *
unload_all(void)
{
	int i;

	for (i = 0; i < 3 && kqt_loaded("kqemu_clone"); i++)
		kqt_unload("kqemu_clone");
	for (i = 0; i < 3 && kqt_loaded("kqemu"); i++)
		kqt_unload("kqemu");
	CHECK(!kqt_loaded("kqemu_clone"), "kqemu_clone cannot be unloaded");
	if (kqt_loaded("kqemu")) {
		/* No user reference left (the linker's rules): only a fresh
		 * kldload gives one back. */
		CHECK(kqt_load("kqemu") > 0 || errno == EEXIST, "kldload kqemu again: %s",
		    strerror(errno));
		for (i = 0; i < 3 && kqt_loaded("kqemu"); i++)
			kqt_unload("kqemu");
		CHECK(!kqt_loaded("kqemu"), "kqemu cannot be unloaded");
	}
	CHECK(dev_gone(), "/dev/kqemu outlives kqemu.ko");
	return (NULL);
}

static const char *
dependency_keeps_kqemu(void)
{
	const char *r;

	CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	/* Two references (its own and kqemu_clone's): one is dropped, 0. */
	CHECK(kqt_unload("kqemu") == 0, "kldunload kqemu under kqemu_clone: %s (the 5.8.1 "
	    "linker returns 0 and keeps the file)", strerror(errno));
	CHECK(kqt_loaded("kqemu"), "kqemu left from under kqemu_clone");
	CHECK(dev_works(), "/dev/kqemu broken after kldunload(kqemu)");
	/* No user reference any more. */
	CHECK_ERR(kqt_unload("kqemu"), EBUSY, "second kldunload kqemu");
	CHECK(kqt_loaded("kqemu") && dev_works(), "kqemu broken after a second kldunload");
	/* The shim leaves; its dependency reference was kqemu's last: kqemu
	 * goes too (its MOD_UNLOAD accepts: unwrapped, nothing open). */
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	CHECK(!kqt_loaded("kqemu_clone"), "kqemu_clone still loaded");
	if (!kqt_loaded("kqemu"))
		CHECK(dev_gone(), "/dev/kqemu outlives kqemu.ko");
	else
		CHECK(dev_works(), "kqemu stayed but /dev/kqemu is broken");
	if ((r = unload_all()) != NULL)
		return (r);
	return (NULL);
}

static const char *
veto_then_kqemu_unload_reached(void)
{
	const char *r;
	int fd, a, b;

	CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open bare kqemu: %s", strerror(errno));
	/* kqemu's MOD_UNLOAD vetoes (an instance is open): the file still
	 * loses its reference. */
	CHECK_ERR(kqt_unload("kqemu"), EBUSY, "kldunload kqemu with an instance open");
	close(fd);
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	/* One reference (kqemu_clone's) and a user reference: this reaches
	 * kqemu's MOD_UNLOAD while it is wrapped.  It must refuse. */
	CHECK_ERR(kqt_unload("kqemu"), EBUSY,
	    "kldunload kqemu after a veto, with kqemu_clone loaded");
	CHECK(kqt_loaded("kqemu"), "kqemu unloaded from under kqemu_clone");
	a = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(a >= 0, "open through the shim: %s", strerror(errno));
	b = open(DEV, O_RDWR);
	CHECK(b >= 0, "second open through the shim: %s", strerror(errno));
	CHECK(ioctl(b, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0, "GET_VERSION: %s",
	    strerror(errno));
	close(a);
	close(b);
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	if (!kqt_loaded("kqemu"))
		CHECK(dev_gone(), "/dev/kqemu outlives kqemu.ko");
	else
		CHECK(dev_works(), "kqemu stayed but /dev/kqemu is broken");
	if ((r = unload_all()) != NULL)
		return (r);
	return (NULL);
}

static const char *
veto_of_shim_then_kqemu(void)
{
	const char *r;
	int fd, i;

	CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	/* The shim vetoes (a clone lives) and loses a reference; then every
	 * kldunload of either, several times over, with the clone open. */
	for (i = 0; i < 3; i++) {
		errno = 0;
		kqt_unload("kqemu_clone");
		kqt_unload("kqemu");
		CHECK(kqt_loaded("kqemu_clone") && kqt_loaded("kqemu"),
		    "round %d: a module left while a clone is open (%s)", i, strerror(errno));
		CHECK(ioctl(fd, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0,
		    "round %d: the open clone broke: %s", i, strerror(errno));
	}
	close(fd);
	if ((r = unload_all()) != NULL)
		return (r);
	return (NULL);
}

static const char *
clone_first(void)
{
	const char *r;
	int id;

	/* kqemu_clone alone: the linker loads kqemu for MODULE_DEPEND from
	 * the module path, or refuses; either way nothing half-loaded. */
	id = kqt_load("kqemu_clone");
	if (id > 0) {
		CHECK(kqt_loaded("kqemu"), "kqemu_clone loaded without kqemu");
		CHECK(dev_works(), "/dev/kqemu broken");
	} else {
		CHECK(!kqt_loaded("kqemu_clone"), "kldload failed (%s) but the file stayed",
		    strerror(errno));
	}
	if ((r = unload_all()) != NULL)
		return (r);
	return (NULL);
}

static const char *
final_clean(void)
{
	CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	CHECK(dev_works(), "/dev/kqemu broken after the sequences");
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	CHECK(kqt_unload("kqemu") == 0, "kldunload kqemu: %s", strerror(errno));
	CHECK(!kqt_loaded("kqemu") && dev_gone(), "kqemu did not leave cleanly");
	return (NULL);
}

static const struct kqt_case linker_cases[] = {
	{ "depend__unload_returns_0_keeps_kqemu", dependency_keeps_kqemu, 0 },
	{ "veto__kqemu_mod_unload_refuses_while_wrapped", veto_then_kqemu_unload_reached, 0 },
	{ "veto__shim_then_every_unload_with_clone_open", veto_of_shim_then_kqemu, 0 },
	{ "order__clone_loaded_first", clone_first, 0 },
	{ "after__load_unload_clean", final_clean, 0 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_linker = { "linker", setup, NULL, linker_cases };
