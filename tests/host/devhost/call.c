/*
 * call.c - one FUSE request's host-kernel call: the worker thread bound to
 * the caller's hproc, the user memory the call reaches, and signals.
 *
 * Owns:
 *  - binding: call_begin binds the worker to the hproc (hk_thread_enter)
 *    for the host-kernel call only, and call_end unbinds it;
 *  - user memory: every hproc's copyin/copyout.  The ioctl argument, and
 *    the read/write buffer, FUSE already copied into the server: they sit
 *    in the call's scratch buffer, which the host kernel sees at the fixed
 *    non-canonical address SCRATCH_UADDR.  Every other pointer (kqemu's
 *    INIT arrays, say) is the calling real thread's memory, reached with
 *    process_vm_readv/writev; an unmapped address gives EFAULT;
 *  - FUSE interrupts: when the caller gets a signal while its request is
 *    in the server, its pending signal is posted to its hproc for the rest
 *    of the call, so the driver's CURSIG sees it (kqemu EXEC answers
 *    INTR); it is cleared when the call returns, since the real kernel
 *    delivers the real signal;
 *  - --hold: the test instrument that keeps a call in the server until the
 *    caller is interrupted.
 *
 * Locking: a call's interrupt state is guarded by its own mutex; the libfuse
 * interrupt callback runs under libfuse's request lock, on another worker,
 * and takes it.  No interrupt callback runs after call_end.  The call is
 * found by copyin/copyout through a thread-local pointer, as only the
 * worker that made it reaches the host kernel with it.
 */
#include <sys/uio.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devhost.h"

static __thread struct call *t_current_call;

/* The lowest signal pending and not blocked for a thread, or 0. */
static int
pending_signal(pid_t tid)
{
	char v[64];
	unsigned long long pnd = 0, shd = 0, blk = 0, set;

	if (proc_status_field(tid, "SigPnd", v, sizeof(v)))
		pnd = strtoull(v, NULL, 16);
	if (proc_status_field(tid, "ShdPnd", v, sizeof(v)))
		shd = strtoull(v, NULL, 16);
	if (proc_status_field(tid, "SigBlk", v, sizeof(v)))
		blk = strtoull(v, NULL, 16);
	set = (pnd | shd) & ~blk;
	if (set == 0)
		return (0);
	return (__builtin_ctzll(set) + 1);
}

/*
 * A copyin (write 0) or copyout (write 1) of p's host-kernel call: inside
 * the scratch window, the bytes FUSE copied; elsewhere, the real memory.
 */
static int
uspace_xfer(struct hproc *p, uintptr_t uaddr, void *kbuf, size_t len, int write)
{
	struct call *c = t_current_call;
	struct iovec local, remote;
	pid_t pid;
	ssize_t n;

	if (len == 0)
		return (0);
	if (uaddr >= SCRATCH_UADDR && uaddr < SCRATCH_UADDR + SCRATCH_MAX) {
		size_t off = uaddr - SCRATCH_UADDR;

		if (c == NULL || off > c->scratch_len || len > c->scratch_len - off)
			return (EFAULT);
		if (write)
			memcpy(c->scratch + off, kbuf, len);
		else
			memcpy(kbuf, c->scratch + off, len);
		return (0);
	}
	/* The memory of the thread making the call (a forked child using its
	 * parent's file passes its own pointers). */
	pid = (c != NULL && c->tid > 0) ? c->tid : p->tgid;
	if (pid <= 0)
		return (EFAULT);
	local.iov_base = kbuf;
	local.iov_len = len;
	remote.iov_base = (void *)uaddr;
	remote.iov_len = len;
	if (write)
		n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	else
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return (n == (ssize_t)len ? 0 : EFAULT);
}

int
uspace_read(void *ctx, uintptr_t uaddr, void *kbuf, size_t len)
{
	return (uspace_xfer(ctx, uaddr, kbuf, len, 0));
}

int
uspace_write(void *ctx, uintptr_t uaddr, const void *kbuf, size_t len)
{
	return (uspace_xfer(ctx, uaddr, (void *)kbuf, len, 1));
}

/*
 * FUSE interrupt: the caller got a signal while the request is in the
 * server.  Post it to the caller's hproc so CURSIG sees it in the driver.
 * Runs under libfuse's request lock, on another worker thread.
 */
static void
dh_interrupt(fuse_req_t req, void *data)
{
	struct call *c = data;
	int sig;

	(void)req;
	sig = pending_signal(c->tid);
	if (sig == 0 || sig == SIGKILL || sig == SIGSTOP)
		sig = SIGINT;
	pthread_mutex_lock(&c->mtx);
	if (!c->interrupted) {
		c->interrupted = true;
		if (hk_kill(c->p->hp, sig) == 0)
			c->sig_posted = sig;
		dbg("interrupt: thread %d, posted signal %d", c->tid, sig);
	}
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mtx);
}

/*
 * Begin a host-kernel call on behalf of the request's thread; the host
 * kernel sees scratch (the bytes FUSE copied for the request, or NULL) at
 * SCRATCH_UADDR.
 */
int
call_begin(struct call *c, fuse_req_t req, struct hproc *p,
    unsigned char *scratch, size_t scratch_len)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int error;

	memset(c, 0, sizeof(*c));
	c->p = p;
	c->tid = ctx->pid;
	c->scratch = scratch;
	c->scratch_len = scratch_len;
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->cv, NULL);
	fuse_req_interrupt_func(req, dh_interrupt, c);
	error = hk_thread_enter(p->hp);
	if (error != 0) {
		fuse_req_interrupt_func(req, NULL, NULL);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mtx);
		return (error);
	}
	t_current_call = c;
	return (0);
}

void
call_end(struct call *c, fuse_req_t req)
{
	/* No interrupt callback runs after this returns. */
	fuse_req_interrupt_func(req, NULL, NULL);
	if (c->sig_posted != 0)
		hk_sig_clear(c->p->hp, c->sig_posted);
	t_current_call = NULL;
	hk_thread_leave();
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mtx);
}

/*
 * --hold: keep the call in the server until the caller is interrupted or
 * the time runs out, as a driver running a guest for a while would.
 */
void
call_hold(struct call *c, int ms)
{
	struct timespec now, ts;
	long left = ms;

	/* In slices, so a shutdown is noticed within 50 ms. */
	pthread_mutex_lock(&c->mtx);
	while (!c->interrupted && left > 0 &&
	    !__atomic_load_n(&g_stopping, __ATOMIC_SEQ_CST)) {
		long slice = left < 50 ? left : 50;

		clock_gettime(CLOCK_REALTIME, &now);
		ts = now;
		ts.tv_nsec += slice * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&c->cv, &c->mtx, &ts);
		left -= slice;
	}
	pthread_mutex_unlock(&c->mtx);
}
