// A mergeable quantile sketch with ~1% relative accuracy whose state depends only on the
// multiset of values (never on their order) and never grows past a fixed number of buckets.

/// A log-linear bucketed histogram in the style of DDSketch.
///
/// Each power of two is split into ``bucketsPerOctave`` linear sub-buckets, so a bucket's
/// upper bound is at most 1 + 1/50 times its lower bound; reporting the harmonic midpoint
/// keeps the relative error under 1/101. Bucket keys come from the float's exponent and
/// significand, so no logarithm (and no Foundation) is needed. Each sign keeps at most
/// ``maxBuckets`` buckets: keys below `highest key ever seen - maxBuckets + 1` count in the
/// lowest kept bucket. That rule depends only on the final maximum key, so the state after
/// any arrival order (or any merge tree) is the same.
public struct PercentileSketch: Sendable, Equatable {
    package static let bucketsPerOctave = 50
    package static let maxBuckets = 2048

    /// Values too small to have a normal exponent (zero, subnormals) count here.
    var zeroCount: UInt64 = 0
    var positive = Store()
    var negative = Store()

    package init() {}

    /// The number of values added.
    package var count: UInt64 { zeroCount + positive.total + negative.total }

    package var isEmpty: Bool { count == 0 }

    /// Adds a value; NaN must be filtered by the caller.
    package mutating func add(_ value: Double) {
        let magnitude = value.magnitude
        if magnitude < Double.leastNormalMagnitude {
            zeroCount += 1
        } else if value > 0 {
            positive.add(Self.key(magnitude), count: 1)
        } else {
            negative.add(Self.key(magnitude), count: 1)
        }
    }

    package mutating func merge(_ other: PercentileSketch) {
        zeroCount += other.zeroCount
        positive.merge(other.positive)
        negative.merge(other.negative)
    }

    /// Makes this sketch an exact copy of `other` (the same buckets, not only the same
    /// counts), reusing its own bucket storage.
    mutating func assign(_ other: PercentileSketch) {
        zeroCount = other.zeroCount
        positive.assign(other.positive)
        negative.assign(other.negative)
    }

    /// Empties the sketch but keeps its bucket storage for reuse.
    package mutating func reset() {
        zeroCount = 0
        positive.reset()
        negative.reset()
    }

    /// The value at quantile `q` (0...1), the lower nearest rank `q * (count - 1)`; nil if empty.
    public func quantile(_ q: Double) -> Double? {
        let total = count
        guard total > 0 else { return nil }
        let rank = UInt64((q * Double(total - 1)).rounded(.down))
        var seen: UInt64 = 0
        // Most negative first: the negative store's highest key is the largest magnitude.
        if negative.total > 0 {
            for i in stride(from: negative.counts.count - 1, through: 0, by: -1) {
                seen += UInt64(negative.counts[i])
                if seen > rank { return -Self.value(Int(negative.minKey) + i) }
            }
        }
        seen += zeroCount
        if seen > rank { return 0 }
        for i in 0 ..< positive.counts.count {
            seen += UInt64(positive.counts[i])
            if seen > rank { return Self.value(Int(positive.minKey) + i) }
        }
        return Self.value(Int(positive.maxKey))
    }

    /// Bucket key of a positive normal (or infinite) magnitude.
    static func key(_ magnitude: Double) -> Int {
        guard magnitude.isFinite else { return Int(Double.greatestFiniteMagnitude.exponent + 1) * bucketsPerOctave - 1 }
        let exponent = Int(magnitude.exponent)
        let fraction = magnitude.significand - 1  // exact: [0, 1)
        return exponent * bucketsPerOctave + Int(fraction * Double(bucketsPerOctave))
    }

    /// The harmonic midpoint of a bucket: relative error at most 1/(2·50 + 1) for any value in it.
    static func value(_ key: Int) -> Double {
        let exponent = key >= 0 ? key / bucketsPerOctave : -((-key - 1) / bucketsPerOctave) - 1
        let sub = key - exponent * bucketsPerOctave
        let lower = Double(sign: .plus, exponent: exponent, significand: 1 + Double(sub) / Double(bucketsPerOctave))
        let upper = Double(sign: .plus, exponent: exponent, significand: 1 + Double(sub + 1) / Double(bucketsPerOctave))
        guard abs(exponent) > 500 else { return 2 * lower * upper / (lower + upper) }
        // Far from 1 the product over- or underflows (values past 1.3e154 would read as null):
        // the same midpoint without it; the top bucket's upper bound is past the largest double.
        let ratio = lower / Swift.min(upper, .greatestFiniteMagnitude)
        return lower * (2 / (1 + ratio))
    }

    /// Dense counts for one sign, from `minKey`.
    struct Store: Sendable, Equatable {
        var minKey: Int32 = 0
        /// Highest key ever added; fixes the collapse floor.
        var maxKey: Int32 = Int32.min
        var counts: [UInt32] = []
        var total: UInt64 = 0

        mutating func assign(_ other: Store) {
            minKey = other.minKey
            maxKey = other.maxKey
            total = other.total
            counts.removeAll(keepingCapacity: true)
            counts.append(contentsOf: other.counts)
        }

        mutating func reset() {
            minKey = 0
            maxKey = Int32.min
            counts.removeAll(keepingCapacity: true)
            total = 0
        }

        mutating func add(_ key: Int, count: UInt32) {
            total += UInt64(count)
            let key = Int32(key)
            if counts.isEmpty {
                minKey = key
                maxKey = key
                counts.append(count)
                return
            }
            if key > maxKey { raiseMax(to: key) }
            let floor = maxKey - Int32(PercentileSketch.maxBuckets) + 1
            let target = Swift.max(key, floor)
            if target < minKey {
                // Prepend zeros down to target.
                let extra = Int(minKey - target)
                counts.insert(contentsOf: repeatElement(0, count: extra), at: 0)
                minKey = target
            }
            counts[Int(target - minKey)] += count
        }

        private mutating func raiseMax(to key: Int32) {
            let needed = Int(key - minKey) + 1
            if needed > counts.count { counts.append(contentsOf: repeatElement(0, count: needed - counts.count)) }
            maxKey = key
            let floor = maxKey - Int32(PercentileSketch.maxBuckets) + 1
            if floor > minKey {
                // Collapse everything below the floor into the floor bucket.
                let drop = Int(floor - minKey)
                var folded: UInt32 = 0
                for i in 0 ..< drop { folded += counts[i] }
                counts.removeFirst(drop)
                counts[0] += folded
                minKey = floor
            }
        }

        mutating func merge(_ other: Store) {
            guard other.total > 0 else { return }
            if other.maxKey > maxKey || counts.isEmpty {
                if counts.isEmpty {
                    minKey = other.maxKey
                    maxKey = other.maxKey
                    counts = [0]
                } else {
                    raiseMax(to: other.maxKey)
                }
            }
            for i in 0 ..< other.counts.count where other.counts[i] != 0 {
                add(Int(other.minKey) + i, count: other.counts[i])
                total -= UInt64(other.counts[i])
            }
            total += other.total
        }
    }
}
