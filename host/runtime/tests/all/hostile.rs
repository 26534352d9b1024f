//! The hostile suite: every program in `plugins/test-programs` has a test
//! module of its name (a program without one does not compile) asserting
//! its specific error, and a runtime that has seen all of them still serves.
//! (The programs that exercise world versions, streaming, assets and
//! canonical outputs have theirs in `worlds.rs`.)

use std::time::Duration;

use clusterai_runtime::{
    LoadError, PluginError, RunError, Runtime, RuntimeConfig, Stdio, TaskInput, TaskPolicy,
};
use clusterai_test_support::plugins::programs;

/// Makes the check: `use self::<program>` needs a module of that name.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
#[allow(unused_imports)]
use crate::worlds::{asset_reader, legacy_v0_1, scores, streamer};
programs::foreach_hostile!(assert_test_exists);

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_tasks: 4,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn run(rt: &Runtime, path: &str, policy: &TaskPolicy) -> RunError {
    let plugin = rt.load(&read(path)).unwrap();
    match plugin.run(&TaskInput::text("x"), Some(policy)) {
        Ok(r) => panic!(
            "{path} should fail, got {} bytes of output",
            r.output.data.len()
        ),
        Err(e) => e,
    }
}

fn limits() -> TaskPolicy {
    TaskPolicy {
        timeout: Duration::from_secs(20),
        ..TaskPolicy::default()
    }
}

mod spin_forever {
    use super::*;

