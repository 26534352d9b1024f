//! Per-call deadlines: one thread per host that terminates ONNX Runtime runs
//! whose deadline has passed (through their `RunOptions`).
//!
//! A thread per call would cost more than a small model's whole run. One
//! watchdog thread sleeps until the earliest deadline, and at most
//! [`IDLE_TICK`] at a time; registering a run wakes it only when the new
//! deadline comes before its next wake-up, so with deadlines seconds away
//! (the common case) a call costs one uncontended lock and no wake-up.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use ort::session::RunOptions;

/// The longest the watchdog sleeps between looks at its table.
const IDLE_TICK: Duration = Duration::from_millis(500);

struct State {
    /// (deadline, id) -> the run to terminate.
    pending: BTreeMap<(Instant, u64), Arc<RunOptions>>,
    next_id: u64,
    /// When the watchdog thread will next look, whatever happens.
    next_wake: Instant,
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
            state: Mutex::new(State {
                pending: BTreeMap::new(),
                next_id: 0,
                next_wake: Instant::now(),
                shutdown: false,
            }),
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
        let wake = deadline < st.next_wake;
        st.pending.insert(key, run);
        drop(st);
        if wake {
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
        let wait = st.pending.keys().next().map_or(IDLE_TICK, |k| {
            k.0.saturating_duration_since(now).min(IDLE_TICK)
        });
        st.next_wake = now + wait;
        let st = shared
            .wake
            .wait_timeout(st, wait)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
        drop(st);
        // A host drop sets `shutdown` and wakes us; the next upgrade fails
        // once the last `Watchdog` is gone.
        drop(shared);
    }
}
