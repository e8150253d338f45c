// The librdkafka surface Tidemark uses, plus shims for what Swift cannot import
// (variadic macros) or should not loop over itself (the C benchmark baseline).
#ifndef CRDKAFKA_H
#define CRDKAFKA_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
