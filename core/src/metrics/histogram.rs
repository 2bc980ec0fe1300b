//! A fixed-memory, log-linear latency histogram (HdrHistogram-like).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// log2 of the number of linear sub-buckets per power of two.
const SUB_BITS: u32 = 4;
/// Linear sub-buckets per power of two (relative bucket width ≤ 1/16).
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// The largest power of two (in µs) that gets its own row of sub-buckets.
const MAX_EXP: u32 = 36;
/// Number of counters in every histogram.
pub const BUCKET_COUNT: usize = (SUB_COUNT + (MAX_EXP - SUB_BITS + 1) as u64 * SUB_COUNT) as usize;
/// The largest latency (in µs) that lands in its own bucket; larger values are clamped into the
/// last bucket (but still counted exactly in `sum` and `max`).
pub const MAX_TRACKABLE_MICROS: u64 = (1 << (MAX_EXP + 1)) - 1;

/// Bucket index of a value in whole microseconds.
fn index_of(us: u64) -> usize {
    let us = us.min(MAX_TRACKABLE_MICROS);
    if us < SUB_COUNT {
        return us as usize;
    }
    let exp = us.ilog2(); // ≥ SUB_BITS
    let shift = exp - SUB_BITS;
    let sub = (us >> shift) - SUB_COUNT; // 0..SUB_COUNT
    (SUB_COUNT + u64::from(shift) * SUB_COUNT + sub) as usize
}

/// Lower edge (inclusive) of bucket `i`, in µs.
fn lower_edge(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB_COUNT {
        return i;
    }
    let row = (i - SUB_COUNT) / SUB_COUNT;
    let sub = (i - SUB_COUNT) % SUB_COUNT;
    (SUB_COUNT + sub) << row
}

/// Width of bucket `i`, in µs.
fn width(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB_COUNT {
        1
    } else {
        1 << ((i - SUB_COUNT) / SUB_COUNT)
    }
}

/// Upper edge (exclusive) of bucket `i`, in µs: every duration recorded in it is `< upper_edge`.
fn upper_edge(i: usize) -> u64 {
    lower_edge(i) + width(i)
}

