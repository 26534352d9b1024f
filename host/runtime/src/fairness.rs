//! Short tasks first: a task that has run longer than the runtime's
//! `long_task_after` naps while a fresh task runs, so plugins that burn
//! their whole budget (a spin to the deadline, a slow describe()) cannot
//! take the CPU from quick paying tasks beside them. A task of a plugin
//! whose last task broke a limit (a suspect), or that has yet to finish a
//! task, naps like a long one from its first tick: short hostile tasks (a
//! memory bomb, a stack overflow) repeat, and each would otherwise take its
//! first tens of milliseconds at full speed.
//!
//! Every task's epoch callback runs here (each tick once the task is long).
//! It also enforces the deadline, by the clock rather than by counting
//! ticks, so a task that napped is still stopped on time. A long task runs
//! at full speed whenever no fresh task is running; under contention it
//! gets at most one tick in [`MAX_NAP`] + 1. Time inside a host call (an
//! ONNX Runtime compute) is not interrupted: the task naps at its next tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

/// The longest a long task naps before it runs another tick.
pub(crate) const MAX_NAP: Duration = Duration::from_millis(20);

/// The runtime-wide count of fresh tasks and the threshold of "long".
#[derive(Debug)]
pub(crate) struct Fairness {
    fresh: AtomicUsize,
    long_after: Option<Duration>,
    tick: Duration,
}

impl Fairness {
    pub(crate) fn new(long_after: Option<Duration>, tick: Duration) -> Self {
        Self {
            fresh: AtomicUsize::new(0),
            long_after,
            tick: tick.max(Duration::from_nanos(1)),
        }
    }

    /// Runs a task, of a suspect if `suspect`: on an idle-class thread when
    /// fairness is on ([`crate::idle_threads`]), else here. A panic in
    /// `task` comes back as `Err`.
    pub(crate) fn run_task<R: Send>(
        &self,
        suspect: bool,
        task: impl FnOnce() -> R + Send,
    ) -> std::thread::Result<R> {
        if suspect && self.long_after.is_some() {
            crate::idle_threads::run(task)
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
        }
    }

    /// Fresh tasks running now.
    pub(crate) fn fresh(&self) -> usize {
        self.fresh.load(Ordering::Relaxed)
    }

    /// Waits one tick, then at most [`MAX_NAP`] while fresh tasks run: for
    /// work no task is waiting on (a refusal asked again), so that a loop
    /// of it takes idle time, not the time of tasks. The first tick holds
    /// even when no task runs: a loop asking between two honest tasks
    /// would otherwise spin at normal priority, and the kernel may run it
    /// ahead of the next task for a whole time slice. Returns at once when
    /// fairness is off.
    pub(crate) fn yield_to_fresh(&self) {
        if self.long_after.is_some() {
            let started = Instant::now();
            std::thread::sleep(self.tick);
            self.nap_while_fresh(started + MAX_NAP);
        }
    }

    /// Sleeps in ticks until `nap_until`, ending early once no fresh task
    /// runs at two looks in a row: the gap between one fresh task and the
    /// next on a busy worker is no reason to wake.
    fn nap_while_fresh(&self, nap_until: Instant) {
        let mut idle_looks = if self.fresh() == 0 { 2 } else { 0 };
        while idle_looks < 2 {
            let now = Instant::now();
            if now >= nap_until {
                break;
            }
            std::thread::sleep((nap_until - now).min(self.tick));
            if self.fresh() == 0 {
                idle_looks += 1;
            } else {
                idle_looks = 0;
            }
        }
    }

    fn ticks(&self, d: Duration) -> u64 {
        u64::try_from(d.as_nanos().div_ceil(self.tick.as_nanos())).unwrap_or(u64::MAX)
    }
}

/// One task's clock: counted fresh until it has run `long_after`, stopped
/// at its deadline. Dropped with the task's store.
pub(crate) struct TaskClock {
    fairness: Arc<Fairness>,
    started: Instant,
    deadline: Instant,
    fresh: bool,
}

impl TaskClock {
    /// Starts a task with `deadline`, fresh unless `suspect` (a task of a
    /// plugin that broke a limit, or of one yet untried); returns the
    /// clock and the epoch ticks until its first callback.
    pub(crate) fn start(fairness: Arc<Fairness>, deadline: Instant, suspect: bool) -> (Self, u64) {
        let started = Instant::now();
        let until_deadline = deadline.saturating_duration_since(started);
        let fresh = !suspect || fairness.long_after.is_none();
        let first = match fairness.long_after {
            Some(_) if !fresh => Duration::ZERO,
            Some(long) => long.min(until_deadline),
            None => until_deadline,
        };
        if fresh {
            fairness.fresh.fetch_add(1, Ordering::Relaxed);
        }
        let ticks = fairness.ticks(first).max(1);
        let clock = Self {
            fairness,
            started,
            deadline,
            fresh,
        };
        (clock, ticks)
    }

