/*
 * syscall_fuzz.c - libFuzzer target: a syscall-sequence fuzzer of kqemu.ko
 * and kqemu_clone.ko on the host kernel (make fuzz).
 *
 * Each input boots a fresh host kernel (its profile from the first byte)
 * and is decoded into a sequence of operations over up to FZ_NPROC host
 * processes: open, close, dup, fork, exit, kill, every kqemu ioctl (and
 * arbitrary command words) with arbitrary contents and bad user pointers,
 * read/write, kldload/kldunload of both modules with the mode, engine and
 * limit tunables set first, sysctl reads and writes, and bursts in which
 * 2-3 OS threads bound to different processes run their operations at
 * once, optionally racing a kldunload/kldload.  After the sequence the
 * invariants are checked, then every process exits, both modules unload
 * and the kernel shuts down:
 *   - no leak in any malloc type (the only allowance: one dev_ops per shim
 *     detach, the documented leak of docs/devfs-clone-bug.md); no lock
 *     violation or model report (the host kernel aborts on those);
 *   - unload of a registered kqemu_clone is refused exactly while a clone
 *     opened through it lives (fp, native, autoclone);
 *   - debug.kqemu_clone.live equals the listing's lines and opens - closes;
 *   - every live file reaches its own instance: GET_VERSION answers, and
 *     exactly one line of hw.kqemu.list counts the ioctl, a different one
 *     for each open file description.
 * A finding aborts (libFuzzer saves the input as a crash-* reproducer).
 *
 * Locking: the model (fz) is guarded by fz_mtx during bursts; outside a
 * burst only the main thread runs.
 */
#include <hk.h>
#include <kqemu.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FZ_MODULE_DIR
#define FZ_MODULE_DIR NULL
#endif

#define FZ_NPROC	4
#define FZ_NFD		12
#define FZ_NFID		64
#define FZ_MAXOPS	64
#define FZ_PAGE		4096

#define FZ_FAIL(...) do {						\
	fprintf(stderr, "syscall_fuzz: FINDING: " __VA_ARGS__);		\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

/* FZ_VERBOSE=1 in the environment: one line per operation (reproducers). */
static int fz_verbose = -1;
#define FZ_LOG(...) do {						\
	if (fz_verbose < 0)						\
		fz_verbose = getenv("FZ_VERBOSE") != NULL;		\
	if (fz_verbose)							\
		fprintf(stderr, "fz: " __VA_ARGS__);			\
} while (0)

/* --- input cursor ------------------------------------------------------- */

struct fz_in {
	const uint8_t	*p;
	size_t		n;
};

static uint8_t
in_u8(struct fz_in *in)
{
	uint8_t v = 0;

	if (in->n > 0) {
		v = *in->p++;
		in->n--;
	}
	return (v);
}

static uint32_t
in_u32(struct fz_in *in)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = (v << 8) | in_u8(in);
	return (v);
}

static void
in_bytes(struct fz_in *in, void *buf, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	memcpy(buf, in->p, n);
	memset((char *)buf + n, 0, len - n);
	in->p += n;
	in->n -= n;
}

/* --- the model ------------------------------------------------------------ */

struct fz_fd {
	int	fd;
	int	fid;
};
struct fz_proc {
	struct hk_proc	*p;
	int		alive;
	uid_t		uid;
	struct fz_fd	fds[FZ_NFD];
	int		nfd;
	char		*ubuf;		/* FZ_PAGE, user memory, writable */
	char		*robuf;		/* FZ_PAGE, user memory, read-only */
};
struct fz_fid {
	int	refs;		/* fd entries referring to it */
	int	via_shim;	/* opened while kqemu_clone was registered */
	int	opener;		/* slot */
	int	unknown;	/* opened during a burst racing a load */
	int	inst;		/* line of hw.kqemu.list it reached (check) */
};
static struct {
	struct fz_proc	proc[FZ_NPROC];
	struct fz_fid	fid[FZ_NFID];
	int		nfid;
	int		detaches;	/* successful unloads of a registered shim */
	int		shim_reg;	/* kqemu_clone registered (modfind) */
} fz;
static pthread_mutex_t fz_mtx = PTHREAD_MUTEX_INITIALIZER;
static char fz_kbuf[FZ_PAGE];	/* host memory never mapped as user memory */
static char fz_ubufs[FZ_NPROC][2][FZ_PAGE] __attribute__((aligned(FZ_PAGE)));
static int fz_in_burst;		/* opens of this burst: via_shim unknown */