fn nanos_u64(d: Duration) -> u64 {
    d.as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

fn micros_u64(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn duration_from_nanos_u128(ns: u128) -> Duration {
    let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (ns % 1_000_000_000) as u32)
}

/// The 1-based nearest rank of quantile `q` among `n` samples: `ceil(q·n)` clamped to `1..=n`.
pub(crate) fn nearest_rank(q: f64, n: u64) -> u64 {
    let r = (q * n as f64).ceil();
    if r.is_nan() || r < 1.0 {
        1
    } else if r >= n as f64 {
        n
    } else {
        r as u64
    }
}

/// A fixed-memory, log-linear latency histogram (HdrHistogram-like).
///
/// Latencies are bucketed by whole microseconds:
///
/// ```text
///  value (µs)            bucket width   buckets
///  0 ..= 15              1 µs           16        (exact)
///  16 ..= 31             1 µs           16
///  32 ..= 63             2 µs           16
///  ...                   ...            ...
///  2^36 ..= 2^37 - 1     2^32 µs        16        (≈ 19 h .. 38 h; larger values clamp here)
/// ```
///
/// Every power of two from 2^4 to 2^36 µs is split into 16 equal sub-buckets, so a bucket is
/// never wider than 1/16 of its lower edge: [`BUCKET_COUNT`] counters in one fixed array, no
/// allocation when recording. [`Histogram::quantile`] answers with the middle of the bucket that
/// holds the nearest-rank sample (clamped to the exact min and max), so its error is at most
/// **1/32 (3.125 %) of the true sample value, or 0.5 µs**, whichever is larger.
///
/// Count, sum, min and max are kept exactly (nanosecond resolution), independent of the buckets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "HistogramRepr", try_from = "HistogramRepr")]
pub struct Histogram {
    /// Boxed so that moving a histogram (or a struct holding one) copies a pointer, not 4 KiB.
    counts: Box<[u64; BUCKET_COUNT]>,
    count: u64,
    sum_nanos: u128,
    min_nanos: u64,
    max_nanos: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("sum", &self.sum())
            .field("min", &self.min())
            .field("max", &self.max())
            .field("nonzero_buckets", &self.buckets().count())
            .finish_non_exhaustive()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: Box::new([0; BUCKET_COUNT]),
            count: 0,
            sum_nanos: 0,
            min_nanos: u64::MAX,
            max_nanos: 0,
        }
    }

    /// Records one latency. Never allocates.
    pub fn record(&mut self, latency: Duration) {
        // One conversion: below ~584 years the nanoseconds fit a u64, and whole microseconds
        // are then exactly ns / 1000 (what `as_micros` gives); beyond, both saturate.
        let ns = nanos_u64(latency);
        let us = if ns == u64::MAX {
            micros_u64(latency)
        } else {
            ns / 1000
        };
        let i = index_of(us);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.count = self.count.saturating_add(1);
        self.sum_nanos = self.sum_nanos.saturating_add(u128::from(ns));
        self.min_nanos = self.min_nanos.min(ns);
        self.max_nanos = self.max_nanos.max(ns);
    }

    /// Number of recorded latencies.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// `true` when nothing was recorded.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Exact sum of the recorded latencies (saturating).
    pub fn sum(&self) -> Duration {
        duration_from_nanos_u128(self.sum_nanos)
    }

    /// Exact smallest recorded latency.
    pub fn min(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.min_nanos))
    }

    /// Exact largest recorded latency.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.max_nanos))
    }

    /// Exact arithmetic mean (to the nanosecond).
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| duration_from_nanos_u128(self.sum_nanos / u128::from(self.count)))
    }

    /// The `q`-quantile (nearest rank, `q` in `[0, 1]`, clamped), e.g. `0.99` for p99.
    ///
    /// `q = 0` and `q = 1` return the exact min and max. Otherwise the answer is the middle of
    /// the bucket holding the `ceil(q·count)`-th smallest sample, clamped to `[min, max]`: within
    /// 1/32 of the true sample or 0.5 µs, whichever is larger. `None` when empty or `q` is NaN.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 || q.is_nan() {
            return None;
        }
        if q <= 0.0 {
            return self.min();
        }
        if q >= 1.0 {
            return self.max();
        }
        let rank = nearest_rank(q, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(c);
            if seen >= rank {
                let mid_ns = lower_edge(i)
                    .saturating_mul(1_000)
                    .saturating_add(width(i).saturating_mul(500));
                let est = mid_ns.clamp(self.min_nanos, self.max_nanos);
                return Some(Duration::from_nanos(est));
            }
        }
        // Counts add up to `count` unless a counter saturated; fall back to the exact max.
        self.max()
    }

    /// Adds every observation of `other` into `self`: the result equals recording both sets.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
        self.min_nanos = self.min_nanos.min(other.min_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    /// Cumulative counts for Prometheus `le` buckets: for each upper bound (in seconds, any
    /// order), the number of observations **≤ bound**, computed conservatively from our bucket
    /// edges.
    ///
    /// A sub-bucket is counted only if every duration it can hold is ≤ the bound (its exclusive
    /// upper edge ≤ bound), so the answer is exact when the bound falls on a sub-bucket edge and
    /// otherwise may leave out observations from the one sub-bucket straddling the bound (at most
    /// 1/16 of the bound away from it). A bound at or above the exact max gives `count` (so does
    /// `+∞`); NaN gives 0. The result is monotone in the bound.
    pub fn cumulative_at(&self, bounds_seconds: &[f64]) -> Vec<u64> {
        let mut out = vec![0u64; bounds_seconds.len()];
        // Visit bounds in increasing order while sweeping the buckets once.
        let mut order: Vec<usize> = (0..bounds_seconds.len()).collect();
        order.sort_by(|&a, &b| bounds_seconds[a].total_cmp(&bounds_seconds[b]));
        let mut bucket = 0usize;
        let mut cumulative = 0u64;
        for pos in order {
            let bound = bounds_seconds[pos];
            if bound.is_nan() {
                out[pos] = 0;
                continue;
            }
            // Every observation is ≤ max, so a bound at or above the exact max is exact.
            if bound == f64::INFINITY || (self.count > 0 && bound * 1e9 >= self.max_nanos as f64) {
                out[pos] = self.count;
                continue;
            }
            let bound_us = bound * 1e6;
            while bucket < BUCKET_COUNT && (upper_edge(bucket) as f64) <= bound_us {
                cumulative = cumulative.saturating_add(self.counts[bucket]);
                bucket += 1;
            }
            // The last bucket also holds clamped values above MAX_TRACKABLE_MICROS.
            out[pos] = if bucket == BUCKET_COUNT && bound_us < nanos_to_us_f64(self.max_nanos) {
                cumulative.saturating_sub(self.counts[BUCKET_COUNT - 1])
            } else {
                cumulative
            };
        }
        out
    }

    /// Non-empty buckets in increasing order: `(lower edge inclusive, upper edge exclusive, count)`.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, Duration, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                (
                    Duration::from_micros(lower_edge(i)),
                    Duration::from_micros(upper_edge(i)),
                    c,
                )
            })
    }
}

