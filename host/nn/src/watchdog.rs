//! Per-call deadlines: one thread per host that terminates ONNX Runtime runs
//! whose deadline has passed (through their `RunOptions`).
//!
//! A thread per call would cost more than a small model's whole run; one
//! watchdog thread sleeping until the earliest deadline costs a lock and a
//! wake-up per call.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

use ort::session::RunOptions;

#[derive(Default)]
struct State {
    /// (deadline, id) -> the run to terminate.
    pending: BTreeMap<(Instant, u64), Arc<RunOptions>>,
    next_id: u64,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// Terminates registered runs at their deadlines.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog").finish_non_exhaustive()
    }
}

/// Unregisters its run when dropped (the run finished in time or not).
pub(crate) struct Armed {
    shared: Weak<Shared>,
    key: (Instant, u64),
}

impl Watchdog {
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("clusterai-nn-watchdog".into())
            .spawn(move || run(weak))?;
        Ok(Self { shared })
    }

    /// Terminates `run` if it is still registered at `deadline`.
    pub(crate) fn arm(&self, deadline: Instant, run: Arc<RunOptions>) -> Armed {
        let mut st = lock(&self.shared.state);
        let id = st.next_id;
        st.next_id += 1;
        let key = (deadline, id);
        let earliest = st.pending.keys().next().is_none_or(|k| key < *k);
        st.pending.insert(key, run);
        drop(st);
        if earliest {
            self.shared.wake.notify_one();
        }
        Armed {
            shared: Arc::downgrade(&self.shared),
            key,
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            lock(&shared.state).pending.remove(&self.key);
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(weak: Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let mut st = lock(&shared.state);
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        // Terminate everything that is due.
        while let Some((&key, _)) = st.pending.iter().next() {
            if key.0 > now {
                break;
            }
            if let Some(run) = st.pending.remove(&key)
                && let Err(e) = run.terminate()
            {
                tracing::warn!("could not terminate an ONNX Runtime run at its deadline: {e}");
            }
        }
        let wait = st
            .pending
            .keys()
            .next()
            .map(|k| k.0.saturating_duration_since(now));
        let st = match wait {
            Some(d) => shared
                .wake
                .wait_timeout(st, d)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0),
            None => shared
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
        drop(st);
        // `shared` is dropped here so that the host can go away while we sleep
        // only between iterations; a host drop sets `shutdown` and wakes us.
        drop(shared);
    }
}