static int
fz_slot_new(void)
{
	int i;

	for (i = 0; i < FZ_NPROC; i++)
		if (fz.proc[i].p == NULL)
			return (i);
	return (-1);
}

static void
fz_fd_add(int slot, int fd, int fid)
{
	struct fz_proc *fp = &fz.proc[slot];

	if (!fp->alive || fp->nfd == FZ_NFD)
		return;		/* killed meanwhile: its files went with it */
	fp->fds[fp->nfd].fd = fd;
	fp->fds[fp->nfd].fid = fid;
	fp->nfd++;
	fz.fid[fid].refs++;
}

static void
fz_fd_del(int slot, int idx)
{
	struct fz_proc *fp = &fz.proc[slot];

	fz.fid[fp->fds[idx].fid].refs--;
	fp->fds[idx] = fp->fds[--fp->nfd];
}

static void
fz_proc_gone(int slot)
{
	struct fz_proc *fp = &fz.proc[slot];

	while (fp->nfd > 0)
		fz_fd_del(slot, 0);
	fp->alive = 0;
}

static int
fz_proc_create(int slot, uid_t uid)
{
	struct fz_proc *fp = &fz.proc[slot];

	if (hk_proc_create(uid, uid ? uid : 0, &fp->p) != 0)
		FZ_FAIL("hk_proc_create");
	fp->alive = 1;
	fp->uid = uid;
	fp->nfd = 0;
	fp->ubuf = fz_ubufs[slot][0];
	fp->robuf = fz_ubufs[slot][1];
	memset(fp->ubuf, 0, FZ_PAGE);
	memset(fp->robuf, 0, FZ_PAGE);
	hk_proc_map_user(fp->p, fp->ubuf, FZ_PAGE, 1);
	hk_proc_map_user(fp->p, fp->robuf, FZ_PAGE, 0);
	return (0);
}

/* --- operations --------------------------------------------------------- */

enum {
	OP_OPEN, OP_CLOSE, OP_DUP, OP_IOCTL, OP_RDWR,	/* per process */
	OP_FORK, OP_EXIT, OP_KILL, OP_LOAD, OP_UNLOAD, OP_SYSCTL, OP_SETENV,
	OP_BURST, OP_CHECK, OP_NOPS
};
#define OP_NPERPROC	5

static const char *const fz_modes[] = {
	"", "autoclone", "fp", "native", "proc", "bogus"
};
static const char *const fz_sysctls[] = {
	"debug.kqemu_clone.mode", "debug.kqemu_clone.live",
	"debug.kqemu_clone.opens", "debug.kqemu_clone.closes",
	"debug.kqemu_clone.listing", "debug.kqemu_clone.bytes_per_clone",
	"debug.kqemu_clone.max_per_proc", "debug.kqemu_clone.refused_busy",
	"hw.kqemu.version", "hw.kqemu.engine", "hw.kqemu.holders",
	"hw.kqemu.list", "hw.kqemu", "debug", "kern.osreldate",
};
static const uint32_t fz_cmds[] = {
	KQEMU_IOC_EXEC, KQEMU_IOC_INIT, KQEMU_IOC_GET_VERSION,
	KQEMU_IOC_MODIFY_RAM_PAGES, KQEMU_IOC_SET_PHYS_MEM,
	KQEMU_LINUX_IOC_INIT, KQEMU_LINUX_IOC_GET_VERSION,
	KQEMU_LINUX_IOC_SET_PHYS_MEM, 0x20007103U, 0xc0047103U,
};
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* A user pointer of slot: good, NULL, unmapped, read-only, straddling. */
static void *
fz_uptr(struct fz_proc *fp, uint8_t sel, size_t len)
{
	switch (sel % 8) {
	case 0:
		return (NULL);
	case 1:
		return (fz_kbuf);
	case 2:
		return (fp->robuf);
	case 3:
		return (fp->ubuf + FZ_PAGE - (len > 1 ? len / 2 : 1));
	case 4:
		return ((void *)(uintptr_t)0x10);
	default:
		return (fp->ubuf);
	}
}