fn nanos_to_us_f64(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// The serialized form of a [`Histogram`]: exact count, sum/min/max in seconds and the non-empty
/// buckets as `[lower_edge_micros, upper_edge_micros, count]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct HistogramRepr {
    count: u64,
    sum_seconds: f64,
    min_seconds: Option<f64>,
    max_seconds: Option<f64>,
    buckets: Vec<[u64; 3]>,
}

impl From<Histogram> for HistogramRepr {
    fn from(h: Histogram) -> Self {
        HistogramRepr {
            count: h.count,
            sum_seconds: h.sum().as_secs_f64(),
            min_seconds: h.min().map(|d| d.as_secs_f64()),
            max_seconds: h.max().map(|d| d.as_secs_f64()),
            buckets: h
                .counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, &c)| [lower_edge(i), upper_edge(i), c])
                .collect(),
        }
    }
}

/// Why a serialized histogram was rejected.
#[derive(Debug)]
struct BadHistogram(&'static str);

impl std::fmt::Display for BadHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid histogram: {}", self.0)
    }
}

fn secs_to_nanos(s: f64) -> Result<u64, BadHistogram> {
    if !s.is_finite() || s < 0.0 {
        return Err(BadHistogram("negative or non-finite duration"));
    }
    Ok(Duration::try_from_secs_f64(s).map_or(u64::MAX, nanos_u64))
}

impl TryFrom<HistogramRepr> for Histogram {
    type Error = BadHistogram;

    fn try_from(r: HistogramRepr) -> Result<Self, Self::Error> {
        let mut h = Histogram::new();
        let mut total = 0u64;
        for [lower, upper, c] in r.buckets {
            let i = index_of(lower);
            if lower_edge(i) != lower || upper_edge(i) != upper {
                return Err(BadHistogram("bucket edges do not match the layout"));
            }
            h.counts[i] = h.counts[i].saturating_add(c);
            total = total.saturating_add(c);
        }
        if total != r.count {
            return Err(BadHistogram("bucket counts do not add up to count"));
        }
        h.count = r.count;
        h.sum_nanos = u128::from(secs_to_nanos(r.sum_seconds)?);
        if r.count > 0 {
            h.min_nanos = secs_to_nanos(r.min_seconds.unwrap_or(0.0))?;
            h.max_nanos = secs_to_nanos(r.max_seconds.unwrap_or(0.0))?;
        }
        Ok(h)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are intended
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn layout_is_contiguous_and_bounded() {
        assert_eq!(BUCKET_COUNT, 544);
        assert_eq!(lower_edge(0), 0);
        for i in 1..BUCKET_COUNT {
            assert_eq!(lower_edge(i), upper_edge(i - 1), "gap before bucket {i}");
            // relative width ≤ 1/16 from the linear region on
            if lower_edge(i) >= SUB_COUNT {
                assert!(width(i) * 16 <= lower_edge(i), "bucket {i} too wide");
            }
        }
        assert_eq!(upper_edge(BUCKET_COUNT - 1), MAX_TRACKABLE_MICROS + 1);
        for v in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            1000,
            4999,
            5000,
            123_456_789,
            MAX_TRACKABLE_MICROS,
        ] {
            let i = index_of(v);
            assert!(
                lower_edge(i) <= v && v < upper_edge(i),
                "value {v} not in bucket {i}"
            );
        }
        assert_eq!(index_of(u64::MAX), BUCKET_COUNT - 1);
    }

