//! Threads of the kernel's idle class (`SCHED_IDLE`, Linux), for the tasks
//! of suspects.
//!
//! Naps hold back a suspect's wasm, but not the parts of its task the epoch
//! cannot interrupt: instantiating it, faulting in and handing back its
//! memory, unwinding its traps, lifting its results. On an idle-class
//! thread those get only CPU time no other thread wants, and the thread is
//! preempted at once when a normal one wakes. An unprivileged thread may
//! lower its class but never raise it back, so each such task gets a thread
//! of its own, which ends with it: tens of microseconds, paid only by tasks
//! of plugins that broke a limit last time. (Parking these threads between
//! tasks instead measured no better in `bench hostile`, and would need a
//! job with its borrows erased; a scoped thread needs no `unsafe`.)

/// Stack of an idle thread: the wasm stack limit (1 MiB) plus the host
/// calls beneath it, with room to spare. Reserved, not committed.
const STACK_BYTES: usize = 8 << 20;

/// Runs `f` on a new idle-class thread while the caller waits; a panic in
/// `f` comes back as `Err`, like [`std::thread::JoinHandle::join`]. Runs
/// `f` here, at the caller's priority, if no thread can be had.
pub(crate) fn run<R: Send>(f: impl FnOnce() -> R + Send) -> std::thread::Result<R> {
    let mut job = Some(f);
    let joined = std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("clusterai-suspect".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(s, || {
                lower_to_idle_class();
                job.take().map(|f| f())
            });
        match spawned {
            Ok(thread) => Some(thread.join()),
            Err(e) => {
                tracing::warn!(error = %e, "no thread for a suspect's task; it runs at normal priority");
                None
            }
        }
    });
    match joined {
        Some(Ok(Some(out))) => Ok(out),
        Some(Err(panic)) => Err(panic),
        // The thread never took `f`: it is still here.
        Some(Ok(None)) | None => {
            let f = job.take().expect("the job was not taken");
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        }
    }
}

/// Puts the calling thread in the idle scheduling class.
#[cfg(target_os = "linux")]
fn lower_to_idle_class() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "SCHED_IDLE refused");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_to_idle_class() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_elsewhere_with_its_borrows_and_a_panic_comes_back() {
        let here = std::thread::current().id();
        let borrowed = String::from("borrowed");
        let (there, len) = run(|| (std::thread::current().id(), borrowed.len())).unwrap();
        assert_ne!(there, here);
        assert_eq!(len, 8);
        let panicked = run(|| -> u8 { panic!("boom") });
        assert_eq!(*panicked.unwrap_err().downcast::<&str>().unwrap(), "boom");
    }
}
