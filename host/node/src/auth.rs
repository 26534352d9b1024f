//! Who may call the API: bearer tokens, stored as their BLAKE3 hash, each
//! with a request rate (a token bucket) and a daily task quota.
//!
//! A node with no tokens configured answers everyone; the config refuses to
//! bind such a node to anything but loopback.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::TokenConfig;

/// The caller of a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `None` on a node without tokens.
    pub token: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one the node does not know.
    Unauthorized(&'static str),
    /// Over the token's request rate; retry after this long.
    RateLimited(Duration),
    /// Over the token's daily task quota; retry after this long.
    QuotaExceeded(Duration),
}

struct Token {
    name: String,
    hash: [u8; 32],
    rate: f64,
    burst: f64,
    tasks_per_day: u64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    day: u64,
    tasks_today: u64,
}

/// The node's tokens.
pub struct Auth {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// A new random token (32 bytes, hex) and the BLAKE3 the config stores.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("cai_{}", hex::encode(bytes));
    let hash = blake3::hash(token.as_bytes()).to_hex().to_string();
    (token, hash)
}

fn today() -> u64 {
    crate::task::now_ms() / 86_400_000
}

fn until_tomorrow() -> Duration {
    let ms = crate::task::now_ms();
    Duration::from_millis(86_400_000 - ms % 86_400_000)
}

impl Auth {
    /// From the config's tokens (whose hashes `NodeConfig::check` validated).
    pub fn new(tokens: &[TokenConfig]) -> Self {
        Self {
            tokens: tokens
                .iter()
                .filter_map(|t| {
                    let hash = t.blake3.parse::<clusterai_types::ContentHash>().ok()?;
                    Some(Token {
                        name: t.name.clone(),
                        hash: *hash.as_bytes(),
                        rate: t.requests_per_second,
                        burst: f64::from(t.burst),
                        tasks_per_day: t.tasks_per_day,
                        bucket: Mutex::new(Bucket {
                            tokens: f64::from(t.burst),
                            at: Instant::now(),
                            day: today(),
                            tasks_today: 0,
                        }),
                    })
                })
                .collect(),
        }
    }

    /// Whether the API needs tokens.
    pub fn required(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Authenticates `authorization` (the header's value) and charges one
    /// request to the token's rate.
    pub fn check(&self, authorization: Option<&str>) -> Result<Caller, Denied> {
        if self.tokens.is_empty() {
            return Ok(Caller { token: None });
        }
        let presented = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(Denied::Unauthorized(
                "this node needs a bearer token (Authorization: Bearer <token>)",
            ))?;
        let hash = blake3::hash(presented.trim().as_bytes());
        // blake3::Hash compares in constant time.
        let token = self
            .tokens
            .iter()
            .find(|t| hash == blake3::Hash::from(t.hash))
            .ok_or(Denied::Unauthorized(
                "the bearer token is not valid on this node",
            ))?;
        let mut b = token.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * token.rate).min(token.burst);
        b.at = now;
        if b.tokens < 1.0 {
            let wait = (1.0 - b.tokens) / token.rate;
            return Err(Denied::RateLimited(Duration::from_secs_f64(wait)));
        }
        b.tokens -= 1.0;
        Ok(Caller {
            token: Some(token.name.clone()),
        })
    }

    /// Charges one task to the caller's daily quota.
    pub fn charge_task(&self, caller: &Caller) -> Result<(), Denied> {
        let Some(name) = &caller.token else {
            return Ok(());
        };
        let Some(token) = self.tokens.iter().find(|t| &t.name == name) else {
            return Ok(());
        };
        let mut b = token.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let day = today();
        if b.day != day {
            b.day = day;
            b.tasks_today = 0;
        }
        if b.tasks_today >= token.tasks_per_day {
            return Err(Denied::QuotaExceeded(until_tomorrow()));
        }
        b.tasks_today += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, token: &str, rps: f64, burst: u32, per_day: u64) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            blake3: blake3::hash(token.as_bytes()).to_hex().to_string(),
            requests_per_second: rps,
            burst,
            tasks_per_day: per_day,
        }
    }

    #[test]
    fn tokens_rates_and_quotas() {
        let auth = Auth::new(&[config("alice", "secret-a", 0.001, 2, 1)]);
        assert!(auth.required());
        assert!(matches!(auth.check(None), Err(Denied::Unauthorized(_))));
        assert!(matches!(
            auth.check(Some("Bearer wrong")),
            Err(Denied::Unauthorized(_))
        ));
        let caller = auth.check(Some("Bearer secret-a")).unwrap();
        assert_eq!(caller.token.as_deref(), Some("alice"));
        auth.check(Some("Bearer secret-a")).unwrap();
        assert!(matches!(
            auth.check(Some("Bearer secret-a")),
            Err(Denied::RateLimited(_))
        ));
        auth.charge_task(&caller).unwrap();
        assert!(matches!(
            auth.charge_task(&caller),
            Err(Denied::QuotaExceeded(_))
        ));
    }

    #[test]
    fn no_tokens_no_checks() {
        let auth = Auth::new(&[]);
        assert_eq!(auth.check(None).unwrap(), Caller { token: None });
        let (token, hash) = new_token();
        assert_eq!(blake3::hash(token.as_bytes()).to_hex().as_str(), hash);
    }
}
