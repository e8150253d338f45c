// snappy's C API (Debian's libsnappy-dev, found through pkg-config), for compressing
// state snapshots.
#include <snappy-c.h>
