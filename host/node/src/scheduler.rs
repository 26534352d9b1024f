//! Which task runs next: a bounded queue with a fair share per plugin.
//!
//! Each plugin has its own FIFO; workers take from the plugins in turn
//! (round robin), so a buyer who floods the node with one plugin's tasks
//! delays the others by at most one task per turn, not by the whole flood.
//! The queue is bounded by `capacity` tasks accepted and not finished;
//! [`Scheduler::admit`] refuses past it (the API answers 429).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use clusterai_types::ContentHash;
use tokio::sync::Notify;

/// The run queue.
#[derive(Debug)]
pub struct Scheduler {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Queued task ids per plugin.
    queues: HashMap<ContentHash, VecDeque<String>>,
    /// Plugins with queued tasks, in turn order.
    turn: VecDeque<ContentHash>,
    /// Tasks admitted and not finished (queued, running, or being accepted).
    admitted: usize,
    /// Tasks queued.
    queued: usize,
    /// No more tasks are handed out (shutdown).
    closed: bool,
}

impl Scheduler {
    /// A queue for at most `capacity` unfinished tasks.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves room for one more task; `false` when the queue is full.
    /// Every `true` must be paired with [`Scheduler::finished`] (or
    /// [`Scheduler::release`] if the task was never queued).
    pub fn admit(&self) -> bool {
        let mut st = self.lock();
        if st.admitted >= self.capacity {
            return false;
        }
        st.admitted += 1;
        true
    }

    /// Reserves room for a task recovered after a restart, even over capacity.
    pub fn admit_recovered(&self) {
        self.lock().admitted += 1;
    }

    /// Gives back the room of a task that was admitted but not queued.
    pub fn release(&self) {
        let mut st = self.lock();
        st.admitted = st.admitted.saturating_sub(1);
    }

    /// Queues an admitted task of `plugin`.
    pub fn push(&self, plugin: ContentHash, id: String) {
        let mut st = self.lock();
        let q = st.queues.entry(plugin).or_default();
        q.push_back(id);
        if q.len() == 1 {
            st.turn.push_back(plugin);
        }
        st.queued += 1;
        drop(st);
        self.ready.notify_one();
    }

    /// Takes a queued task out (cancelled before it ran); whether it was there.
    pub fn remove(&self, plugin: ContentHash, id: &str) -> bool {
        let mut st = self.lock();
        let Some(q) = st.queues.get_mut(&plugin) else {
            return false;
        };
        let Some(i) = q.iter().position(|x| x == id) else {
            return false;
        };
        q.remove(i);
        if q.is_empty() {
            st.queues.remove(&plugin);
            st.turn.retain(|p| *p != plugin);
        }
        st.queued -= 1;
        true
    }

    /// The next task, in turn; waits while none is queued; `None` once closed.
    pub async fn next(&self) -> Option<String> {
        loop {
            let notified = self.ready.notified();
            {
                let mut st = self.lock();
                if st.closed {
                    return None;
                }
                if let Some(plugin) = st.turn.pop_front() {
                    let q = st
                        .queues
                        .get_mut(&plugin)
                        .expect("a plugin in turn has a queue");
                    let id = q.pop_front().expect("a queue in turn is not empty");
                    if q.is_empty() {
                        st.queues.remove(&plugin);
                    } else {
                        st.turn.push_back(plugin);
                    }
                    st.queued -= 1;
                    let more = st.queued > 0;
                    drop(st);
                    if more {
                        // Another worker may take the next one.
                        self.ready.notify_one();
                    }
                    return Some(id);
                }
            }
            notified.await;
        }
    }

    /// A task ended (or was cancelled while queued): its room is free.
    pub fn finished(&self) {
        self.release();
    }

    /// Hands out no more tasks; waiting workers return `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
    }

    /// (queued, admitted) now.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.queued, st.admitted)
    }

    /// The most unfinished tasks.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> ContentHash {
        ContentHash::from_bytes([b; 32])
    }

    #[tokio::test]
    async fn plugins_take_turns() {
        let s = Scheduler::new(100);
        for i in 0..5 {
            assert!(s.admit());
            s.push(hash(1), format!("a{i}"));
        }
        assert!(s.admit());
        s.push(hash(2), "b0".into());
        assert!(s.admit());
        s.push(hash(2), "b1".into());
        let mut order = Vec::new();
        for _ in 0..7 {
            order.push(s.next().await.unwrap());
        }
        // The flood of plugin 1 does not hold plugin 2 back.
        assert_eq!(order, ["a0", "b0", "a1", "b1", "a2", "a3", "a4"]);
    }

    #[tokio::test]
    async fn capacity_counts_until_finished_and_remove_works() {
        let s = Scheduler::new(2);
        assert!(s.admit());
        assert!(s.admit());
        assert!(!s.admit(), "full");
        s.push(hash(1), "x".into());
        s.push(hash(1), "y".into());
        assert!(s.remove(hash(1), "x"));
        assert!(!s.remove(hash(1), "x"));
        s.finished();
        assert!(s.admit());
        s.release();
        assert_eq!(s.next().await.as_deref(), Some("y"));
        assert_eq!(s.counts(), (0, 1));
        s.close();
        assert_eq!(s.next().await, None);
    }
}
