//! Samples and their summaries: percentiles, mean and spread.

use std::time::{Duration, Instant};

/// A summary of timed samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean.
    pub mean: f64,
    /// Fastest sample.
    pub min: f64,
    /// Slowest sample.
    pub max: f64,
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=1).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

impl Summary {
    /// Summarises durations.
    pub fn of(samples: &[Duration]) -> Summary {
        Summary::of_micros(samples.iter().map(|d| d.as_secs_f64() * 1e6).collect())
    }

    /// Summarises values already in microseconds (or any one unit).
    pub fn of_micros(mut v: Vec<f64>) -> Summary {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mean = if n == 0 {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / n as f64
        };
        Summary {
            n,
            p50: percentile(&v, 0.5),
            p90: percentile(&v, 0.9),
            p99: percentile(&v, 0.99),
            mean,
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// The summary in milliseconds.
    pub fn ms(self) -> Summary {
        let k = 1e-3;
        Summary {
            n: self.n,
            p50: self.p50 * k,
            p90: self.p90 * k,
            p99: self.p99 * k,
            mean: self.mean * k,
            min: self.min * k,
            max: self.max * k,
        }
    }
}

/// Runs `f` `rounds` times and returns each run's duration.
pub fn time_each<T>(rounds: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(f());
        out.push(t.elapsed());
    }
    out
}

/// A number with thousands separators (`1234567` → `1,234,567`).
pub fn grouped(n: f64) -> String {
    let s = format!("{:.0}", n.round());
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A value with a sensible number of decimals for a table (3 significant digits, at least 0).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        grouped(v)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of_micros((1..=100).map(f64::from).collect());
        assert_eq!(s.n, 100);
        assert_eq!(s.p50, 51.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 100.0);
        assert!((s.mean - 50.5).abs() < 1e-9);
    }

    #[test]
    fn numbers_are_spelt_for_tables() {
        assert_eq!(grouped(1234567.0), "1,234,567");
        assert_eq!(grouped(-1000.0), "-1,000");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(4321.0), "4,321");
        assert_eq!(num(f64::NAN), "–");
    }
}
