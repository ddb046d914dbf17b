/*
 * monstub.c - a stand-in for kqemu 1.4's monitor, built only for the host
 * tests (our own code; the real monitor needs ring 0 and is proven only on
 * the real kernel).  It implements the monitor's entry points
 * (kqemu-kernel.h) and uses the twelve host services the way the monitor
 * does, so kmod/kqemu/kqemu_mon*.c and the `kqemu` engine are exercised
 * end to end on the host kernel.
 *
 * Owns: its global state (a budget and a VM count) and each VM's state,
 * all in kqemu_vmalloc memory as the monitor's are.
 *
 * What a VM does, like the monitor: INIT checks alignment and sizes,
 * refuses a VM past the budget (1024 pages each), locks the first page of
 * each of the four page arrays, allocates two zeroed kernel pages (page
 * table stand-ins) and maps the local APIC (io_map; carries on without
 * it).  EXEC runs a "program" named by the guest's RAX:
 *   1 SUM    lock the guest RAM pages of [RBX, RBX + RCX) (RAM offsets),
 *            sum their bytes through the physical page each lock returned
 *            (on the host kernel a page's "physical address" is its host
 *            address) and return INT 0x80 with the sum in RDX.  At most
 *            MAX_RAM_LOCKS pages stay locked; older ones are unlocked
 *            first, as the monitor evicts under its budget.
 *   2 SPIN   call kqemu_schedule RBX times (0: forever); INTR as soon as it
 *            reports a signal, else SOFTMMU.
 *   3 FAULT  EXCEPTION 14 with cr2 = RBX and error code 6.
 *   4 STORE  lock the RAM page at offset RBX and write the byte RCX at its
 *            start through the physical page; return INT 0x80.
 *   5 ABORT  log and return ABORT.
 *   6 CLOCK  as SPIN forever, but one host clock tick passes per call of
 *            kqemu_schedule (it advances the host kernel's ticks): the
 *            glue's time slice ends the run with INTR.
 *   other    SOFTMMU.
 * Delete unlocks every page it locked and frees everything it allocated.
 *
 * Locking: the caller serializes the calls of one VM; the global VM count
 * is updated with atomic operations.
 */
#include "kqemu-kernel.h"

extern int ticks;	/* the host kernel's clock (sys/kernel.h) */

#define STUB_PAGE		4096UL
#define STUB_MIN_PAGES		1024
#define MAX_RAM_LOCKS		8
#define NR_ARRAYS		4
#define NR_KPAGES		2
#define APIC_PAGE		(0xfee00000UL >> 12)

struct kqemu_global_state {
	int		max_locked_pages;
	int		nstates;	/* atomic */
};

struct stub_lock {
	struct kqemu_user_page	*h;
	unsigned long		index;
	unsigned long		offset;	/* in guest RAM */
};

struct kqemu_state {
	struct kqemu_cpu_state	cpu;
	struct kqemu_init	d;
	struct kqemu_global_state *g;
	struct kqemu_user_page	*arrays[NR_ARRAYS];
	struct kqemu_page	*kpages[NR_KPAGES];
	void			*apic;
	struct stub_lock	ram[MAX_RAM_LOCKS];
	int			nram;
	int			next_evict;
	unsigned long		phys_ranges;
};

static unsigned long
stub_round(unsigned long n)
{
	return ((n + STUB_PAGE - 1) & ~(STUB_PAGE - 1));
}

static unsigned char *
stub_phys(unsigned long index)
{
	return ((unsigned char *)(index * STUB_PAGE));
}

struct kqemu_global_state *
kqemu_global_init(int max_locked_pages)
{
	struct kqemu_global_state *g;

	g = kqemu_vmalloc((unsigned int)stub_round(sizeof(*g)));
	if (g == 0)
		return (0);
	g->max_locked_pages = max_locked_pages;
	g->nstates = 0;
	return (g);
}

void
kqemu_global_delete(struct kqemu_global_state *g)
{
	kqemu_vfree(g);
}