/* One per-process operation as slot (the calling thread bound to it). */
static void
fz_perproc(struct fz_in *in, int op, int slot)
{
	struct fz_proc *fp = &fz.proc[slot];
	int fd, nfd, idx, fid, e, shim;
	uint8_t b = in_u8(in);
	size_t done;

	pthread_mutex_lock(&fz_mtx);
	nfd = fp->nfd;
	idx = nfd ? b % nfd : -1;
	fd = idx >= 0 ? fp->fds[idx].fd : (int)(b % 8);
	pthread_mutex_unlock(&fz_mtx);
	switch (op) {
	case OP_OPEN: {
		static const int fl[] = { 0, 1, 2, 2 };	/* O_RDONLY.. */
		const char *path = (b & 0x30) == 0x30 ? "/dev/kqemu0" :
		    "/dev/kqemu";

		shim = hk_modfind("kqemu_clone") == 0;
		e = hk_open(path, fl[b & 3], &fd);
		FZ_LOG("slot %d open %s -> %d fd %d (shim %d)\n", slot, path,
		    e, e ? -1 : fd, shim);
		if (e != 0)
			break;
		pthread_mutex_lock(&fz_mtx);
		if (fz.nfid < FZ_NFID && fp->alive && fp->nfd < FZ_NFD) {
			fid = fz.nfid++;
			memset(&fz.fid[fid], 0, sizeof(fz.fid[fid]));
			fz.fid[fid].via_shim = shim && path[10] == '\0';
			fz.fid[fid].opener = slot;
			fz.fid[fid].unknown = fz_in_burst;
			fz_fd_add(slot, fd, fid);
			fd = -1;
		}
		pthread_mutex_unlock(&fz_mtx);
		if (fd >= 0)
			(void)hk_close(fd);	/* no room in the model */
		break;
	}
	case OP_CLOSE:
		e = hk_close(fd);
		FZ_LOG("slot %d close %d -> %d\n", slot, fd, e);
		pthread_mutex_lock(&fz_mtx);
		if (idx >= 0 && e == 0 && idx < fp->nfd && fp->fds[idx].fd == fd)
			fz_fd_del(slot, idx);
		pthread_mutex_unlock(&fz_mtx);
		break;
	case OP_DUP: {
		int nfd2;

		e = hk_dup(fd, &nfd2);
		FZ_LOG("slot %d dup %d -> %d\n", slot, fd, e);
		if (e != 0)
			break;
		pthread_mutex_lock(&fz_mtx);
		if (idx >= 0 && idx < fp->nfd && fp->nfd < FZ_NFD) {
			fz_fd_add(slot, nfd2, fp->fds[idx].fid);
			nfd2 = -1;
		}
		pthread_mutex_unlock(&fz_mtx);
		if (nfd2 >= 0)
			(void)hk_close(nfd2);
		break;
	}
	case OP_IOCTL: {
		uint8_t c = in_u8(in), ps = in_u8(in);
		uint32_t cmd = c < 0xf0 ? fz_cmds[c % NELEM(fz_cmds)] :
		    in_u32(in);
		size_t len = (cmd >> 16) & 0x1fff;
		void *u;

		pthread_mutex_lock(&fz_mtx);
		in_bytes(in, fp->ubuf, len < 64 ? len : 64);
		pthread_mutex_unlock(&fz_mtx);
		u = fz_uptr(fp, ps, len);
		e = hk_ioctl(fd, cmd, u);
		FZ_LOG("slot %d ioctl %d %#x %p -> %d\n", slot, fd, cmd, u, e);
		break;
	}
	case OP_RDWR: {
		uint8_t ps = in_u8(in);
		size_t len = in_u8(in);
		void *u = fz_uptr(fp, ps, len);

		if (b & 0x80)
			(void)hk_write(fd, u, len, &done);
		else
			(void)hk_read(fd, u, len, &done);
		break;
	}
	}
}

static int
fz_load(const char *name)
{
	int e = hk_kldload(name, NULL);

	char m[16] = "-";
	size_t ml = sizeof(m);

	(void)hk_sysctl("debug.kqemu_clone.mode", m, &ml, NULL, 0);
	FZ_LOG("kldload %s -> %d (module %s, shim mode %s)\n", name, e,
	    hk_modfind(name) == 0 ? "registered" : "absent", m);
	if (e != 0 && e != EEXIST && e != EPERM)
		FZ_FAIL("kldload %s: %d (5.8 returns 0 even when MOD_LOAD "
		    "fails)", name, e);
	fz.shim_reg = hk_modfind("kqemu_clone") == 0;
	return (e);
}

