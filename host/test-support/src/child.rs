//! A child process that never outlives its test.

use std::process::{Child, Command};

/// Kills (SIGKILL) and reaps its child when dropped: a failing assertion,
/// a panic or an early return cannot leave a node running.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    /// Spawns `cmd`, panicking with the command when it cannot start.
    #[track_caller]
    pub fn spawn(cmd: &mut Command) -> Self {
        match cmd.spawn() {
            Ok(child) => Self { child: Some(child) },
            Err(e) => panic!("cannot start {cmd:?}: {e}"),
        }
    }

    /// Guards an already spawned child.
    pub fn new(child: Child) -> Self {
        Self { child: Some(child) }
    }

    /// The child.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is held until drop")
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the child now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Gives the child up: the caller waits for it (a clean exit under test).
    pub fn into_inner(mut self) -> Child {
        self.child.take().expect("the child is held until drop")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
