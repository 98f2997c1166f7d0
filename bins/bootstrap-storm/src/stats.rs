//! Percentiles of latency samples.

use serde::Serialize;

/// p50/p90/p99/max of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// Nearest-rank percentiles of `seconds` (any order); all zero when empty.
    pub fn of(seconds: &[f64]) -> Summary {
        if seconds.is_empty() {
            return Summary::default();
        }
        let mut sorted = seconds.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1] * 1000.0
        };
        Summary {
            count: sorted.len(),
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: sorted[sorted.len() - 1] * 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(|i| f64::from(i) / 1000.0).collect();
        let s = Summary::of(&samples);
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 1e-9);
        assert!((s.p90_ms - 90.0).abs() < 1e-9);
        assert!((s.p99_ms - 99.0).abs() < 1e-9);
        assert!((s.max_ms - 100.0).abs() < 1e-9);
    }

    #[test]
    fn one_and_none() {
        assert_eq!(Summary::of(&[]), Summary::default());
        let one = Summary::of(&[0.25]);
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (250.0, 250.0, 250.0));
    }
}