/* Files opened through the shim that are open; -1 if the model cannot
 * tell (a file opened in a burst that raced a load is still open). */
static int
fz_live_clones_model(void)
{
	int i, n = 0;

	for (i = 0; i < fz.nfid; i++) {
		if (fz.fid[i].refs > 0 && fz.fid[i].unknown)
			return (-1);
		if (fz.fid[i].refs > 0 && fz.fid[i].via_shim)
			n++;
	}
	return (n);
}

static int
fz_proc_mode(void)
{
	char m[32];
	size_t len = sizeof(m);

	if (hk_sysctl("debug.kqemu_clone.mode", m, &len, NULL, 0) != 0)
		return (0);
	return (strcmp(m, "proc") == 0);
}

static void
fz_unload_shim(void)
{
	int reg = hk_modfind("kqemu_clone") == 0;
	int loaded = hk_kld_isloaded("kqemu_clone");
	int live = fz_live_clones_model(), proc = reg && fz_proc_mode();
	int e = hk_kldunload("kqemu_clone");

	FZ_LOG("kldunload kqemu_clone -> %d (registered %d, %d clones in the "
	    "model)\n", e, reg, live);
	if (!loaded) {
		if (e != ENOENT)
			FZ_FAIL("kldunload of an unloaded kqemu_clone: %d", e);
		return;
	}
	if (!reg) {
		if (e != 0)
			FZ_FAIL("kldunload of kqemu_clone whose MOD_LOAD failed: "
			    "%d", e);
	} else if (!proc && live >= 0) {
		if (live > 0 && e != EBUSY)
			FZ_FAIL("kldunload kqemu_clone with %d live clone(s): "
			    "%d, not EBUSY", live, e);
		if (live == 0 && e != 0)
			FZ_FAIL("kldunload kqemu_clone with no clone: %d", e);
	} else if (proc && e != EBUSY) {
		/* proc mode never unloads (docs/design.md): until shutdown. */
		FZ_FAIL("kldunload kqemu_clone (proc mode): %d, not EBUSY", e);
	}
	if (e == 0 && reg)
		fz.detaches++;
	if (e == 0) {
		/* Files opened through it now reach a gone module only if
		 * the unload was wrong; the model forgets the shim. */
		int i;
		for (i = 0; i < fz.nfid; i++)
			fz.fid[i].via_shim = 0;
	}
	fz.shim_reg = hk_modfind("kqemu_clone") == 0;
}

static long long
fz_sysctl_num(const char *name)
{
	long long v = -1;

	if (hk_sysctl_int(name, &v) != 0)
		return (-1);
	return (v);
}

static int
fz_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return (n);
}

/* hw.kqemu.list: name -> ioctls of each instance. */
struct fz_inst {
	char		name[32];
	unsigned long	ioctls;
};
static int
fz_instances(struct fz_inst *v, int max)
{
	static char buf[16384];
	size_t len = sizeof(buf);
	char *line, *save, *q;
	int n = 0;

	if (hk_sysctl("hw.kqemu.list", buf, &len, NULL, 0) != 0)
		return (-1);
	for (line = strtok_r(buf, "\n", &save); line != NULL && n < max;
	    line = strtok_r(NULL, "\n", &save)) {
		sscanf(line, "%31s", v[n].name);
		q = strstr(line, " ioctls=");
		v[n].ioctls = q ? strtoul(q + 8, NULL, 10) : 0;
		n++;
	}
	return (n);
}

