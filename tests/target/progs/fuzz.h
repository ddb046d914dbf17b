/*
 * fuzz.h: what the fuzz suite's files share (suite_fuzz.c: the phase, its
 * process loop, reporting and the cases; fuzz_calls.c: descriptors,
 * processes, modules, sysctls; fuzz_ioctl.c: user pointers, the ioctls,
 * read/write).  See suite_fuzz.c for what the phase does.
 * Locking: none; each process has its own struct fz_proc, and the
 * counters in the MAP_SHARED struct fz_shared are updated with atomics.
 */
#ifndef KQT_FUZZ_H
#define KQT_FUZZ_H

#include "qseq.h"
#include "fuzz_rng.h"


#define DEV		"/dev/kqemu"
#define FUZZ_MS		12000	/* kenv kqtest.fuzz_ms overrides */
#define NPROC		3	/* top-level fuzz processes */
#define NKID		3	/* live children per top-level process */
#define NFD		6	/* descriptors one process holds at most */
#define NRING		10	/* calls kept for the failure report */
#define VM_PAGES	16	/* guest RAM of the valid INIT */
#define FD_HIGH		48	/* dup2 targets: FD_HIGH + slot */
#define FD_BAD		93	/* a descriptor number never open */

/* Local facts from DragonFly 5.8's headers that rt.h does not carry. */
#define ENOEXEC		8
#define ENOTDIR		20
#define EISDIR		21
#define EMFILE		24
#define MAP_FIXED	0x0010
#define PROT_NONE	0x00
#define FIOCLEX		0x20006601U	/* _IO('f', 1) */
#define FIONCLEX	0x20006602U	/* _IO('f', 2) */
#define FIODTYPE	0x4004667aU	/* _IOR('f', 122, int) */
#define FIOASYNC	0x8004667dU	/* _IOW('f', 125, int) */
#define FIONBIO		0x8004667eU	/* _IOW('f', 126, int) */
#define FIONREAD	0x4004667fU	/* _IOR('f', 127, int) */
#define FIODNAME	0x80106678U	/* _IOW('f', 120, struct fiodname_args) */
#define IOC_VOID	0x20000000U
#define IOC_OUT		0x40000000U
#define IOC_IN		0x80000000U

enum {
	K_OPEN, K_CLOSE, K_DUP, K_DUP2, K_FORK, K_KILL, K_WAIT, K_EXIT,
	K_VERSION, K_INIT, K_EXEC, K_PHYS, K_MODIFY, K_OTHER, K_FIO,
	K_READ, K_WRITE, K_LOAD, K_UNLOAD, K_SYSRD, K_SYSWR, K_CLOSEALL,
	K_QUIET, K_N
};
#define NERR	64
struct fz_shared {
	volatile int stop;
	volatile int failed;
	long deadline;
	volatile int quiet_gen;		/* bumped: every process closes all */
	volatile long quiet_until;	/* no opens before this time */
	char msg[380];
	char ring[NRING][112];		/* the failing process's last calls */
	int nring;
	long steps, procs;
	long ok[K_N];
	long err[K_N][NERR];
};
extern struct fz_shared *fz_sh;	/* MAP_SHARED between the processes */

#define ADD(f, n)	__atomic_fetch_add(&fz_sh->f, (n), __ATOMIC_RELAXED)
#define BIT(e)		(1UL << (e))
#define OK		BIT(0)


/* An open file description as one process knows it. */
struct fz_file {
	int refs;		/* slots of this process naming it; 0 = free */
	int shared;		/* another process may hold it (fork) */
	int inited;		/* INIT succeeded on it (known for unshared) */
	int wronly;
};

struct fz_proc {
	struct frng rng;
	char name[24];
	int depth;
	long step, max_steps;
	int fd[NFD];		/* -1 or a descriptor */
	int file[NFD];		/* the slot's entry in files[] */
	struct fz_file files[NFD];
	pid_t kid[NKID];
	int nkids;
	struct qvm vm;
	uint8_t *scratch;	/* 2 pages read-write, then a PROT_NONE page */
	char ring[NRING][112];
	int nring;
	char call[112];		/* the call being made */
	int quiet_seen;		/* the last quiet_gen this process obeyed */
};

/* suite_fuzz.c */
int fz_alone(void);			/* no kqemu_clone in this boot */
int fz_proc_mode(void);			/* the shim finds clones by pid */
long fz_stat(const char *name);		/* a numeric sysctl, -1 if absent */
void fz_note(struct fz_proc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));	/* the call about to be made */
int fz_expect(struct fz_proc *p, int kind, long r, unsigned long allowed);
void fz_fail(struct fz_proc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fz_run(struct fz_proc *p) __attribute__((noreturn));
void fz_finish(struct fz_proc *p) __attribute__((noreturn));

/* fuzz_calls.c */
int fz_used_slot(struct fz_proc *p);
void fz_close_slot(struct fz_proc *p, int s);
void fz_close_all(struct fz_proc *p);
void fz_open(struct fz_proc *p);
void fz_dup(struct fz_proc *p, int two);
void fz_fork(struct fz_proc *p);
int fz_pick_kid(struct fz_proc *p);
void fz_reap(struct fz_proc *p, int k, int block);
void fz_kill(struct fz_proc *p);
void fz_load(struct fz_proc *p);
void fz_unload(struct fz_proc *p);
void fz_sysctl(struct fz_proc *p, int wr);
void fz_quiet(struct fz_proc *p);

/* fuzz_ioctl.c */
uint8_t *fz_bad_uptr(struct fz_proc *p);
void fz_version(struct fz_proc *p);
void fz_init(struct fz_proc *p);
void fz_exec(struct fz_proc *p);
void fz_phys(struct fz_proc *p);
void fz_modify(struct fz_proc *p);
void fz_other(struct fz_proc *p);
void fz_fio(struct fz_proc *p);
void fz_rw(struct fz_proc *p, int wr);

#endif
