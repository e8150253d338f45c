// Double-double arithmetic for sums and sums of squares. Plain floating-point sums depend
// on the order of the addends; carrying the rounding error in a second double makes the
// rounded result independent of arrival order in practice, which the batch promise needs.

/// Error-free transformation: `a + b == s + e` exactly.
@inlinable @inline(__always)
func twoSum(_ a: Double, _ b: Double) -> (s: Double, e: Double) {
    let s = a + b
    let bb = s - a
    return (s, (a - (s - bb)) + (b - bb))
}

/// A value `hi + lo` with about 106 bits of precision.
@usableFromInline
struct DoubleDouble {
    @usableFromInline var hi: Double
    @usableFromInline var lo: Double

    @inlinable init(_ hi: Double, _ lo: Double = 0) {
        self.hi = hi
        self.lo = lo
    }

    /// Renormalised so that `hi` is the correctly rounded value (up to ties at the 2^-106 level).
    @inlinable var normalized: DoubleDouble {
        let (s, e) = twoSum(hi, lo)
        return DoubleDouble(s, e)
    }

    @inlinable static func + (a: DoubleDouble, b: DoubleDouble) -> DoubleDouble {
        let (s, e) = twoSum(a.hi, b.hi)
        let (t, f) = twoSum(a.lo, b.lo)
        let (u, g) = twoSum(s, e + t)
        return DoubleDouble(u, g + f).normalized
    }

    @inlinable static prefix func - (a: DoubleDouble) -> DoubleDouble { DoubleDouble(-a.hi, -a.lo) }

    /// The product of two doubles, exact.
    @inlinable static func product(_ a: Double, _ b: Double) -> DoubleDouble {
        let p = a * b
        return DoubleDouble(p, (-p).addingProduct(a, b))
    }

    @inlinable static func * (a: DoubleDouble, b: Double) -> DoubleDouble {
        let p = product(a.hi, b)
        return DoubleDouble(p.hi, p.lo + a.lo * b).normalized
    }

    /// Two quotient terms, accurate to about 2^-104 relative (QD's `dd_real / double`), which
    /// is more than a mean or deviation rounded to a double (`value`) needs. The third term
    /// this used to add cost a division and a renormalisation, and a result with three
    /// comparisons finishes four means (bench history: finishing took half the time).
    @inlinable static func / (a: DoubleDouble, b: Double) -> DoubleDouble {
        let q1 = a.hi / b
        let p = product(q1, b)
        let (s, e) = twoSum(a.hi, -p.hi)
        let q2 = (s + (e + a.lo - p.lo)) / b
        return DoubleDouble(q1, q2).normalized
    }

    @inlinable static func * (a: DoubleDouble, b: DoubleDouble) -> DoubleDouble {
        let p = product(a.hi, b.hi)
        return DoubleDouble(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi)).normalized
    }

    @inlinable var value: Double { hi + lo }
}
