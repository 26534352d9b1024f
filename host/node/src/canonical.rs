//! The canonical form in which a task's output is compared on chain.
//!
//! Nodes vote on the BLAKE3 of an output, so honest nodes must produce the
//! same bytes. Exact bytes are the default. A plugin whose outputs carry
//! scores that may differ in the last digits between machines (another
//! CPU, a GPU) declares a coarser form as a parameter of the output type
//! it describes, in the usual MIME syntax:
//!
//! - `canonical=exact`: the bytes as they are (the default);
//! - `canonical=round-N` (N from 0 to 12): the output is JSON; every number
//!   is rounded to N decimal places, and the JSON written again with sorted
//!   keys and no spaces;
//! - `canonical=top-K` (K from 1 to 100): the output is JSON, a list of
//!   objects with a `label` (or an object whose `labels` is one), best
//!   first; only the first K labels count, in order.
//!
//! e.g. `application/json; canonical=round-3`. The receipt still names the
//! exact output; only the vote is on the canonical form.

use serde_json::Value;

/// How outputs are compared (written as in the `canonical` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Canonical {
    /// Exact bytes.
    #[default]
    Exact,
    /// JSON with numbers rounded to this many decimal places.
    Round(u8),
    /// The first this many labels of a ranked JSON list.
    TopK(u8),
}

impl Canonical {
    /// The form an output type declares: `Exact` without a `canonical`
    /// parameter, an error naming it when the parameter is malformed.
    pub fn of_output_type(content_type: &str) -> Result<Self, String> {
        let Some(value) = content_type.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("canonical")).then(|| v.trim().trim_matches('"'))
        }) else {
            return Ok(Canonical::Exact);
        };
        value
            .parse()
            .map_err(|e| format!("{e} (in output type {content_type:?})"))
    }

    /// The bytes whose hash is voted on.
    pub fn apply(self, output: &[u8]) -> Result<Vec<u8>, String> {
        let json = || -> Result<Value, String> {
            serde_json::from_slice(output)
                .map_err(|e| format!("the output is not the JSON its canonical form needs: {e}"))
        };
        match self {
            Canonical::Exact => Ok(output.to_vec()),
            Canonical::Round(places) => {
                let mut v = json()?;
                round(&mut v, places);
                Ok(serde_json::to_vec(&v).expect("JSON values serialise"))
            }
            Canonical::TopK(k) => {
                let v = json()?;
                let list = match &v {
                    Value::Array(items) => items,
                    Value::Object(o) => match o.get("labels") {
                        Some(Value::Array(items)) => items,
                        _ => return Err("top-K needs a list, or an object with `labels`".into()),
                    },
                    _ => return Err("top-K needs a list, or an object with `labels`".into()),
                };
                let labels = list
                    .iter()
                    .take(usize::from(k))
                    .map(|item| {
                        item.get("label")
                            .cloned()
                            .ok_or_else(|| "a ranked item without a `label`".to_owned())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(serde_json::to_vec(&labels).expect("JSON values serialise"))
            }
        }
    }
}

impl std::str::FromStr for Canonical {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "canonical={value:?}: expected exact, round-N (N 0 to 12) or top-K (K 1 to 100)"
            )
        };
        if value == "exact" {
            return Ok(Canonical::Exact);
        }
        if let Some(n) = value.strip_prefix("round-") {
            return match n.parse::<u8>() {
                Ok(n) if n <= 12 => Ok(Canonical::Round(n)),
                _ => Err(bad()),
            };
        }
        if let Some(k) = value.strip_prefix("top-") {
            return match k.parse::<u8>() {
                Ok(k) if (1..=100).contains(&k) => Ok(Canonical::TopK(k)),
                _ => Err(bad()),
            };
        }
        Err(bad())
    }
}

impl std::fmt::Display for Canonical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Canonical::Exact => f.write_str("exact"),
            Canonical::Round(n) => write!(f, "round-{n}"),
            Canonical::TopK(k) => write!(f, "top-{k}"),
        }
    }
}

/// Rounds every number in `v` to `places` decimal places (integers stay).
fn round(v: &mut Value, places: u8) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().expect("an f64");
            let scale = 10f64.powi(i32::from(places));
            let r = (x * scale).round() / scale;
            // -0.0 and 0.0 are one value.
            let r = if r == 0.0 { 0.0 } else { r };
            if let Some(n) = serde_json::Number::from_f64(r) {
                *v = Value::Number(n);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| round(i, places)),
        Value::Object(o) => o.values_mut().for_each(|i| round(i, places)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_types_declare_their_form() {
        for (ct, form) in [
            ("application/json", Canonical::Exact),
            ("text/plain; charset=utf-8", Canonical::Exact),
            ("application/json; canonical=exact", Canonical::Exact),
            ("application/json; canonical=round-3", Canonical::Round(3)),
            ("application/json;Canonical=\"top-5\"", Canonical::TopK(5)),
        ] {
            assert_eq!(Canonical::of_output_type(ct), Ok(form), "{ct}");
        }
        for bad in ["round-13", "round-x", "top-0", "top-101", "median"] {
            let err = Canonical::of_output_type(&format!("application/json; canonical={bad}"))
                .unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn outputs_that_differ_in_the_last_digits_agree_when_rounded() {
        let a = br#"{"score": 0.98024, "label": "cat", "n": 3}"#;
        let b = br#"{"n":3,"label":"cat","score":0.98036}"#;
        let c = br#"{"n":3,"label":"cat","score":0.97}"#;
        let r3 = Canonical::Round(3);
        assert_eq!(r3.apply(a).unwrap(), r3.apply(b).unwrap());
        assert_ne!(r3.apply(a).unwrap(), r3.apply(c).unwrap());
        // Finer than the difference: they disagree.
        let r4 = Canonical::Round(4);
        assert_ne!(r4.apply(a).unwrap(), r4.apply(b).unwrap());
        // Exact is exact.
        assert_ne!(Canonical::Exact.apply(a), Canonical::Exact.apply(b));
        assert_eq!(Canonical::Round(0).apply(b"-0.2").unwrap(), b"0.0");
        assert!(r3.apply(b"not json").unwrap_err().contains("not the JSON"));
    }

    #[test]
    fn ranked_labels_agree_on_the_first_k() {
        let a = br#"[{"label":"cat","score":0.91},{"label":"dog","score":0.05},{"label":"fox","score":0.01}]"#;
        let b = br#"{"labels":[{"label":"cat","score":0.89},{"label":"dog","score":0.07},{"label":"owl","score":0.02}]}"#;
        let top2 = Canonical::TopK(2);
        assert_eq!(top2.apply(a).unwrap(), br#"["cat","dog"]"#);
        assert_eq!(top2.apply(a).unwrap(), top2.apply(b).unwrap());
        assert_ne!(
            Canonical::TopK(3).apply(a).unwrap(),
            Canonical::TopK(3).apply(b).unwrap()
        );
        assert!(top2.apply(br#"{"x":1}"#).is_err());
        assert!(
            top2.apply(br#"[{"name":"cat"}]"#)
                .unwrap_err()
                .contains("label")
        );
    }
}
