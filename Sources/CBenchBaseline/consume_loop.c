// The plain C consume loop: rd_kafka_consumer_poll until N messages, touching every payload.
#include "CBenchBaseline.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

static double tdk_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Eager-protocol rebalance callback of the baseline: starts the clock at the first assignment. */
static void tdk_bench_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *partitions, void *opaque) {
    double *assigned_at = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (*assigned_at == 0) *assigned_at = tdk_now();
        rd_kafka_assign(rk, partitions);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

tdk_bench_result tdk_bench_consume(const char *const *keys, const char *const *values, size_t n,
                                   const char *topic, uint64_t records, int timeout_ms,
                                   char *errstr, size_t errstr_size) {
    tdk_bench_result result;
    memset(&result, 0, sizeof(result));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, keys[i], values[i], errstr, errstr_size) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            result.error = RD_KAFKA_RESP_ERR__INVALID_ARG;
            return result;
        }
    }
    double start = 0;
    rd_kafka_conf_set_opaque(conf, &start);
    rd_kafka_conf_set_rebalance_cb(conf, tdk_bench_rebalance);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        result.error = RD_KAFKA_RESP_ERR__INVALID_ARG;
        return result;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        result.error = err;
        snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return result;
    }
    double deadline = tdk_now() + timeout_ms / 1000.0;
    int wait_ms = 100;
    while (result.records < records) {
        /* The deadline is checked once per 1024 messages or empty poll, not per message. */
        if ((wait_ms != 0 || (result.records & 1023) == 0) && tdk_now() > deadline) {
            result.error = RD_KAFKA_RESP_ERR__TIMED_OUT;
            snprintf(errstr, errstr_size, "timed out after %llu records", (unsigned long long)result.records);
            break;
        }
        /* Block only when the previous call found nothing, as the Swift wrapper does. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, wait_ms);
        if (!m) {
            wait_ms = 100;
            continue;
        }
        wait_ms = 0;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        result.records++;
        result.value_bytes += m->len;
        if (m->len > 0) result.first_byte_sum += ((const unsigned char *)m->payload)[0];
        rd_kafka_message_destroy(m);
    }
    result.seconds = start > 0 ? tdk_now() - start : 0;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return result;
}