    #[test]
    fn exact_stats() {
        let mut h = Histogram::new();
        assert!(h.is_empty());
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.min(), None);
        assert_eq!(h.mean(), None);
        for ms in [10, 20, 30, 40] {
            h.record(Duration::from_millis(ms));
        }
        h.record(Duration::from_nanos(1_500)); // sub-µs precision kept in sum/min
        assert_eq!(h.count(), 5);
        assert_eq!(h.sum(), Duration::from_nanos(100_001_500));
        assert_eq!(h.min(), Some(Duration::from_nanos(1_500)));
        assert_eq!(h.max(), Some(Duration::from_millis(40)));
        assert_eq!(h.mean(), Some(Duration::from_nanos(20_000_300)));
        assert_eq!(h.quantile(0.0), h.min());
        assert_eq!(h.quantile(1.0), h.max());
        assert_eq!(h.quantile(f64::NAN), None);
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        assert!((p50 - 0.020).abs() <= 0.020 / 32.0, "p50 {p50}");
    }

    #[test]
    fn huge_values_saturate_without_panic() {
        let mut h = Histogram::new();
        h.record(Duration::MAX);
        h.record(Duration::from_secs(1));
        assert_eq!(h.count(), 2);
        assert_eq!(h.max(), Some(Duration::from_nanos(u64::MAX)));
        assert_eq!(
            h.cumulative_at(&[1.0, 1e9, 1e12, f64::INFINITY]),
            vec![0, 1, 2, 2]
        );
        assert!(h.quantile(0.99).is_some());
    }

    #[test]
    fn cumulative_is_conservative_and_monotone() {
        let mut h = Histogram::new();
        // 5 ms exactly falls inside the bucket [4864, 5120) µs, which straddles 5 ms.
        for v in [100, 1_000, 4_000, 5_000, 9_000, 2_000_000] {
            h.record(us(v));
        }
        let bounds = [
            0.0,
            0.000_1,
            0.001,
            0.005,
            0.01,
            1.0,
            10.0,
            f64::INFINITY,
            f64::NAN,
        ];
        let c = h.cumulative_at(&bounds);
        // The bucket of 100 µs is [100, 104): not entirely ≤ 100 µs, so conservatively 0.
        assert_eq!(c, vec![0, 0, 1, 3, 5, 5, 6, 6, 0]);
        // a bound on an exact edge (104 µs) includes the [100, 104) bucket
        assert_eq!(h.cumulative_at(&[0.000_104]), vec![1]);
        // unsorted bounds give the same per-bound answers
        assert_eq!(h.cumulative_at(&[10.0, 0.005, 0.001]), vec![6, 3, 1]);
        // a bound equal to the exact max counts everything, although its bucket straddles it
        assert_eq!(h.cumulative_at(&[1.99, 2.0]), vec![5, 6]);
    }

    #[test]
    fn serde_round_trip() {
        let mut h = Histogram::new();
        for v in [3, 70, 70, 900, 12_345_678] {
            h.record(us(v));
        }
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains("\"count\":5"), "{json}");
        assert!(
            json.contains("[64,68,1]") || json.contains("[68,72,2]"),
            "{json}"
        );
        let back: Histogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back.count(), 5);
        assert_eq!(back.counts, h.counts);
        assert_eq!(back.min(), h.min());
        assert_eq!(back.max(), h.max());
        assert_eq!(back.sum(), h.sum());
        let bad = r#"{"count":1,"sum_seconds":0.0,"min_seconds":0.0,"max_seconds":0.0,"buckets":[[5,7,1]]}"#;
        assert!(serde_json::from_str::<Histogram>(bad).is_err());
        let bad = r#"{"count":2,"sum_seconds":0.0,"min_seconds":0.0,"max_seconds":0.0,"buckets":[[5,6,1]]}"#;
        assert!(serde_json::from_str::<Histogram>(bad).is_err());
    }

    proptest! {
        #[test]
        fn quantile_within_error_bound(
            samples in prop::collection::vec(0u64..5_000_000_000, 1..400),
            q in 0.0f64..=1.0,
        ) {
            let mut h = Histogram::new();
            for &s in &samples {
                h.record(us(s));
            }
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let rank = nearest_rank(q, sorted.len() as u64);
            let exact_us = sorted[(rank - 1) as usize] as f64;
            let est_us = h.quantile(q).unwrap().as_nanos() as f64 / 1_000.0;
            let bound = (exact_us / 32.0).max(0.5) + 0.001;
            prop_assert!((est_us - exact_us).abs() <= bound,
                "q={q} exact={exact_us} est={est_us} bound={bound}");
        }

        #[test]
        fn merge_equals_recording_all(
            a in prop::collection::vec(0u64..u64::MAX / 2, 0..100),
            b in prop::collection::vec(0u64..10_000_000, 0..100),
        ) {
            let mut ha = Histogram::new();
            let mut hb = Histogram::new();
            let mut all = Histogram::new();
            for &v in &a { ha.record(Duration::from_nanos(v)); all.record(Duration::from_nanos(v)); }
            for &v in &b { hb.record(us(v)); all.record(us(v)); }
            ha.merge(&hb);
            prop_assert!(ha == all);
        }

        #[test]
        fn cumulative_monotone_and_bounded(
            samples in prop::collection::vec(0u64..100_000_000, 0..200),
            mut bounds in prop::collection::vec(0.0f64..200.0, 1..20),
        ) {
            let mut h = Histogram::new();
            for &s in &samples { h.record(us(s)); }
            bounds.sort_by(f64::total_cmp);
            bounds.push(f64::INFINITY);
            let c = h.cumulative_at(&bounds);
            prop_assert_eq!(*c.last().unwrap(), h.count());
            for w in c.windows(2) { prop_assert!(w[0] <= w[1]); }
            // conservative: never more than the exact number of samples ≤ bound
            for (bound, got) in bounds.iter().zip(&c) {
                let exact = samples.iter().filter(|&&s| (s as f64) <= bound * 1e6).count() as u64;
                prop_assert!(*got <= exact, "bound {} got {} exact {}", bound, got, exact);
            }
        }
    }
}
