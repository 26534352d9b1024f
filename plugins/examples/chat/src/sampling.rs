//! Choosing the next token from logits: greedy at temperature 0, otherwise
//! temperature and nucleus (top-p) sampling driven by a seeded generator, so
//! that the same seed gives the same tokens on every run.

/// How to pick tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// 0 picks the most likely token; higher flattens the distribution.
    pub temperature: f32,
    /// Sample among the most likely tokens whose probabilities add up to this.
    pub top_p: f32,
    /// Seeds the generator.
    pub seed: u64,
}

/// A token picker.
#[derive(Debug)]
pub struct Sampler {
    params: SamplingParams,
    state: u64,
}

/// Candidates sorted first when top-p is below 1; the full vocabulary is
/// sorted only if these do not reach top-p.
const NUCLEUS_FIRST: usize = 256;

impl Sampler {
    /// A picker with `params`.
    pub fn new(params: SamplingParams) -> Self {
        Self {
            params,
            state: params.seed,
        }
    }

    /// SplitMix64: small, fast and the same everywhere.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next token.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.params.temperature <= 0.0 || logits.len() < 2 {
            return argmax(logits);
        }
        let t = f64::from(self.params.temperature);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let probs: Vec<f64> = logits
            .iter()
            .map(|&l| ((f64::from(l) - f64::from(max)) / t).exp())
            .collect();
        let total: f64 = probs.iter().sum();
        let order = |a: &usize, b: &usize| probs[*b].total_cmp(&probs[*a]).then(a.cmp(b));
        let mut idx: Vec<usize> = (0..probs.len()).collect();
        let top_p = f64::from(self.params.top_p);
        let candidates: &[usize] = if top_p >= 1.0 {
            &idx
        } else {
            let mut k = NUCLEUS_FIRST.min(idx.len());
            loop {
                if k < idx.len() {
                    idx.select_nth_unstable_by(k - 1, order);
                }
                idx[..k].sort_unstable_by(order);
                let mut mass = 0.0;
                let reached = idx[..k].iter().position(|&i| {
                    mass += probs[i];
                    mass >= top_p * total
                });
                match reached {
                    Some(n) => break &idx[..=n],
                    None if k == idx.len() => break &idx[..],
                    None => k = idx.len(),
                }
            }
        };
        let mass: f64 = candidates.iter().map(|&i| probs[i]).sum();
        let mut u = self.next_f64() * mass;
        for &i in candidates {
            u -= probs[i];
            if u < 0.0 {
                return i as u32;
            }
        }
        *candidates.last().unwrap_or(&0) as u32
    }
}

/// The index of the largest value (the first, among equals).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_p: f32, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            top_p,
            seed,
        }
    }

    #[test]
    fn temperature_zero_is_argmax() {
        let mut s = Sampler::new(params(0.0, 1.0, 7));
        assert_eq!(s.sample(&[0.1, 3.0, 2.0, 3.0]), 1);
    }

    #[test]
    fn same_seed_same_tokens_other_seed_other_tokens() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 10.0).collect();
        let run = |seed| {
            let mut s = Sampler::new(params(1.0, 0.95, seed));
            (0..50).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn top_p_keeps_to_the_nucleus() {
        // One token holds almost all the mass: a small top-p always picks it.
        let mut logits = vec![0.0f32; 5000];
        logits[4321] = 30.0;
        let mut s = Sampler::new(params(1.0, 0.5, 3));
        assert!((0..100).all(|_| s.sample(&logits) == 4321));
        // A flat distribution with top-p 1 reaches far beyond the first 256.
        let flat = vec![1.0f32; 5000];
        let mut s = Sampler::new(params(1.0, 1.0, 3));
        assert!((0..200).any(|_| s.sample(&flat) > 1000));
        // ... and with top-p 0.9 as well (the nucleus grows past the first cut).
        let mut s = Sampler::new(params(1.0, 0.9, 3));
        assert!((0..200).any(|_| s.sample(&flat) > 1000));
    }
}