/* The invariants that hold between operations (none in flight). */
static void
fz_check(void)
{
	static char listing[16384];
	struct fz_inst before[64], after[64];
	size_t len = sizeof(listing);
	long long live, opens, closes;
	int i, j, k, nb, na, hit, proc;

	if (hk_modfind("kqemu_clone") == 0) {
		proc = fz_proc_mode();
		live = fz_sysctl_num("debug.kqemu_clone.live");
		opens = fz_sysctl_num("debug.kqemu_clone.opens");
		closes = fz_sysctl_num("debug.kqemu_clone.closes");
		if (hk_sysctl("debug.kqemu_clone.listing", listing, &len,
		    NULL, 0) != 0)
			FZ_FAIL("debug.kqemu_clone.listing unreadable");
		if (live != fz_lines(listing))
			FZ_FAIL("live %lld but the listing has %d lines:\n%s",
			    live, fz_lines(listing), listing);
		if (opens - closes != live)
			FZ_FAIL("opens %lld - closes %lld != live %lld", opens,
			    closes, live);
		if (!proc && fz_live_clones_model() >= 0 &&
		    live != fz_live_clones_model())
			FZ_FAIL("live %lld clones, %d files opened through the "
			    "shim are open", live, fz_live_clones_model());
	}
	if (hk_modfind("kqemu") != 0)
		return;
	proc = hk_modfind("kqemu_clone") == 0 && fz_proc_mode();
	/* Every open file description reaches its own instance. */
	for (i = 0; i < fz.nfid; i++) {
		struct fz_proc *fp = &fz.proc[fz.fid[i].opener];
		int fd = -1, v = 0, e;

		fz.fid[i].inst = -1;
		if (fz.fid[i].refs == 0 || !fp->alive)
			continue;
		for (k = 0; k < fp->nfd; k++)
			if (fp->fds[k].fid == i)
				fd = fp->fds[k].fd;
		if (fd < 0 || fz.fid[i].unknown ||
		    (proc && !fz.fid[i].via_shim))
			continue;
		nb = fz_instances(before, 64);
		if (hk_thread_enter(fp->p) != 0)
			continue;
		e = hk_ioctl(fd, KQEMU_IOC_GET_VERSION, fp->ubuf);
		memcpy(&v, fp->ubuf, sizeof(v));
		hk_thread_leave();
		if (e != 0 && fz.fid[i].via_shim)
			FZ_FAIL("file %d (fd %d of slot %d), opened through "
			    "the shim: GET_VERSION %d", i, fd,
			    fz.fid[i].opener, e);
		if (e != 0)
			continue;
		if (v != KQEMU_VERSION)
			FZ_FAIL("GET_VERSION answered %#x", v);
		/* Nothing opens or closes during the check, so the list's
		 * lines keep their order: a line is an instance. */
		na = fz_instances(after, 64);
		if (na != nb)
			FZ_FAIL("hw.kqemu.list changed under a GET_VERSION: %d "
			    "-> %d instances", nb, na);
		for (hit = 0, j = 0; j < na; j++) {
			if (strcmp(before[j].name, after[j].name) != 0)
				FZ_FAIL("hw.kqemu.list reordered");
			if (after[j].ioctls == before[j].ioctls)
				continue;
			hit++;
			fz.fid[i].inst = j;
		}
		if (hit != 1)
			FZ_FAIL("file %d: its GET_VERSION counted by %d "
			    "instances", i, hit);
		for (k = 0; k < i; k++)
			if (fz.fid[k].inst == fz.fid[i].inst)
				FZ_FAIL("files %d and %d reach the same instance "
				    "(%s, line %d of hw.kqemu.list)", k, i,
				    after[fz.fid[i].inst].name, fz.fid[i].inst);
	}
}

/* --- bursts: several OS threads at once --------------------------------- */

struct fz_burst {
	pthread_t	t;
	int		slot;		/* -1: the kld thread */
	struct fz_in	in;
	int		nops;
};

static void *
fz_burst_main(void *arg)
{
	struct fz_burst *b = arg;
	int i;

	if (b->slot < 0) {
		if (b->nops & 1)
			(void)hk_kldunload("kqemu_clone");
		else
			(void)hk_kldload("kqemu_clone", NULL);
		return (NULL);
	}
	if (hk_thread_enter(fz.proc[b->slot].p) != 0)
		return (NULL);
	for (i = 0; i < b->nops; i++)
		fz_perproc(&b->in, in_u8(&b->in) % OP_NPERPROC, b->slot);
	hk_thread_leave();
	return (NULL);
}

