// The benchmarks' baseline: librdkafka's consumer driven by a plain C loop, so the Swift
// wrapper and `tidemark run` are measured against what C alone achieves on the same records.
#ifndef CBENCHBASELINE_H
#define CBENCHBASELINE_H
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

/// Result of the plain C consume loop used as the benchmark baseline.
typedef struct tdk_bench_result {
    uint64_t records;
    uint64_t value_bytes;
    uint64_t first_byte_sum;
    double seconds;
    int error; /* 0, or a librdkafka error code that stopped the loop */
} tdk_bench_result;

/// The benchmark baseline: a consumer configured from `keys`/`values` (count `n`)
/// subscribes to `topic` and runs rd_kafka_consumer_poll until `records` messages
/// were read or `timeout_ms` elapsed, touching every payload. The clock starts when
/// the partitions are assigned (fetching starts then). Closes the consumer before returning.
tdk_bench_result tdk_bench_consume(const char *const *keys, const char *const *values, size_t n,
                                   const char *topic, uint64_t records, int timeout_ms,
                                   char *errstr, size_t errstr_size);
#endif
