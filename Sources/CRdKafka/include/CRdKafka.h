// The librdkafka surface Tidemark uses, plus shims for what Swift cannot import
// (variadic macros, cast macros).
#ifndef CRDKAFKA_H
#define CRDKAFKA_H
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// RD_KAFKA_PARTITION_UA (a cast macro Swift does not import).
static inline int32_t tdk_partition_unassigned(void) { return RD_KAFKA_PARTITION_UA; }
static inline int64_t tdk_offset_beginning(void) { return RD_KAFKA_OFFSET_BEGINNING; }
static inline int64_t tdk_offset_end(void) { return RD_KAFKA_OFFSET_END; }
static inline int64_t tdk_offset_stored(void) { return RD_KAFKA_OFFSET_STORED; }
static inline int64_t tdk_offset_invalid(void) { return RD_KAFKA_OFFSET_INVALID; }

/// Produces one message through rd_kafka_produceva, building the rd_kafka_vu_t
/// array on the C stack (no allocation on the caller's side).
/// `partition` may be RD_KAFKA_PARTITION_UA; `timestamp` 0 means "now";
/// `headers` (may be NULL) is owned by librdkafka on success and by the caller on failure.
/// Payload and key are copied (RD_KAFKA_MSG_F_COPY).
/// Returns NULL on success or an error the caller must destroy.
rd_kafka_error_t *tdk_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
                              const void *key, size_t key_size, int has_key,
                              const void *value, size_t value_size, int has_value,
                              rd_kafka_headers_t *headers, int64_t timestamp,
                              void *msg_opaque);

/// A wake-up descriptor for fair consumers, signalled by librdkafka (see
/// tdk_queue_wake_on) when a queue goes from empty to non-empty: a non-blocking
/// eventfd on Linux (read and write end are the same), a non-blocking pipe elsewhere.
/// Returns the end to wait on and stores the end librdkafka writes to; -1 on failure.
int tdk_wakeup_open(int *write_fd);
/// Makes librdkafka signal `write_fd` when `queue` goes from empty to non-empty;
/// -1 turns it off. (An eventfd takes only 8-byte writes, hence the payload size.)
void tdk_queue_wake_on(rd_kafka_queue_t *queue, int write_fd);
/// Resets the descriptor to "nothing signalled" (never blocks).
void tdk_wakeup_drain(int fd);
/// Waits until the descriptor is signalled or `timeout_ms` elapsed; returns 1 when
/// signalled, 0 on timeout or interruption.
int tdk_wakeup_wait(int fd, int timeout_ms);
void tdk_wakeup_close(int fd, int write_fd);

/// Creates `count` topics on a mock cluster in order, one rd_kafka_mock_topic_create each,
/// stopping at the first error: returns it and stores the failing topic's index in `failed`.
///
/// librdkafka 2.0.2's mock thread serves its op queue and only then drains its wake-up pipe,
/// so a call posted in between loses its wake-up and waits out the thread's 1 s poll timeout
/// (2,000 topics took minutes). While the calls run, a watcher thread opens a connection to a
/// broker of the cluster whenever no call has returned for 0.2 ms: the mock thread
/// polls again and serves its queue before it accepts. `ports` are the brokers' ports on
/// 127.0.0.1, tried in order until one accepts.
rd_kafka_resp_err_t tdk_mock_topics_create(rd_kafka_mock_cluster_t *mcluster, const char *const *names,
                                           const int32_t *partitions, const int32_t *replication_factors,
                                           size_t count, const uint16_t *ports, size_t port_count, size_t *failed);

#endif
