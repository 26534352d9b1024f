//! The report format of `clusterai bench <suite> --json` (and of the
//! contracts' gas figures).
//!
//! Every figure is printed beside a baseline measured in the same run, with
//! `ratio = value / baseline_value`.

use serde::{Deserialize, Serialize};

/// One suite's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The suite name, as given on the command line (`runtime`, `nn`, ...).
    pub suite: String,
    /// One entry per figure.
    pub results: Vec<BenchResult>,
}

/// One figure and the baseline it is compared against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// The figure's name, e.g. `warm_start_p50`.
    pub name: String,
    /// Its unit, e.g. `us`, `ms`, `MB/s`.
    pub unit: String,
    /// The measured value.
    pub value: f64,
    /// What the baseline is, e.g. `naive_path`.
    pub baseline: String,
    /// The baseline's value in the same unit, measured in the same run.
    pub baseline_value: f64,
    /// `value / baseline_value`.
    pub ratio: f64,
}

impl BenchResult {
    /// A figure with its baseline; the ratio is computed here so it is always consistent.
    pub fn new(
        name: impl Into<String>,
        unit: impl Into<String>,
        value: f64,
        baseline: impl Into<String>,
        baseline_value: f64,
    ) -> Self {
        let ratio = if baseline_value == 0.0 {
            f64::NAN
        } else {
            value / baseline_value
        };
        Self {
            name: name.into(),
            unit: unit.into(),
            value,
            baseline: baseline.into(),
            baseline_value,
            ratio,
        }
    }
}

impl BenchReport {
    /// An empty report for `suite`.
    pub fn new(suite: impl Into<String>) -> Self {
        Self {
            suite: suite.into(),
            results: Vec::new(),
        }
    }

    /// A human-readable table, one figure per line.
    pub fn to_table(&self) -> String {
        let mut out = format!("bench {}\n", self.suite);
        for r in &self.results {
            // Ratios span orders of magnitude (25 us vs 100 ms): keep 3 significant digits.
            let ratio = if r.ratio != 0.0 && r.ratio.abs() < 0.01 {
                format!("{:.2e}", r.ratio)
            } else {
                format!("{:.3}", r.ratio)
            };
            out.push_str(&format!(
                "  {:<28} {:>12.3} {:<6} vs {:<18} {:>12.3}  ratio {ratio}\n",
                r.name, r.value, r.unit, r.baseline, r.baseline_value
            ));
        }
        out
    }
}

/// A duration in µs, the unit of every latency figure.
pub fn micros(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The `p`-th percentile (0..=100) of `samples`, by nearest rank; sorts in place.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_value_over_baseline() {
        let r = BenchResult::new("warm_start_p50", "us", 10.0, "naive_path", 2000.0);
        assert_eq!(r.ratio, 0.005);
        let json = serde_json::to_value(BenchReport {
            suite: "runtime".into(),
            results: vec![r],
        })
        .unwrap();
        assert_eq!(json["results"][0]["baseline_value"], 2000.0);
    }

    #[test]
    fn percentile_by_nearest_rank() {
        let mut s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut s, 50.0), 50.0);
        assert_eq!(percentile(&mut s, 99.0), 99.0);
        assert_eq!(percentile(&mut s, 100.0), 100.0);
    }
}