void
kqemu_delete(struct kqemu_state *s)
{
	int i;

	for (i = 0; i < s->nram; i++)
		kqemu_unlock_user_page(s->ram[i].h);
	for (i = 0; i < NR_ARRAYS; i++)
		if (s->arrays[i] != 0)
			kqemu_unlock_user_page(s->arrays[i]);
	for (i = 0; i < NR_KPAGES; i++)
		if (s->kpages[i] != 0)
			kqemu_free_page(s->kpages[i]);
	if (s->apic != 0)
		kqemu_io_unmap(s->apic, STUB_PAGE);
	if (s->g != 0)
		__atomic_fetch_sub(&s->g->nstates, 1, __ATOMIC_SEQ_CST);
	kqemu_vfree(s);
}

struct kqemu_state *
kqemu_init(struct kqemu_init *d, struct kqemu_global_state *g)
{
	struct kqemu_state *s;
	unsigned long idx;
	const void *arrays[NR_ARRAYS];
	unsigned char *z;
	int i, n;

	if (((unsigned long)d->ram_base | (unsigned long)d->ram_dirty |
	    (unsigned long)d->pages_to_flush | (unsigned long)d->ram_pages_to_update |
	    (unsigned long)d->modified_ram_pages | d->ram_size) & (STUB_PAGE - 1) ||
	    d->ram_size >= 0x7ffff000UL) {
		kqemu_log("Invalid kqemu_init data alignment\n");
		return (0);
	}
	s = kqemu_vmalloc((unsigned int)stub_round(sizeof(*s)));
	if (s == 0)
		return (0);
	for (i = 0; i < (int)sizeof(*s); i++)
		((unsigned char *)s)[i] = 0;
	s->d = *d;
	if (kqemu_vmalloc_to_phys(s) == (unsigned long)-1)
		goto fail;
	arrays[0] = d->ram_dirty;
	arrays[1] = d->pages_to_flush;
	arrays[2] = d->ram_pages_to_update;
	arrays[3] = d->modified_ram_pages;
	for (i = 0; i < NR_ARRAYS; i++) {
		s->arrays[i] = kqemu_lock_user_page(&idx, (unsigned long)arrays[i]);
		if (s->arrays[i] == 0)
			goto fail;
	}
	for (i = 0; i < NR_KPAGES; i++) {
		s->kpages[i] = kqemu_alloc_zeroed_page(&idx);
		if (s->kpages[i] == 0)
			goto fail;
		z = kqemu_page_kaddr(s->kpages[i]);
		if (z != stub_phys(idx) || z[0] != 0 || z[STUB_PAGE - 1] != 0) {
			kqemu_log("zeroed page %d: bad address or not zero\n", i);
			goto fail;
		}
		z[0] = 0xa5;	/* the monitor writes its page tables */
	}
	s->apic = kqemu_io_map(APIC_PAGE, STUB_PAGE);	/* optional */
	n = __atomic_add_fetch(&g->nstates, 1, __ATOMIC_SEQ_CST);
	s->g = g;
	if ((long)n * STUB_MIN_PAGES > g->max_locked_pages) {
		kqemu_log("too many instances for max_locked_pages\n");
		goto fail;
	}
	return (s);
fail:
	kqemu_delete(s);
	return (0);
}

struct kqemu_cpu_state *
kqemu_get_cpu_state(struct kqemu_state *s)
{
	return (&s->cpu);
}

/* Lock the RAM page at offset off (evicting the oldest when full). */
static struct stub_lock *
stub_lock_ram(struct kqemu_state *s, unsigned long off)
{
	struct stub_lock *l;
	int i;

	off &= ~(STUB_PAGE - 1);
	for (i = 0; i < s->nram; i++)
		if (s->ram[i].offset == off)
			return (&s->ram[i]);
	if (s->nram == MAX_RAM_LOCKS) {
		l = &s->ram[s->next_evict];
		s->next_evict = (s->next_evict + 1) % MAX_RAM_LOCKS;
		kqemu_unlock_user_page(l->h);
	} else {
		l = &s->ram[s->nram++];
	}
	l->offset = off;
	l->h = kqemu_lock_user_page(&l->index,
	    (unsigned long)s->d.ram_base + off);
	if (l->h == 0) {
		/* Drop the slot: keep the table dense. */
		*l = s->ram[--s->nram];
		if (s->next_evict >= s->nram)
			s->next_evict = 0;
		return (0);
	}
	return (l);
}

