// snappy's C API, for compressing state snapshots.
#ifndef CSNAPPY_H
#define CSNAPPY_H
#include <snappy-c.h>
#endif
