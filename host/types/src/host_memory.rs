//! [`HostMemory`]: the bytes a task makes the host hold outside its
//! sandbox, counted against the task's one `max_host_memory_bytes`.
//!
//! The sandbox bounds the guest's own linear memory; this budget bounds
//! everything else the guest can make the host keep for it: tensors handed
//! to wasi-nn and the outputs of its computes, ONNX Runtime's working memory
//! while a compute runs, log lines, and the output. Each of those also has a
//! finer limit of its own; this one caps their sum, so no mix of them takes
//! more than the task's budget. The runtime creates one per task and hands
//! clones to the capabilities, which share the count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One task's host-memory count and budget. Clones share the count.
#[derive(Debug, Clone)]
pub struct HostMemory {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: u64,
    held: AtomicU64,
    peak: AtomicU64,
}

/// Bytes that would take a task past its host-memory budget; nothing was
/// held for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} of {bytes} bytes would take the host memory this task holds to {total} bytes, over \
     the task's budget of {limit} bytes (max_host_memory_bytes)"
)]
pub struct HostMemoryExceeded {
    /// What was refused ("a tensor", "a log line", ...).
    pub what: &'static str,
    /// Its size.
    pub bytes: u64,
    /// What the task would have held with it.
    pub total: u64,
    /// The budget.
    pub limit: u64,
}

impl HostMemory {
    /// A budget of `limit` bytes, nothing held yet.
    pub fn new(limit: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                held: AtomicU64::new(0),
                peak: AtomicU64::new(0),
            }),
        }
    }

    /// The budget.
    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// The most bytes held at once so far, working memory of computes
    /// included.
    pub fn peak(&self) -> u64 {
        self.inner.peak.load(Ordering::Relaxed)
    }

    /// Bytes that may still be held.
    pub fn available(&self) -> u64 {
        self.inner.limit.saturating_sub(self.held())
    }

    /// Holds `bytes` more for `what`, or refuses them (holding nothing)
    /// when the total would pass the budget. A total exactly at the budget
    /// is allowed.
    pub fn try_hold(&self, bytes: u64, what: &'static str) -> Result<(), HostMemoryExceeded> {
        let mut held = self.held();
        loop {
            let total = held.saturating_add(bytes);
            if total > self.inner.limit {
                return Err(HostMemoryExceeded {
                    what,
                    bytes,
                    total,
                    limit: self.inner.limit,
                });
            }
            match self.inner.held.compare_exchange_weak(
                held,
                total,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.inner.peak.fetch_max(total, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => held = now,
            }
        }
    }

    /// Gives back `bytes` held earlier.
    pub fn release(&self, bytes: u64) {
        // Never below zero, even if a caller releases more than it held.
        let _ = self
            .inner
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(bytes))
            });
    }

    /// Records that `bytes` more were held for a while and are given back
    /// (a compute's working memory, counted by its own meter): they count
    /// towards the peak only.
    pub fn note_transient(&self, bytes: u64) {
        let total = self.held().saturating_add(bytes);
        self.inner.peak.fetch_max(total, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_the_budget_exactly_and_refuses_past_it() {
        let m = HostMemory::new(100);
        m.try_hold(60, "a tensor").unwrap();
        m.try_hold(40, "a log line").unwrap();
        assert_eq!(m.held(), 100);
        let e = m.try_hold(1, "a tensor").unwrap_err();
        assert_eq!(
            e,
            HostMemoryExceeded {
                what: "a tensor",
                bytes: 1,
                total: 101,
                limit: 100
            }
        );
        assert!(e.to_string().contains("max_host_memory_bytes"), "{e}");
        // The refusal held nothing.
        assert_eq!(m.held(), 100);
        m.release(60);
        assert_eq!(m.available(), 60);
        m.try_hold(60, "a tensor").unwrap();
        assert_eq!(m.peak(), 100);
    }

    #[test]
    fn clones_share_the_count_and_transients_count_towards_the_peak() {
        let m = HostMemory::new(1 << 20);
        let nn = m.clone();
        nn.try_hold(1000, "a tensor").unwrap();
        assert_eq!(m.held(), 1000);
        m.note_transient(5000);
        assert_eq!(m.peak(), 6000);
        assert_eq!(m.held(), 1000);
        nn.release(5000);
        assert_eq!(m.held(), 0, "a release never goes below zero");
    }

    #[test]
    fn threads_holding_at_once_never_pass_the_budget() {
        let m = HostMemory::new(1000);
        let held: u64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let m = m.clone();
                    s.spawn(move || (0..500).filter(|_| m.try_hold(3, "x").is_ok()).count())
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap() as u64).sum()
        });
        assert_eq!(held * 3, m.held());
        assert_eq!(m.held(), 999);
    }
}
