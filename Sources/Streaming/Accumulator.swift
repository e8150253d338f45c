// The partial aggregate of one pane (or session) as a fixed run of doubles, laid out once per
// series. Adding a reading, merging panes and producing the aggregate values all work on
// raw pointers into flat storage, so nothing is allocated per record.

/// Values an aggregate can have besides a number.
public enum AggregateValue {
    /// A NaN that marks an aggregate whose sum (or sum of squares) left the range of a
    /// double: the result has no finite value, and says so instead of looking empty. Every
    /// other NaN in results is plain null (no input).
    public static let overflow = Double(nan: 0x4F56, signaling: false)

    /// Whether `value` is ``overflow`` (compared bit for bit: arithmetic never makes it).
    @inlinable
    public static func isOverflow(_ value: Double) -> Bool {
        value.bitPattern == overflow.bitPattern
    }
}

/// Where one input field's running statistics live inside a pane's run of doubles.
@usableFromInline
struct FieldAccumulator {
    @usableFromInline var field: Int
    /// Non-null inputs seen.
    @usableFromInline var n: Int
    /// Double-double sum (`sum`, `sum + 1`), or -1.
    @usableFromInline var sum: Int = -1
    /// Double-double sum of squares, or -1.
    @usableFromInline var squares: Int = -1
    @usableFromInline var min: Int = -1
    @usableFromInline var max: Int = -1
    /// Event time then value of the first input, or -1.
    @usableFromInline var first: Int = -1
    @usableFromInline var last: Int = -1
    /// Index among the pane's sketches, or -1.
    @usableFromInline var sketch: Int = -1

    init(field: Int, n: Int) {
        self.field = field
        self.n = n
    }
}

/// How a series' aggregates are computed from its accumulators.
@usableFromInline
struct AccumulatorLayout {
    /// Doubles per pane; slot 0 is the record count.
    @usableFromInline var stride: Int
    @usableFromInline var fields: [FieldAccumulator]
    @usableFromInline var sketchCount: Int
    @usableFromInline var outputs: [(function: AggregateFunction, field: Int)]

    init(_ aggregates: [AggregateSpec]) {
        var stride = 1
        var fields: [FieldAccumulator] = []
        var sketchCount = 0
        var outputs: [(AggregateFunction, Int)] = []
        func slots(_ count: Int) -> Int {
            defer { stride += count }
            return stride
        }
        for aggregate in aggregates {
            guard aggregate.function != .count, let field = aggregate.field else {
                outputs.append((.count, -1))
                continue
            }
            var index = fields.firstIndex { $0.field == field } ?? -1
            if index < 0 {
                fields.append(FieldAccumulator(field: field, n: slots(1)))
                index = fields.count - 1
            }
            switch aggregate.function {
            case .count: break
            case .sum, .mean:
                if fields[index].sum < 0 { fields[index].sum = slots(2) }
            case .stddev:
                if fields[index].sum < 0 { fields[index].sum = slots(2) }
                if fields[index].squares < 0 { fields[index].squares = slots(2) }
            case .min:
                if fields[index].min < 0 { fields[index].min = slots(1) }
            case .max:
                if fields[index].max < 0 { fields[index].max = slots(1) }
            case .first:
                if fields[index].first < 0 { fields[index].first = slots(2) }
            case .last:
                if fields[index].last < 0 { fields[index].last = slots(2) }
            case .percentile:
                if fields[index].sketch < 0 {
                    fields[index].sketch = sketchCount
                    sketchCount += 1
                }
            }
            outputs.append((aggregate.function, index))
        }
        self.stride = stride
        self.fields = fields
        self.sketchCount = sketchCount
        self.outputs = outputs
    }

    /// Writes the empty accumulator (identity of ``merge(_:into:)``).
    @inlinable
    func reset(_ p: UnsafeMutablePointer<Double>) {
        p.update(repeating: 0, count: stride)
        for f in fields {
            if f.min >= 0 { p[f.min] = .nan }
            if f.max >= 0 { p[f.max] = .nan }
            if f.first >= 0 { p[f.first] = .infinity; p[f.first + 1] = .nan }
            if f.last >= 0 { p[f.last] = -.infinity; p[f.last + 1] = .nan }
        }
    }

    /// Counts one reading into a pane.
    @inlinable @inline(__always)
    static func add(
        _ fieldValues: UnsafeBufferPointer<Double>, time: Double, into p: UnsafeMutablePointer<Double>,
        plan: UnsafeBufferPointer<FieldAccumulator>
    ) {
        p[0] += 1
        for f in plan {
            let x = f.field < fieldValues.count ? fieldValues[f.field] : .nan
            if x.isNaN { continue }
            p[f.n] += 1
            if f.sum >= 0 { addCompensated(x, at: p + f.sum) }
            if f.squares >= 0 {
                let sum = DoubleDouble(p[f.squares], p[f.squares + 1]) + DoubleDouble.product(x, x)
                p[f.squares] = sum.hi
                p[f.squares + 1] = sum.lo
            }
            if f.min >= 0 { p[f.min] = lesser(p[f.min], x) }
            if f.max >= 0 { p[f.max] = greater(p[f.max], x) }
            if f.first >= 0 && (time < p[f.first] || (time == p[f.first] && x < p[f.first + 1])) {
                p[f.first] = time
                p[f.first + 1] = x
            }
            if f.last >= 0 && (time > p[f.last] || (time == p[f.last] && x > p[f.last + 1])) {
                p[f.last] = time
                p[f.last + 1] = x
            }
        }
    }

