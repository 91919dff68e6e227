#pragma once
#include <numa.h>
#include <numaif.h>
/// The CPU the calling thread runs on (glibc's sched_getcpu, hidden from Swift without _GNU_SOURCE).
extern int sched_getcpu(void);
static inline int cnuma_current_cpu(void) { return sched_getcpu(); }