    /// The epoch callback: stop at the deadline; once long, nap while a
    /// fresh task runs, then run another tick.
    pub(crate) fn on_tick(&mut self) -> UpdateDeadline {
        let now = Instant::now();
        if now >= self.deadline {
            return UpdateDeadline::Interrupt;
        }
        let Some(long_after) = self.fairness.long_after else {
            return UpdateDeadline::Continue(self.until_deadline(now));
        };
        if self.fresh && now.duration_since(self.started) < long_after {
            // Woken early (the deadline was nearer): not long yet.
            return UpdateDeadline::Continue(self.until_deadline(now).max(1));
        }
        if self.fresh {
            self.fresh = false;
            self.fairness.fresh.fetch_sub(1, Ordering::Relaxed);
        }
        self.fairness
            .nap_while_fresh((now + MAX_NAP).min(self.deadline));
        if Instant::now() >= self.deadline {
            return UpdateDeadline::Interrupt;
        }
        UpdateDeadline::Continue(1)
    }

    fn until_deadline(&self, now: Instant) -> u64 {
        self.fairness
            .ticks(self.deadline.saturating_duration_since(now))
            .max(1)
    }
}

impl Drop for TaskClock {
    fn drop(&mut self) {
        if self.fresh {
            self.fairness.fresh.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_fresh_until_it_has_run_long_and_always_stops_at_its_deadline() {
        let tick = Duration::from_millis(1);
        let f = Arc::new(Fairness::new(Some(Duration::from_millis(20)), tick));
        let deadline = Instant::now() + Duration::from_millis(200);
        let (mut long, ticks) = TaskClock::start(f.clone(), deadline, false);
        assert_eq!(ticks, 20);
        assert_eq!(f.fresh(), 1);
        // Early: still fresh.
        assert!(matches!(long.on_tick(), UpdateDeadline::Continue(_)));
        assert_eq!(f.fresh(), 1);
        std::thread::sleep(Duration::from_millis(25));
        // Alone, a long task does not nap.
        let t = Instant::now();
        assert!(matches!(long.on_tick(), UpdateDeadline::Continue(1)));
        assert_eq!(f.fresh(), 0);
        assert!(t.elapsed() < MAX_NAP);
        // Beside a fresh task it naps (at most MAX_NAP a tick).
        let (fresh, _) = TaskClock::start(f.clone(), deadline, false);
        let t = Instant::now();
        assert!(matches!(long.on_tick(), UpdateDeadline::Continue(1)));
        assert!(t.elapsed() >= MAX_NAP, "{:?}", t.elapsed());
        drop(fresh);
        assert_eq!(f.fresh(), 0);
        // At the deadline it is stopped, napping or not.
        let (_fresh, _) =
            TaskClock::start(f.clone(), Instant::now() + Duration::from_secs(9), false);
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        assert!(matches!(long.on_tick(), UpdateDeadline::Interrupt));
        drop(long);
        assert_eq!(f.fresh(), 1);
    }

    #[test]
    fn a_suspect_naps_from_its_first_tick_and_is_never_counted_fresh() {
        let f = Arc::new(Fairness::new(
            Some(Duration::from_millis(50)),
            Duration::from_millis(1),
        ));
        let deadline = Instant::now() + Duration::from_secs(9);
        let (mut suspect, ticks) = TaskClock::start(f.clone(), deadline, true);
        assert_eq!(ticks, 1);
        assert_eq!(f.fresh(), 0);
        let (_fresh, _) = TaskClock::start(f.clone(), deadline, false);
        let t = Instant::now();
        assert!(matches!(suspect.on_tick(), UpdateDeadline::Continue(1)));
        assert!(t.elapsed() >= MAX_NAP, "{:?}", t.elapsed());
        drop(suspect);
        assert_eq!(f.fresh(), 1);
    }

    #[test]
    fn a_refusal_asked_again_waits_for_fresh_tasks_only() {
        let f = Arc::new(Fairness::new(
            Some(Duration::from_millis(50)),
            Duration::from_millis(1),
        ));
        let t = Instant::now();
        f.yield_to_fresh();
        let alone = t.elapsed();
        assert!(alone >= Duration::from_millis(1), "{alone:?}");
        assert!(alone < MAX_NAP / 2, "{alone:?}");
        let (fresh, _) =
            TaskClock::start(f.clone(), Instant::now() + Duration::from_secs(9), false);
        let t = Instant::now();
        f.yield_to_fresh();
        assert!(t.elapsed() >= MAX_NAP, "{:?}", t.elapsed());
        drop(fresh);
        // Fairness off: never waits.
        let off = Arc::new(Fairness::new(None, Duration::from_millis(1)));
        let (_fresh, _) =
            TaskClock::start(off.clone(), Instant::now() + Duration::from_secs(9), false);
        let t = Instant::now();
        off.yield_to_fresh();
        assert!(t.elapsed() < MAX_NAP / 2, "{:?}", t.elapsed());
    }

    #[test]
    fn without_a_threshold_only_the_deadline_counts() {
        let f = Arc::new(Fairness::new(None, Duration::from_millis(1)));
        let deadline = Instant::now() + Duration::from_millis(30);
        let (mut clock, ticks) = TaskClock::start(f.clone(), deadline, false);
        assert!((29..=30).contains(&ticks), "{ticks}");
        std::thread::sleep(Duration::from_millis(31));
        assert!(matches!(clock.on_tick(), UpdateDeadline::Interrupt));
    }
}
