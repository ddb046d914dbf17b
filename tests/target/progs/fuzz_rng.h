/*
 * fuzz_rng.h: the fuzz suite's random numbers (splitmix64), one stream per
 * process, derived from the phase's seed and the process's place in the
 * tree, so that a seed names the same call sequences on every run.
 * Locking: none; a stream belongs to one process.
 */
#ifndef KQT_FUZZ_RNG_H
#define KQT_FUZZ_RNG_H

#include "../rt/rt.h"

struct frng {
	uint64_t s;
};

static inline uint64_t
frng_next(struct frng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15UL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
	return (z ^ (z >> 31));
}

/* Uniform enough in [0, n) for the small n used here; 0 when n is 0. */
static inline uint32_t
frng_below(struct frng *r, uint32_t n)
{
	return (n != 0 ? (uint32_t)(frng_next(r) % n) : 0);
}

/* A stream for child `which` of a stream seeded `seed`. */
static inline void
frng_derive(struct frng *r, uint64_t seed, uint64_t which)
{
	struct frng t = { seed ^ (which * 0xd1b54a32d192ed03UL) };

	frng_next(&t);
	r->s = frng_next(&t);
}

/* FNV-1a of a string: the default seed of a boot, from its label. */
static inline uint64_t
frng_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325UL;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3UL;
	return (h);
}

#endif
