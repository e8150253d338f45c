// Debian's librdkafka-dev (2.0.2), found through pkg-config; the client API and the
// mock cluster behind the embedded broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
