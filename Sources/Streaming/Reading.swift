// A reading as the engine sees it: already decoded, device interned, fields in numeric
// slots. Nothing here owns memory, so handing a reading to the engine allocates nothing.

/// A device, interned to a dense index by a ``DeviceTable``; per-device state is indexed by it.
public struct DeviceID: Hashable, Comparable, Sendable {
    /// Position in the ``DeviceTable`` that issued it, from 0.
    public var index: Int32

    @inlinable
    public init(_ index: Int32) { self.index = index }

    @inlinable
    public static func < (lhs: DeviceID, rhs: DeviceID) -> Bool { lhs.index < rhs.index }
}

/// One decoded reading of one device.
///
/// `fields` holds the app's numeric input fields by slot (the `field` of an ``AggregateSpec``);
/// NaN means missing or null (JSON has no NaN, so the sentinel cannot collide with data).
/// The buffer only has to stay valid for the duration of the call that receives the reading.
public struct Reading {
    public var device: DeviceID
    /// Event time, epoch milliseconds.
    public var time: Int64
    /// The Kafka partition the reading came from (used by `per: partition` watermarks).
    public var partition: Int32
    public var fields: UnsafeBufferPointer<Double>

    @inlinable
    public init(device: DeviceID, time: Int64, partition: Int32 = 0, fields: UnsafeBufferPointer<Double>) {
        self.device = device
        self.time = time
        self.partition = partition
        self.fields = fields
    }
}

/// What the engine did with a reading.
public enum Admission: Sendable, Equatable {
    /// Counted in at least one window.
    case accepted
    /// Too late for every window it belongs to, in every series: route the raw record to the
    /// late topic (`tidemark-reason: too-late`).
    case tooLate
    /// Event time outside ``WindowEngine/eventTimeRange``; route it as malformed.
    case invalidTime
}