static void
fz_burst(struct fz_in *in)
{
	struct fz_burst b[FZ_NPROC + 1];
	uint8_t sel = in_u8(in);
	int i, n = 0;
	size_t chunk;

	for (i = 0; i < FZ_NPROC; i++) {
		if (!(sel & (1 << i)) || !fz.proc[i].alive)
			continue;
		chunk = 24 < in->n ? 24 : in->n;
		b[n].slot = i;
		b[n].in.p = in->p;
		b[n].in.n = chunk;
		in->p += chunk;
		in->n -= chunk;
		b[n].nops = 1 + (sel >> 6);
		n++;
	}
	if (sel & 0x10) {
		b[n].slot = -1;
		b[n].nops = sel >> 5;
		n++;
	}
	fz_in_burst = (sel & 0x10) != 0;
	for (i = 0; i < n; i++)
		if (pthread_create(&b[i].t, NULL, fz_burst_main, &b[i]) != 0)
			FZ_FAIL("pthread_create");
	for (i = 0; i < n; i++)
		pthread_join(b[i].t, NULL);
	fz_in_burst = 0;
	/* A racing unload succeeded only if nothing lived: the model can no
	 * longer tell which opens went through it. */
	if (sel & 0x10) {
		int reg = hk_modfind("kqemu_clone") == 0;

		if (!reg && fz.shim_reg)
			fz.detaches++;
		if (!reg)
			for (i = 0; i < fz.nfid; i++)
				fz.fid[i].via_shim = 0;
		fz.shim_reg = reg;
	}
}

/* --- one input ----------------------------------------------------------- */

static void
fz_setenv(struct fz_in *in)
{
	uint8_t b = in_u8(in);
	char v[16];

	FZ_LOG("setenv selector %#x\n", b);
	switch (b % 4) {
	case 0:
		hk_setenv("hw.kqemu_clone.mode", fz_modes[(b >> 2) %
		    NELEM(fz_modes)]);
		break;
	case 1:
		hk_setenv("hw.kqemu.engine", (b & 4) ? "decline" : "conform");
		break;
	case 2:
		snprintf(v, sizeof(v), "%d", (int)(b >> 2) % 5);
		hk_setenv((b & 0x80) ? "hw.kqemu_clone.max_per_uid" :
		    "hw.kqemu_clone.max_per_proc", v);
		break;
	default:
		snprintf(v, sizeof(v), "%d", (int)(b >> 2) % 6);
		hk_setenv("hw.kqemu_clone.max_total", v);
		break;
	}
}

static void
fz_run(struct fz_in *in)
{
	static const enum hk_profile prof[] = { HK_PROFILE_MODERN,
	    HK_PROFILE_MODERN, HK_PROFILE_LEGACY, HK_PROFILE_DEVFS24,
	    HK_PROFILE_NOCDEVPRIV };
	uint8_t b;
	int op, slot, nops, e, s;

	b = in_u8(in);
	if (hk_boot(prof[b % NELEM(prof)], FZ_MODULE_DIR) != 0)
		FZ_FAIL("hk_boot");
	hk_setenv("hw.kqemu.engine", "conform");
	if (b & 0x80) {
		(void)fz_load("kqemu");
		(void)fz_load("kqemu_clone");
	}
	(void)fz_proc_create(0, 0);
	for (nops = 0; in->n > 0 && nops < FZ_MAXOPS; nops++) {
		b = in_u8(in);
		op = b % OP_NOPS;
		slot = (b >> 4) % FZ_NPROC;
		if (op < OP_NPERPROC) {
			if (!fz.proc[slot].alive)
				continue;
			if (hk_thread_enter(fz.proc[slot].p) != 0)
				FZ_FAIL("hk_thread_enter of a live process");
			fz_perproc(in, op, slot);
			hk_thread_leave();
			continue;
		}
		switch (op) {
		case OP_FORK: {
			struct hk_proc *c;

			if (!fz.proc[slot].alive) {
				/* A new process (root or uid 1000). */
				if (fz.proc[slot].p == NULL)
					(void)fz_proc_create(slot, in_u8(in) &
					    1 ? 1000 : 0);
				break;
			}
			if ((s = fz_slot_new()) < 0)
				break;
			if (hk_thread_enter(fz.proc[slot].p) != 0)
				FZ_FAIL("hk_thread_enter of a live process");
			e = hk_fork(&c);
			hk_thread_leave();
			FZ_LOG("slot %d fork -> %d slot %d\n", slot, e, s);
			if (e != 0)
				FZ_FAIL("fork: %d", e);
			/* The child has the parent's user ranges (and so
			 * its buffers) and a copy of its fd table. */
			fz.proc[s] = fz.proc[slot];
			fz.proc[s].p = c;
			fz.proc[s].nfd = 0;
			for (e = 0; e < fz.proc[slot].nfd; e++)
				fz_fd_add(s, fz.proc[slot].fds[e].fd,
				    fz.proc[slot].fds[e].fid);
			break;
		}
		case OP_EXIT:
		case OP_KILL:
			if (!fz.proc[slot].alive)
				break;
			if (op == OP_EXIT)
				e = hk_proc_exit(fz.proc[slot].p, 0);
			else {
				static const int sigs[] = { SIGKILL, SIGALRM,
				    SIGINT, SIGKILL };
				s = sigs[in_u8(in) % 4];
				e = hk_kill(fz.proc[slot].p, s);
				if (s != SIGKILL)
					break;
			}
			FZ_LOG("slot %d %s -> %d\n", slot, op == OP_EXIT ?
			    "exit" : "SIGKILL", e);
			if (e != 0)
				FZ_FAIL("exit/kill of a live process: %d", e);
			fz_proc_gone(slot);
			/* The pid is reaped; the slot is free again. */
			fz.proc[slot].p = NULL;
			break;
		case OP_LOAD:
			(void)fz_load((b & 0x40) ? "kqemu" : "kqemu_clone");
			break;
		case OP_UNLOAD:
			if (b & 0x40)
				(void)hk_kldunload("kqemu");
			else
				fz_unload_shim();
			fz.shim_reg = hk_modfind("kqemu_clone") == 0;
			break;
		case OP_SYSCTL: {
			char buf[512];
			size_t len = in_u8(in) % sizeof(buf);
			long long v = (int8_t)in_u8(in);
			const char *name = fz_sysctls[in_u8(in) %
			    NELEM(fz_sysctls)];

			if (b & 0x40)
				(void)hk_sysctl(name, NULL, NULL, &v,
				    (b & 0x20) ? 8 : 4);
			else
				(void)hk_sysctl(name, (b & 0x20) ? NULL : buf,
				    &len, NULL, 0);
			break;
		}
		case OP_SETENV:
			fz_setenv(in);
			break;
		case OP_BURST:
			FZ_LOG("burst\n");
			fz_burst(in);
			break;
		case OP_CHECK:
			FZ_LOG("check\n");
			fz_check();
			break;
		}
	}
	fz_check();
}

