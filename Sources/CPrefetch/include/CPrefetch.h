// A cache prefetch hint, which Swift has no spelling for.
#ifndef TIDEMARK_CPREFETCH_H
#define TIDEMARK_CPREFETCH_H

/// Asks the CPU to bring the cache line at `address` in for a read soon; never faults.
static inline void tidemark_prefetch(const void *address) { __builtin_prefetch(address, 0, 1); }

#endif
