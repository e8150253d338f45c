// Client configuration: every librdkafka property passes through by name
// (bootstrap.servers, group.id, SASL, SSL, fetch.max.bytes, …).
import CRdKafka

/// librdkafka properties for a consumer, producer or admin client.
///
/// Any property librdkafka knows passes through unchanged (see librdkafka's
/// CONFIGURATION.md), e.g. `security.protocol`, `sasl.mechanisms`, `client.id`,
/// or consumer tuning such as `fetch.max.bytes` and `queued.max.messages.kbytes`.
/// A bad name or value is reported as a ``KafkaError`` naming the property.
package struct KafkaConfig: Sendable, ExpressibleByDictionaryLiteral {
    /// The properties, by librdkafka name.
    package var properties: [String: String]

    /// Creates a configuration from librdkafka properties.
    package init(_ properties: [String: String] = [:]) {
        self.properties = properties
    }

    /// Creates a configuration from a dictionary literal of librdkafka properties.
    package init(dictionaryLiteral elements: (String, String)...) {
        self.properties = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    /// Reads or sets one property.
    package subscript(name: String) -> String? {
        get { properties[name] }
        set { properties[name] = newValue }
    }

    /// These properties over `defaults`: a property set here wins over the default.
    ///
    /// The one place where defaults meet what users set (`--property`), so every client of
    /// the process merges the same way.
    package func withDefaults(_ defaults: [String: String]) -> KafkaConfig {
        var merged = defaults
        for (name, value) in properties { merged[name] = value }
        return KafkaConfig(merged)
    }

    /// Builds an `rd_kafka_conf_t` with `defaults` applied first, then the
    /// caller's properties (which win). The caller owns the result.
    package func makeConf(defaults: [String: String] = [:]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (name, value) in withDefaults(defaults).properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = string(fromNulTerminated: errstr)
                throw KafkaError(
                    code: KafkaError.invalidArgument,
                    message: "configuration property '\(name)' = '\(value)': \(reason)",
                    property: name
                )
            }
        }
        return conf
    }
}

/// Creates an `rd_kafka_t` from a conf (consumed on success and failure).
package func makeClient(_ type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errstr = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        let reason = string(fromNulTerminated: errstr)
        throw KafkaError(code: KafkaError.invalidArgument, message: "cannot create client: \(reason)")
    }
    return rk
}

/// Decodes a NUL-terminated C buffer filled by librdkafka.
package func string(fromNulTerminated buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The length of a NUL-terminated C string.
func cStringLength(_ pointer: UnsafePointer<CChar>) -> Int {
    var length = 0
    while pointer[length] != 0 { length += 1 }
    return length
}