    /// Adds to the double-double `(p[0], p[1])`, renormalising so `p[1]` stays below an ulp
    /// of `p[0]` and keeps the exact low part instead of accumulating its own rounding errors.
    @inlinable @inline(__always)
    static func addCompensated(_ x: Double, at p: UnsafeMutablePointer<Double>) {
        let (s, e) = twoSum(p[0], x)
        let t = e + p[1]
        let hi = s + t
        p[1] = t - (hi - s)
        p[0] = hi
    }

    @inlinable @inline(__always)
    static func addCompensated(_ q: UnsafePointer<Double>, at p: UnsafeMutablePointer<Double>) {
        let sum = DoubleDouble(p[0], p[1]) + DoubleDouble(q[0], q[1])
        p[0] = sum.hi
        p[1] = sum.lo
    }

    /// The smaller, treating NaN as "none yet" and -0 as below +0, so the result is order-free.
    @inlinable @inline(__always)
    static func lesser(_ a: Double, _ b: Double) -> Double {
        if a.isNaN || b < a || (b == a && b.sign == .minus) { return b }
        return a
    }

    @inlinable @inline(__always)
    static func greater(_ a: Double, _ b: Double) -> Double {
        if a.isNaN || b > a || (b == a && b.sign == .plus) { return b }
        return a
    }

    /// Merges pane `q` into `p`.
    @inlinable
    func merge(_ q: UnsafePointer<Double>, into p: UnsafeMutablePointer<Double>) {
        fields.withUnsafeBufferPointer { Self.merge(q, into: p, plan: $0) }
    }

    /// Merges pane `q` into `p` by a borrowed plan (``fields``), so hot loops retain nothing.
    @inlinable @inline(__always)
    static func merge(
        _ q: UnsafePointer<Double>, into p: UnsafeMutablePointer<Double>, plan: UnsafeBufferPointer<FieldAccumulator>
    ) {
        p[0] += q[0]
        for f in plan {
            p[f.n] += q[f.n]
            if f.sum >= 0 { addCompensated(q + f.sum, at: p + f.sum) }
            if f.squares >= 0 { addCompensated(q + f.squares, at: p + f.squares) }
            if f.min >= 0 && !q[f.min].isNaN { p[f.min] = lesser(p[f.min], q[f.min]) }
            if f.max >= 0 && !q[f.max].isNaN { p[f.max] = greater(p[f.max], q[f.max]) }
            if f.first >= 0 {
                let t = q[f.first], x = q[f.first + 1]
                if t < p[f.first] || (t == p[f.first] && x < p[f.first + 1]) {
                    p[f.first] = t
                    p[f.first + 1] = x
                }
            }
            if f.last >= 0 {
                let t = q[f.last], x = q[f.last + 1]
                if t > p[f.last] || (t == p[f.last] && x > p[f.last + 1]) {
                    p[f.last] = t
                    p[f.last + 1] = x
                }
            }
        }
    }

    /// The aggregate values in spec order; NaN for null (no input, or stddev of fewer than 2),
    /// ``AggregateValue/overflow`` for a sum, mean or stddev whose running sums overflowed.
    /// Inputs are finite, so only those three can leave the range of a double.
    @inlinable
    func finish(
        _ p: UnsafePointer<Double>, sketches: UnsafePointer<PercentileSketch>?, into out: inout [Double]
    ) {
        for (function, index) in outputs {
            out.append(Self.value(function, field: index >= 0 ? fields[index] : nil, of: p, sketches: sketches))
        }
    }

    /// ``finish(_:sketches:into:)`` into `outputs.count` doubles at `out`.
    @inlinable
    func finish(_ p: UnsafePointer<Double>, sketches: UnsafePointer<PercentileSketch>?, to out: UnsafeMutablePointer<Double>) {
        for (slot, (function, index)) in outputs.enumerated() {
            out[slot] = Self.value(function, field: index >= 0 ? fields[index] : nil, of: p, sketches: sketches)
        }
    }

    /// One aggregate of the accumulator at `p`; `field` is nil for `count()`.
    @inlinable @inline(__always)
    static func value(
        _ function: AggregateFunction, field f: FieldAccumulator?, of p: UnsafePointer<Double>,
        sketches: UnsafePointer<PercentileSketch>?
    ) -> Double {
        guard let f else { return p[0] }
        let n = p[f.n]
        switch function {
        case .count:
            return p[0]
        case .sum:
            guard n > 0 else { return .nan }
            let sum = DoubleDouble(p[f.sum], p[f.sum + 1]).value
            return sum.isFinite ? sum : AggregateValue.overflow
        case .mean:
            guard n > 0 else { return .nan }
            guard p[f.sum].isFinite else { return AggregateValue.overflow }
            return (DoubleDouble(p[f.sum], p[f.sum + 1]).normalized / n).value
        case .min:
            return n > 0 ? p[f.min] : .nan
        case .max:
            return n > 0 ? p[f.max] : .nan
        case .first:
            return n > 0 ? p[f.first + 1] : .nan
        case .last:
            return n > 0 ? p[f.last + 1] : .nan
        case .stddev:
            guard n >= 2 else { return .nan }
            let sum = DoubleDouble(p[f.sum], p[f.sum + 1]).normalized
            let squares = DoubleDouble(p[f.squares], p[f.squares + 1]).normalized
            let square = sum * sum
            // Σx² and (Σx)² overflow from about 1.3e154; the difference would be
            // inf − inf, which must not read as a deviation of 0.
            guard squares.hi.isFinite, square.hi.isFinite else { return AggregateValue.overflow }
            // (Σx² − (Σx)²/n) / (n − 1), in double-double so the cancellation is harmless.
            let deviation = squares + (-(square / n))
            let variance = (deviation / (n - 1)).value
            return variance > 0 ? variance.squareRoot() : 0
        case .percentile(let q):
            guard n > 0 else { return .nan }
            return sketches![f.sketch].quantile(Double(q) / 100) ?? .nan
        }
    }
}
