//! The bench report format shared by every `bench` in the project
//! (`clusterai_types::bench` in host/types): the same six fields, replicated
//! here so this workspace does not compile the host's shared crate.

use serde::Serialize;

/// One suite's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// The suite name.
    pub suite: String,
    /// One entry per figure.
    pub results: Vec<BenchResult>,
}

/// One figure and the baseline it is compared against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchResult {
    /// The figure's name, e.g. `gas:settle`.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// The measured value.
    pub value: f64,
    /// What the baseline is.
    pub baseline: String,
    /// The baseline's value, measured in the same run.
    pub baseline_value: f64,
    /// `value / baseline_value`.
    pub ratio: f64,
}

impl BenchResult {
    /// A figure with its baseline; the ratio is computed here.
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
    /// A human-readable table, one figure per line.
    pub fn to_table(&self) -> String {
        let mut out = format!("bench {}\n", self.suite);
        for r in &self.results {
            out.push_str(&format!(
                "  {:<28} {:>14.0} {:<7} vs {:<14} {:>12.0}  ratio {:.3}\n",
                r.name, r.value, r.unit, r.baseline, r.baseline_value, r.ratio
            ));
        }
        out
    }
}