long
kqemu_exec(struct kqemu_state *s)
{
	struct kqemu_cpu_state *c = &s->cpu;
	struct stub_lock *l;
	unsigned long off, end, sum, i, n;
	unsigned char *p;

	c->nb_pages_to_flush = 0;
	c->nb_ram_pages_to_update = 0;
	c->nb_modified_ram_pages = 0;
	switch (c->regs[0]) {
	case 1:			/* SUM */
		off = c->regs[3];		/* RBX */
		end = off + c->regs[1];		/* RCX */
		sum = 0;
		if (end > s->d.ram_size || end < off) {
			c->retval = KQEMU_RET_EXCEPTION | 13;
			break;
		}
		for (; off < end; off = (off & ~(STUB_PAGE - 1)) + STUB_PAGE) {
			if ((l = stub_lock_ram(s, off)) == 0) {
				c->retval = KQEMU_RET_ABORT;
				return (0);
			}
			p = stub_phys(l->index);
			n = STUB_PAGE - (off & (STUB_PAGE - 1));
			if (n > end - off)
				n = end - off;
			for (i = 0; i < n; i++)
				sum += p[(off & (STUB_PAGE - 1)) + i];
		}
		c->regs[2] = sum;
		c->next_eip = c->eip + 2;
		c->retval = KQEMU_RET_INT | 0x80;
		break;
	case 2:			/* SPIN */
		c->retval = KQEMU_RET_SOFTMMU;
		for (i = 0; c->regs[3] == 0 || i < c->regs[3]; i++) {
			if (kqemu_schedule()) {
				c->retval = KQEMU_RET_INTR;
				break;
			}
		}
		break;
	case 3:			/* FAULT */
		c->cr2 = c->regs[3];
		c->error_code = 6;
		c->retval = KQEMU_RET_EXCEPTION | 14;
		break;
	case 4:			/* STORE */
		if (c->regs[3] >= s->d.ram_size ||
		    (l = stub_lock_ram(s, c->regs[3])) == 0) {
			c->retval = KQEMU_RET_ABORT;
			break;
		}
		stub_phys(l->index)[c->regs[3] & (STUB_PAGE - 1)] =
		    (unsigned char)c->regs[1];
		c->retval = KQEMU_RET_INT | 0x80;
		break;
	case 6:			/* CLOCK */
		c->retval = KQEMU_RET_SOFTMMU;
		for (i = 0; i < 1000000; i++) {
			__atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
			if (kqemu_schedule()) {
				c->retval = KQEMU_RET_INTR;
				break;
			}
		}
		break;
	case 5:			/* ABORT */
		kqemu_log("stub monitor: abort requested (%d)\n", 5);
		c->retval = KQEMU_RET_ABORT;
		break;
	default:
		c->retval = KQEMU_RET_SOFTMMU;
		break;
	}
	return (0);
}

int
kqemu_set_phys_mem(struct kqemu_state *s, const struct kqemu_phys_mem *m)
{
	if ((m->phys_addr | m->size) & (STUB_PAGE - 1) || m->size == 0 ||
	    m->phys_addr + m->size > 0x100000000ULL || m->io_index > 3)
		return (-1);
	if ((m->io_index == KQEMU_IO_MEM_RAM || m->io_index == KQEMU_IO_MEM_ROM) &&
	    (m->ram_addr >= s->d.ram_size || m->size > s->d.ram_size - m->ram_addr))
		return (-1);
	s->phys_ranges++;
	return (0);
}