    #[test]
    fn runs_out_of_fuel() {
        let rt = runtime();
        let l = TaskPolicy {
            fuel: 50_000_000,
            ..limits()
        };
        let err = run(&rt, programs::SPIN_FOREVER, &l);
        assert!(
            matches!(err, RunError::FuelExhausted { limit: 50_000_000 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("fuel exhausted"), "{err}");
    }

    #[test]
    fn hits_the_deadline() {
        let rt = runtime();
        let l = TaskPolicy {
            fuel: u64::MAX / 2,
            timeout: Duration::from_millis(200),
            ..limits()
        };
        let started = std::time::Instant::now();
        let err = run(&rt, programs::SPIN_FOREVER, &l);
        // The error tells the truth: the deadline, and how long it really
        // ran (never less than the deadline, never more than it took).
        let took = started.elapsed();
        match err {
            RunError::Timeout { limit, elapsed } => {
                assert_eq!(limit, Duration::from_millis(200));
                assert!(
                    elapsed >= limit && elapsed <= took,
                    "{elapsed:?} of {took:?}"
                );
                assert!(
                    err.to_string()
                        .contains(&format!("stopped after {} ms", elapsed.as_millis())),
                    "{err}"
                );
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // Generous bound: the point is that it stops, on a loaded machine.
        assert!(took < Duration::from_secs(10));
    }

    /// CPU time this thread has used, from /proc (10 ms resolution).
    fn thread_cpu() -> Duration {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    /// A task that spins to its deadline yields the CPU while short tasks
    /// run beside it (short tasks first), and still stops on time; alone,
    /// it runs at full speed.
    #[test]
    fn a_long_task_yields_to_short_ones_and_keeps_its_deadline() {
        let rt = runtime();
        let spin = rt.load(&read(programs::SPIN_FOREVER)).unwrap();
        let hello = rt.load(&read(programs::HELLO)).unwrap();
        let l = TaskPolicy {
            fuel: u64::MAX / 2,
            timeout: Duration::from_millis(1500),
            ..limits()
        };
        let spin_once = || {
            let cpu = thread_cpu();
            let started = std::time::Instant::now();
            let err = spin.run(&TaskInput::text("x"), Some(&l)).unwrap_err();
            assert!(matches!(err, RunError::Timeout { .. }), "{err:?}");
            (thread_cpu() - cpu, started.elapsed())
        };
        let (alone_cpu, alone_wall) = spin_once();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (beside_cpu, beside_wall, short_tasks) = std::thread::scope(|s| {
            let short = s.spawn(|| {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    hello.run(&TaskInput::text("x"), None).unwrap();
                    n += 1;
                }
                n
            });
            let (cpu, wall) = spin_once();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            (cpu, wall, short.join().unwrap())
        });
        eprintln!(
            "spin alone: {alone_cpu:?} CPU in {alone_wall:?}; beside {short_tasks} short tasks: \
             {beside_cpu:?} CPU in {beside_wall:?}"
        );
        // Shares of the same wall time, so that a loaded machine (which
        // gives the task less CPU either way) does not decide the outcome.
        assert!(
            beside_cpu * 2 <= alone_cpu,
            "beside short tasks it naps: {beside_cpu:?} of CPU, against {alone_cpu:?} alone"
        );
        // The deadline holds either way (a generous bound for a loaded machine).
        assert!(
            beside_wall < Duration::from_millis(1500 + 500),
            "{beside_wall:?}"
        );
    }

    /// A node that drops its runtime while a task runs (a stop, an embedder
    /// letting go) must not leave that task bounded by fuel alone.
    #[test]
    fn hits_the_deadline_after_its_runtime_is_dropped() {
        let rt = runtime();
        let plugin = rt.load(&read(programs::SPIN_FOREVER)).unwrap();
        drop(rt);
        // Enough fuel for tens of seconds of spinning: without its deadline
        // the task ends in `FuelExhausted`, late.
        let l = TaskPolicy {
            fuel: 500_000_000_000,
            timeout: Duration::from_millis(200),
            ..limits()
        };
        let started = std::time::Instant::now();
        let err = plugin
            .run(&TaskInput::text("x"), Some(&l))
            .expect_err("spins forever");
        assert!(matches!(err, RunError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

mod memory_bomb {
    use super::*;

    #[test]
    fn hits_the_memory_limit() {
        let rt = runtime();
        let l = TaskPolicy {
            memory_bytes: 64 << 20,
            ..limits()
        };
        let err = run(&rt, programs::MEMORY_BOMB, &l);
        match err {
            RunError::MemoryLimit { requested, limit } => {
                assert_eq!(limit, 64 << 20);
                assert!(requested > limit);
            }
            other => panic!("expected a memory limit, got {other:?}"),
        }
    }
}

mod residue {
    use super::*;

    #[test]
    fn no_task_sees_what_an_earlier_task_left_in_memory() {
        // One slot, reused: pooled memories are reset between tasks (kept
        // resident, and with PAGEMAP_SCAN where the kernel has it), never handed
        // over with the last task's bytes. Both the kept-resident part and what
        // lies above it are checked, as well as the way a small task follows a
        // large one.
        for keep_resident_bytes in [0, 1 << 20, 16 << 20] {
            let rt = Runtime::new(RuntimeConfig {
                max_concurrent_tasks: 1,
                keep_resident_bytes,
                ..RuntimeConfig::default()
            })
            .unwrap();
            let plugin = rt.load(&read(programs::RESIDUE)).unwrap();
            for round in 0..3 {
                let wrote = plugin.run(&TaskInput::text("write"), None).unwrap();
                let wrote = String::from_utf8(wrote.output.data).unwrap();
                let at = wrote.strip_prefix("wrote ").unwrap();
                let read = plugin.run(&TaskInput::text("read"), None).unwrap();
                // The same addresses, in the same slot, and nothing left there.
                assert_eq!(
                    String::from_utf8(read.output.data).unwrap(),
                    format!("non-zero=0 {at}"),
                    "keep_resident {keep_resident_bytes}, round {round}"
                );
            }
        }
    }
}

mod stack_overflow {
    use super::*;

    #[test]
    fn overflows_the_stack() {
        let rt = runtime();
        let err = run(&rt, programs::STACK_OVERFLOW, &limits());
        assert!(matches!(err, RunError::StackOverflow), "{err:?}");
    }
}

mod panic {
    use super::*;

    #[test]
    fn is_reported_with_its_message() {
        let rt = runtime();
        let err = run(&rt, programs::PANIC, &limits());
        match &err {
            RunError::Panic { message } => {
                assert!(
                    message.contains("deliberate panic after reading 1 bytes"),
                    "{message}"
                );
                assert!(message.contains("src/lib.rs"), "{message}");
            }
            other => panic!("expected a panic, got {other:?}"),
        }
    }
}

mod huge_output {
    use super::*;

    #[test]
    fn is_refused() {
        let rt = runtime();
        let err = run(&rt, programs::HUGE_OUTPUT, &limits());
        assert!(
            matches!(err, RunError::OutputTooLarge { size, limit } if size == 32 << 20 && limit == 16 << 20),
            "{err:?}"
        );
    }
}

mod stdout_flood {
    use super::*;

    #[test]
    fn hits_the_stdio_cap() {
        let rt = runtime();
        let err = run(&rt, programs::STDOUT_FLOOD, &limits());
        assert!(
            matches!(err, RunError::StdioLimit { stream: Stdio::Stdout, limit } if limit == 64 << 10),
            "{err:?}"
        );
    }
}

mod stderr_brink {
    use super::*;

    const CAP: u64 = 4096;

    fn brink(bytes: u64, then: &str) -> Result<clusterai_runtime::TaskResult, RunError> {
        let rt = runtime();
        let plugin = rt.load(&read(programs::STDERR_BRINK)).unwrap();
        let input = TaskInput::text("x")
            .param("bytes", bytes.to_string())
            .param("then", then);
        let policy = TaskPolicy {
            max_stdio_bytes: CAP,
            ..limits()
        };
        plugin.run(&input, Some(&policy))
    }

    #[test]
    fn filling_the_cap_to_the_byte_is_allowed() {
        let out = brink(CAP, "ok").unwrap();
        assert_eq!(out.stderr.len() as u64, CAP);
        assert_eq!(out.output.data, format!("wrote {CAP} bytes").into_bytes());
    }

    #[test]
    fn a_full_stderr_is_not_blamed_for_an_unrelated_abort() {
        // Exactly at the cap, then a fault of its own: a trap, not a breach.
        let err = brink(CAP, "abort").unwrap_err();
        assert!(matches!(err, RunError::Trap { .. }), "{err:?}");
    }

    #[test]
    fn one_byte_past_the_cap_is_a_breach_even_if_the_plugin_carries_on() {
        let err = brink(CAP + 1, "ok").unwrap_err();
        assert!(
            matches!(err, RunError::StdioLimit { stream: Stdio::Stderr, limit } if limit == CAP),
            "{err:?}"
        );
    }
}

mod fake_panic {
    use super::*;

    #[test]
    fn forged_host_errors_stay_the_plugins_failure() {
        let rt = runtime();
        let err = run(&rt, programs::FAKE_PANIC, &limits());
        // Its stderr claims a host error, a stderr breach and a panic in the
        // host's source: the verdict is an abort of the plugin's own, its
        // text shown as the plugin's account, never a host error or a limit.
        assert!(matches!(err, RunError::Panic { .. }), "{err:?}");
        assert_eq!(err.kind(), "panic");
        assert!(
            err.to_string()
                .starts_with("the plugin aborted; its stderr reports a panic:"),
            "{err}"
        );
        // The node still serves after it.
        let ok = rt.load(&read(programs::STDERR_BRINK)).unwrap();
        assert!(ok.run(&TaskInput::text("x"), Some(&limits())).is_ok());
    }
}

mod terminal_tricks {
    use super::*;

    #[test]
    fn the_runtime_keeps_the_bytes_the_cli_escapes_them() {
        // The runtime hands the plugin's text on unchanged (a script gets the
        // bytes); the CLI escapes them on a terminal (its tests, in a PTY).
        let rt = runtime();
        let plugin = rt.load(&read(programs::TERMINAL_TRICKS)).unwrap();
        assert!(plugin.info().description.contains('\u{1b}'));
        let out = plugin.run(&TaskInput::text("x"), Some(&limits())).unwrap();
        assert!(out.output.data.contains(&0x1b));
        assert!(out.logs[0].message.contains('\u{1b}'));
    }
}

mod sleeper {
    use super::*;
    use std::time::Instant;

    fn sleep(secs: &str) -> (Result<clusterai_runtime::TaskResult, RunError>, Duration) {
        let rt = runtime();
        let plugin = rt.load(&read(programs::SLEEPER)).unwrap();
        let policy = TaskPolicy {
            timeout: Duration::from_millis(500),
            ..limits()
        };
        let started = Instant::now();
        let r = plugin.run(&TaskInput::text("x").param("secs", secs), Some(&policy));
        (r, started.elapsed())
    }

    #[test]
    fn an_hour_of_sleep_ends_within_the_deadline() {
        let (r, took) = sleep("3600");
        assert!(took < Duration::from_secs(5), "slept {took:?}");
        assert!(
            r.is_ok() || matches!(r, Err(RunError::Timeout { .. })),
            "{r:?}"
        );
    }

    /// A plugin that asked to sleep past its whole budget meant to hold
    /// its slot: its next task runs as a suspect's. A short sleep is fine.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_sleep_past_the_budget_makes_the_plugin_a_suspect() {
        let policy = limits();
        let runs = ["3600", "1", "1"]
            .map(|secs| (TaskInput::text("x").param("secs", secs), Some(&policy)));
        let (results, classes) = crate::runtime::scheduling_classes(
            &read(programs::SLEEPER),
            RuntimeConfig::default(),
            &runs,
        );
        for r in &results {
            assert!(r.is_ok(), "{r:?}");
        }
        // An untried plugin's first task yields at once, but on the
        // caller's thread: the idle class is for plugins that broke a limit.
        let (normal, idle) = (libc::SCHED_OTHER, libc::SCHED_IDLE);
        assert_eq!(classes, [normal, idle, normal]);
    }

    #[test]
    fn the_longest_sleep_wasi_can_express_ends_too() {
        let (r, took) = sleep("forever");
        assert!(took < Duration::from_secs(5), "slept {took:?}");
        assert!(
            r.is_ok() || matches!(r, Err(RunError::Timeout { .. })),
            "{r:?}"
        );
    }
}

mod describe_loop {
    use super::*;
    use clusterai_runtime::{DESCRIBE_FUEL, DESCRIBE_TIMEOUT, RETRY_TIMED_OUT_AFTER};

    #[test]
    fn load_has_its_own_budget() {
        // The task budget is generous (20 s, huge fuel); describing gets
        // DESCRIBE_FUEL and DESCRIBE_TIMEOUT, whichever comes first.
        let rt = Runtime::new(RuntimeConfig {
            policy: TaskPolicy {
                fuel: u64::MAX / 2,
                ..limits()
            },
            ..RuntimeConfig::default()
        })
        .unwrap();
        let started = std::time::Instant::now();
        let err = match rt.load(&read(programs::DESCRIBE_LOOP)) {
            Ok(_) => panic!("a plugin that never describes itself loaded"),
            Err(e) => e,
        };
        let took = started.elapsed();
        assert!(
            took < DESCRIBE_TIMEOUT + Duration::from_secs(1),
            "took {took:?}"
        );
        match &err {
            LoadError::Describe(e) => assert!(
                matches!(**e, RunError::FuelExhausted { limit } if limit == DESCRIBE_FUEL)
                    || matches!(**e, RunError::Timeout { limit, .. } if limit == DESCRIBE_TIMEOUT),
                "{e:?}"
            ),
            other => panic!("expected a describe() failure, got {other:?}"),
        }
        // The runtime still loads and runs plugins.
        let ok = rt.load(&read(programs::STDERR_BRINK)).unwrap();
        assert!(ok.run(&TaskInput::text("x"), Some(&limits())).is_ok());
    }

    /// A describe() that ran out of time may be the machine's fault, so it
    /// is not refused for good; but the same bytes asked again at once are
    /// answered without compiling and describing them again, or a loop of
    /// them would cost the node a compile and a whole load budget each.
    #[test]
    fn a_describe_that_ran_out_of_time_is_not_compiled_again_for_a_while() {
        // DESCRIBE_FUEL lasts the loop about 50 ms of CPU here: a 5 ms
        // deadline comes first even on a fast machine.
        let rt = Runtime::new(RuntimeConfig {
            policy: TaskPolicy {
                timeout: Duration::from_millis(5),
                fuel: u64::MAX / 2,
                ..limits()
            },
            ..RuntimeConfig::default()
        })
        .unwrap();
        let err = rt.load(&read(programs::DESCRIBE_LOOP)).unwrap_err();
        assert!(
            matches!(&err, LoadError::Describe(e) if matches!(**e, RunError::Timeout { .. })),
            "{err:?}"
        );
        // Answered from the refusals: neither compiled nor described again.
        let again = rt.load(&read(programs::DESCRIBE_LOOP)).unwrap_err();
        match &again {
            LoadError::TimedOutRecently { reason, retry_in } => {
                assert_eq!(*reason, err.to_string());
                assert!(*retry_in <= RETRY_TIMED_OUT_AFTER, "{retry_in:?}");
                assert!(
                    *retry_in > RETRY_TIMED_OUT_AFTER - Duration::from_secs(30),
                    "{retry_in:?}"
                );
            }
            other => panic!("expected a recent timeout, got {other:?}"),
        }
        assert!(
            again.to_string().contains("not compiled again for another"),
            "{again}"
        );
        assert_eq!(rt.loaded_count(), 0);
    }
}

mod string_bomb {
    use super::*;
    use clusterai_runtime::guest_text::MAX_MESSAGE_BYTES;

    fn attack(rt: &Runtime, what: &str) -> Result<clusterai_runtime::TaskResult, RunError> {
        let plugin = rt.load(&read(programs::STRING_BOMB)).unwrap();
        plugin.run(&TaskInput::text(what), Some(&limits()))
    }

    #[test]
    fn huge_strings_are_refused_or_cut_before_the_host_keeps_them() {
        let rt = runtime();
        let err = attack(&rt, "content-type").unwrap_err();
        assert!(
            matches!(&err, RunError::Plugin(PluginError::Internal(m))
                if m == "the output's content type is 8388608 bytes, over the 256-byte limit"),
            "{}",
            &err.to_string()[..200.min(err.to_string().len())]
        );
        // An error message of 8 MiB of control characters is kept as its
        // first 4 KiB, with its length.
        let err = attack(&rt, "error").unwrap_err();
        let RunError::Plugin(PluginError::InvalidInput(m)) = &err else {
            panic!("expected the plugin's own error, got another");
        };
        assert!(m.len() <= MAX_MESSAGE_BYTES + 40, "{} bytes kept", m.len());
        assert!(m.ends_with("(8388608 bytes in all)"));
        // A log line is cut to the policy's line limit, and only what is
        // kept is copied out of the guest (the line is 8 MiB).
        let plugin = rt.load(&read(programs::STRING_BOMB)).unwrap();
        let (done, largest) = crate::alloc_watch::largest_allocation(|| {
            plugin.run(&TaskInput::text("log"), Some(&limits()))
        });
        assert!(
            largest < 1 << 20,
            "the host allocated {largest} bytes at once"
        );
        let done = done.unwrap();
        assert_eq!(done.output.data, b"logged");
        let line = &done.logs[0].message;
        assert_eq!(line.len(), limits().max_log_line_bytes as usize);
        assert!(line.capacity() <= limits().max_log_line_bytes as usize);
    }

    /// The log line and the output count against the task's one
    /// host-memory budget: a line that does not fit is dropped (and
    /// counted), an output that does not fit fails the task naming the
    /// budget, and the task reports its peak.
    #[test]
    fn logs_and_the_output_share_the_host_memory_budget() {
        let rt = runtime();
        let plugin = rt.load(&read(programs::STRING_BOMB)).unwrap();
        let line = limits().max_log_line_bytes;
        let run = |budget: u64| {
            let policy = TaskPolicy {
                max_host_memory_bytes: budget,
                ..limits()
            };
            plugin.run(&TaskInput::text("log"), Some(&policy))
        };
        let done = run(1 << 30).unwrap();
        assert_eq!(
            done.usage.peak_host_memory,
            line + 6,
            "the line and \"logged\""
        );
        // No room for the line: dropped, counted; the output still fits.
        let done = run(line - 1).unwrap();
        assert!(done.logs.is_empty());
        assert_eq!(done.logs_dropped, 1);
        assert_eq!(done.usage.peak_host_memory, 6);
        // Room for the line, not for the output beside it.
        let err = run(line + 5).unwrap_err();
        assert!(
            matches!(&err, RunError::HostMemoryLimit(e)
                if e.what == "the output" && e.bytes == 6 && e.limit == line + 5),
            "{err}"
        );
        assert_eq!(err.kind(), "host-memory-limit");
        assert!(err.to_string().contains("max_host_memory_bytes"), "{err}");
    }

    /// A result the host cut or refused broke a limit: the plugin's next
    /// task runs as a suspect's (on an idle-class thread). A short error of
    /// its own does not.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_result_cut_or_refused_makes_the_plugin_a_suspect() {
        let policy = limits();
        let runs = ["error", "quiet", "content-type", "quiet", "quiet"]
            .map(|attack| (TaskInput::text(attack), Some(&policy)));
        let (results, classes) = crate::runtime::scheduling_classes(
            &read(programs::STRING_BOMB),
            RuntimeConfig::default(),
            &runs,
        );
        for r in &results {
            assert!(r.is_err(), "{r:?}");
        }
        let (normal, idle) = (libc::SCHED_OTHER, libc::SCHED_IDLE);
        assert_eq!(classes, [normal, idle, normal, idle, normal]);
    }

    #[test]
    fn a_result_over_the_copy_limit_is_refused_before_it_is_copied() {
        let rt = runtime();
        let plugin = rt.load(&read(programs::STRING_BOMB)).unwrap();
        // Output and tensors of at most 1 MiB: one call may hand the host
        // a little over 1 MiB, and the 8 MiB error message is more.
        let policy = TaskPolicy {
            max_output_bytes: 1 << 20,
            max_task_tensor_bytes: 1 << 20,
            ..limits()
        };
        let limit = clusterai_runtime::copy_limit(&policy);
        assert!(limit < 2 << 20, "{limit}");
        let (err, largest) = crate::alloc_watch::largest_allocation(|| {
            plugin.run(&TaskInput::text("error"), Some(&policy))
        });
        let err = err.unwrap_err();
        assert!(
            matches!(err, RunError::CopyLimit { limit: l } if l == limit),
            "{err}"
        );
        assert_eq!(err.kind(), "copy-limit");
        assert!(
            largest < 2 << 20,
            "the host allocated {largest} bytes at once"
        );
        // Under the default policy the same message is copied and cut.
        let err = plugin
            .run(&TaskInput::text("error"), Some(&limits()))
            .unwrap_err();
        assert!(matches!(err, RunError::Plugin(_)), "{err}");
    }
}

mod describe_bomb {
    use super::*;

    #[test]
    fn a_huge_description_is_refused_while_it_is_copied_and_not_echoed() {
        let rt = runtime();
        // Refused while wasmtime copies it out: the 4 MiB name is never
        // held by the host, nor the 100 000 input types.
        let (loaded, largest) =
            crate::alloc_watch::largest_allocation(|| rt.load(&read(programs::DESCRIBE_BOMB)));
        let err = match loaded {
            Ok(_) => panic!("a plugin with a 4 MiB name loaded"),
            Err(e) => e,
        };
        let text = err.to_string();
        let expected = format!(
            "describe() handed the host more than {} bytes, more than its fields' limits allow together",
            clusterai_runtime::DESCRIBE_COPY_BYTES
        );
        assert!(
            matches!(&err, LoadError::BadInfo(m) if *m == expected),
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(
            largest < 1 << 20,
            "the host allocated {largest} bytes at once"
        );
        assert!(text.len() < 200, "{} bytes", text.len());
        assert_eq!(rt.loaded_count(), 0);
        // The same bytes again: the same reason, without compiling or
        // describing them again (an attacker uploading them in a loop
        // costs the node a hash).
        let started = std::time::Instant::now();
        let again = rt.load(&read(programs::DESCRIBE_BOMB)).unwrap_err();
        assert!(
            matches!(&again, LoadError::RefusedBefore { reason } if *reason == text),
            "{again}"
        );
        assert!(again.to_string().contains("not compiled again"), "{again}");
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        let hello = rt.load(&read(programs::HELLO)).unwrap();
        assert!(hello.run(&TaskInput::text("x"), None).is_ok());
    }
}

mod escape {
    use super::*;

    #[test]
    fn attempts_are_all_denied() {
        let rt = runtime();
        let plugin = rt.load(&read(programs::ESCAPE)).unwrap();
        let out = plugin.run(&TaskInput::text("x"), Some(&limits())).unwrap();
        let text = String::from_utf8(out.output.data).unwrap();
        for attempt in [
            "read-file",
            "list-dir",
            "write-file",
            "env",
            "args",
            "tcp",
            "udp",
            "dns",
        ] {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{attempt}:")))
                .unwrap();
            assert!(line.contains("denied"), "{attempt} was not denied: {line}");
        }
        assert!(
            text.contains("clock: frozen: wall=0 monotonic_delta=0ns"),
            "{text}"
        );
        assert!(!std::path::Path::new("/tmp/clusterai-escape").exists());

        // Randomness is seeded from the input: same input, same bytes; other input, other bytes.
        let again = plugin.run(&TaskInput::text("x"), None).unwrap();
        let other = plugin.run(&TaskInput::text("y"), None).unwrap();
        let random = |d: &[u8]| {
            String::from_utf8_lossy(d)
                .lines()
                .last()
                .unwrap()
                .to_string()
        };
        assert_eq!(random(&again.output.data), random(text.as_bytes()));
        assert_ne!(random(&other.output.data), random(text.as_bytes()));
        // The seed covers the parameters too, also when one is added to an input
        // that has run before (the digest is computed once per input, then kept).
        let input = TaskInput::text("x");
        let first = plugin.run(&input, None).unwrap();
        let with_param = plugin.run(&input.clone().param("k", "v"), None).unwrap();
        assert_eq!(random(&first.output.data), random(text.as_bytes()));
        assert_ne!(random(&with_param.output.data), random(text.as_bytes()));
    }
}

mod forbidden_import {
    use super::*;

    #[test]
    fn is_refused_at_load() {
        let rt = runtime();
        match rt.load(&read(programs::FORBIDDEN_IMPORT)) {
            Err(LoadError::ForbiddenImport { import, .. }) => {
                assert_eq!(import, "evil:escape/shell@0.1.0")
            }
            other => panic!("expected a forbidden import, got {other:?}"),
        }
    }
}

mod malformed {
    use super::*;

    #[test]
    fn names_the_offset() {
        let rt = runtime();
        match rt.load(&read(programs::MALFORMED)) {
            Err(
                e @ LoadError::Invalid {
                    offset: Some(_), ..
                },
            ) => {
                assert!(e.to_string().contains("at byte offset 0x"), "{e}");
            }
            other => panic!("expected an invalid binary with an offset, got {other:?}"),
        }
    }
}

mod not_a_component {
    use super::*;

    #[test]
    fn is_refused_as_a_core_module() {
        let rt = runtime();
        let err = rt.load(&read(programs::NOT_A_COMPONENT)).unwrap_err();
        assert!(matches!(err, LoadError::NotAComponent), "{err:?}");
        assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
    }

    #[test]
    fn not_wasm_at_all() {
        let rt = runtime();
        let err = rt.load(b"\x89PNG\r\n\x1a\n....").unwrap_err();
        assert!(
            matches!(err, LoadError::NotWasm { ref found } if found == b"\x89PNG"),
            "{err:?}"
        );
    }
}

#[test]
fn whole_suite_in_one_process_then_a_good_task() {
    let rt = runtime();
    let hello = rt.load(&read(programs::HELLO)).unwrap();
    let l = TaskPolicy {
        fuel: 200_000_000,
        memory_bytes: 64 << 20,
        ..limits()
    };
    for _round in 0..3 {
        for path in [
            programs::SPIN_FOREVER,
            programs::MEMORY_BOMB,
            programs::STACK_OVERFLOW,
            programs::PANIC,
            programs::HUGE_OUTPUT,
            programs::STDOUT_FLOOD,
        ] {
            run(&rt, path, &l);
        }
        for path in [
            programs::FORBIDDEN_IMPORT,
            programs::MALFORMED,
            programs::NOT_A_COMPONENT,
        ] {
            assert!(rt.load(&read(path)).is_err());
        }
        let out = hello.run(&TaskInput::text("survivor"), None).unwrap();
        assert_eq!(out.output.data, b"Hello, survivor!\n");
    }
    // A plugin error is an answer, not a fault.
    let err = hello.run(&TaskInput::text("   "), None).unwrap_err();
    assert!(
        matches!(err, RunError::Plugin(PluginError::InvalidInput(_))),
        "{err:?}"
    );
}

mod describe_sleep {
    use super::*;
    use clusterai_runtime::DESCRIBE_TIMEOUT;

    /// Blocking instead of spinning: the sandbox's clock is frozen, so an
    /// hour's sleep in describe() is over at once and costs the node no
    /// time at all (the plugin loads, untried, as a suspect).
    #[test]
    fn a_sleep_in_describe_is_over_at_once() {
        let rt = runtime();
        let started = std::time::Instant::now();
        let plugin = rt.load(&read(programs::DESCRIBE_SLEEP)).unwrap();
        let took = started.elapsed();
        assert!(took < DESCRIBE_TIMEOUT, "took {took:?}");
        assert_eq!(plugin.info().name, "describe-sleep");
    }
}
