// C shims for librdkafka: rd_kafka_produceva without variadic macros, the wake-up
// descriptor of fair consumers, and topic creation on the mock cluster.
#include "CRdKafka.h"
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

int tdk_wakeup_open(int *write_fd) {
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    *write_fd = fd;
    return fd;
#else
    int fds[2];
    if (pipe(fds) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    *write_fd = fds[1];
    return fds[0];
#endif
}

void tdk_queue_wake_on(rd_kafka_queue_t *queue, int write_fd) {
#ifdef __linux__
    static const uint64_t signal = 1;
#else
    static const char signal = 1;
#endif
    if (write_fd < 0) rd_kafka_queue_io_event_enable(queue, -1, NULL, 0);
    else rd_kafka_queue_io_event_enable(queue, write_fd, &signal, sizeof(signal));
}

void tdk_wakeup_drain(int fd) {
    /* One read resets an eventfd counter; a pipe is read until empty. EAGAIN: nothing left. */
    char buffer[64];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR) continue;
#ifdef __linux__
        break;
#else
        if (n <= 0) break;
#endif
    }
}

int tdk_wakeup_wait(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
    return poll(&p, 1, timeout_ms) > 0 ? 1 : 0;
}

void tdk_wakeup_close(int fd, int write_fd) {
    if (write_fd >= 0 && write_fd != fd) close(write_fd);
    if (fd >= 0) close(fd);
}

rd_kafka_error_t *tdk_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
                              const void *key, size_t key_size, int has_key,
                              const void *value, size_t value_size, int has_value,
                              rd_kafka_headers_t *headers, int64_t timestamp,
                              void *msg_opaque) {
    rd_kafka_vu_t vus[8];
    size_t n = 0;
    memset(vus, 0, sizeof(vus));
    vus[n].vtype = RD_KAFKA_VTYPE_RKT; vus[n].u.rkt = rkt; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION; vus[n].u.i32 = partition; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[n].u.i = RD_KAFKA_MSG_F_COPY; n++;
    if (has_key) {
        vus[n].vtype = RD_KAFKA_VTYPE_KEY; vus[n].u.mem.ptr = (void *)key; vus[n].u.mem.size = key_size; n++;
    }
    if (has_value) {
        vus[n].vtype = RD_KAFKA_VTYPE_VALUE; vus[n].u.mem.ptr = (void *)value; vus[n].u.mem.size = value_size; n++;
    }
    if (headers) {
        vus[n].vtype = RD_KAFKA_VTYPE_HEADERS; vus[n].u.headers = headers; n++;
    }
    if (timestamp != 0) {
        vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[n].u.i64 = timestamp; n++;
    }
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[n].u.ptr = msg_opaque; n++;
    return rd_kafka_produceva(rk, vus, n);
}

struct tdk_mock_watch {
    atomic_size_t returned; /* calls returned so far */
    atomic_bool finished;
    const uint16_t *ports;
    size_t port_count;
};

/* Connects to the first broker that accepts and resets the connection at once (no TIME_WAIT
 * left behind); the send timeout bounds connect() should the listener's backlog be full. */
static void tdk_mock_wake(const struct tdk_mock_watch *watch) {
    for (size_t i = 0; i < watch->port_count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return;
        struct timeval timeout = { .tv_sec = 0, .tv_usec = 100000 };
        struct linger reset = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        struct sockaddr_in address;
        memset(&address, 0, sizeof(address));
        address.sin_family = AF_INET;
        address.sin_port = htons(watch->ports[i]);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int connected = connect(fd, (const struct sockaddr *)&address, sizeof(address)) == 0;
        close(fd);
        if (connected) return;
    }
}

static void *tdk_mock_watch_main(void *argument) {
    struct tdk_mock_watch *watch = argument;
    size_t seen = (size_t)-1;
    while (!atomic_load(&watch->finished)) {
        /* A call takes tens of microseconds; a lost one costs about this period. */
        struct timespec period = { .tv_sec = 0, .tv_nsec = 200000 };
        nanosleep(&period, NULL);
        size_t returned = atomic_load(&watch->returned);
        if (returned == seen && !atomic_load(&watch->finished)) tdk_mock_wake(watch);
        seen = returned;
    }
    return NULL;
}

rd_kafka_resp_err_t tdk_mock_topics_create(rd_kafka_mock_cluster_t *mcluster, const char *const *names,
                                           const int32_t *partitions, const int32_t *replication_factors,
                                           size_t count, const uint16_t *ports, size_t port_count, size_t *failed) {
    struct tdk_mock_watch watch = { .ports = ports, .port_count = port_count };
    atomic_init(&watch.returned, 0);
    atomic_init(&watch.finished, 0);
    pthread_t watcher;
    /* Without a watcher the calls still succeed, only slowly. */
    int watching = pthread_create(&watcher, NULL, tdk_mock_watch_main, &watch) == 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < count; i++) {
        err = rd_kafka_mock_topic_create(mcluster, names[i], partitions[i], replication_factors[i]);
        atomic_store(&watch.returned, i + 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            *failed = i;
            break;
        }
    }
    atomic_store(&watch.finished, 1);
    if (watching) pthread_join(watcher, NULL);
    return err;
}