static void
fz_teardown(void)
{
	struct hk_leaks lk;
	int i, proc;

	for (i = 0; i < FZ_NPROC; i++) {
		if (fz.proc[i].p != NULL && fz.proc[i].alive) {
			(void)hk_proc_exit(fz.proc[i].p, 0);
			fz_proc_gone(i);
		}
		fz.proc[i].p = NULL;
	}
	hk_devfs_sync();
	/* Nothing lives: both unload, kqemu_clone first -- except a proc
	 * mode shim, which refuses until MOD_SHUTDOWN (hk_shutdown), leaving
	 * its interposer like any detach. */
	proc = hk_modfind("kqemu_clone") == 0 && fz_proc_mode();
	if (hk_kld_isloaded("kqemu_clone"))
		fz_unload_shim();
	if (proc)
		fz.detaches++;
	else if (hk_kld_isloaded("kqemu_clone"))
		FZ_FAIL("kqemu_clone still loaded with no process left");
	/* EBUSY is 5.8's linker: kqemu loaded as kqemu_clone's dependency
	 * (no user reference) whose MOD_UNLOAD vetoed when kqemu_clone went
	 * (a file was open) stays loaded for good; hk_shutdown takes it. */
	if (!proc && hk_kld_isloaded("kqemu") &&
	    (i = hk_kldunload("kqemu")) != 0 && i != EBUSY)
		FZ_FAIL("kldunload kqemu with nothing left: %d", i);
	if (hk_shutdown(&lk) != 0)
		FZ_FAIL("hk_shutdown");
	if (lk.kmalloc_count != (size_t)fz.detaches || lk.cdevs != 0 ||
	    lk.files != 0 || lk.procs != 0 || lk.modules != 0)
		FZ_FAIL("leaks: %zu allocations (%zu bytes; %d shim detaches "
		    "allowed), %d cdevs, %d files, %d procs, %d modules",
		    lk.kmalloc_count, lk.kmalloc_bytes, fz.detaches, lk.cdevs,
		    lk.files, lk.procs, lk.modules);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	int i;

	for (i = 0; i < FZ_NPROC; i++) {
		fz.proc[i].p = NULL;
		fz.proc[i].alive = 0;
		fz.proc[i].nfd = 0;
	}
	fz.nfid = 0;
	fz.detaches = 0;
	fz.shim_reg = 0;
	fz_run(&in);
	fz_teardown();
	return (0);
}
