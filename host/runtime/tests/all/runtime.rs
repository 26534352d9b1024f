//! The runtime's good path: running, describing, caching, concurrency.

use std::sync::Arc;

use clusterai_runtime::{CacheOutcome, PluginError, RunError, Runtime, RuntimeConfig, TaskInput};
use clusterai_test_support::plugins::programs;

fn hello_bytes() -> Vec<u8> {
    std::fs::read(programs::HELLO).unwrap()
}

#[test]
fn hello_runs_and_reports_usage() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let plugin = rt.load(&hello_bytes()).unwrap();
    let info = plugin.info();
    assert_eq!(info.name, "hello");
    assert_eq!(info.input_types, vec!["text/plain"]);
    assert!(info.models.is_empty());

    let result = plugin.run(&TaskInput::text("world"), None).unwrap();
    assert_eq!(result.output.data, b"Hello, world!\n");
    assert_eq!(result.output.content_type, "text/plain; charset=utf-8");
    assert!(result.usage.fuel > 0);
    assert!(result.usage.peak_memory >= 64 << 10, "{:?}", result.usage);
    assert_eq!(result.logs.len(), 1);
    assert_eq!(result.logs[0].level, clusterai_runtime::LogLevel::Debug);

    let greeted = plugin
        .run(&TaskInput::text("world").param("greeting", "Hi"), None)
        .unwrap();
    assert_eq!(greeted.output.data, b"Hi, world!\n");
}

#[test]
fn plugin_errors_are_typed() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let plugin = rt.load(&hello_bytes()).unwrap();
    let err = plugin
        .run(&TaskInput::text("x").param("colour", "red"), None)
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Plugin(PluginError::InvalidParam(m)) if m.contains("colour")),
        "{err:?}"
    );
    let err = plugin
        .run(&TaskInput::new(vec![0xff, 0xfe], "text/plain"), None)
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Plugin(PluginError::InvalidInput(m)) if m.contains("not UTF-8")),
        "{err:?}"
    );
    let limits = clusterai_runtime::TaskPolicy {
        max_input_bytes: 4,
        ..Default::default()
    };
    let err = plugin
        .run(&TaskInput::text("too long"), Some(&limits))
        .unwrap_err();
    assert!(
        matches!(err, RunError::InputTooLarge { size: 8, limit: 4 }),
        "{err:?}"
    );
}

#[test]
fn compile_cache_hits_and_recovers_from_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let wasm = hello_bytes();

    let first = Runtime::new(config()).unwrap().load(&wasm).unwrap();
    assert_eq!(first.cache_outcome(), &CacheOutcome::Miss);
    let second = Runtime::new(config()).unwrap().load(&wasm).unwrap();
    assert_eq!(second.cache_outcome(), &CacheOutcome::Hit);

    let entry = std::fs::read_dir(dir.path())
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .unwrap();

    // A flipped byte in the artifact: caught by the checksum, recompiled, still runs.
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&entry, &bytes).unwrap();
    let rt = Runtime::new(config()).unwrap();
    let plugin = rt.load(&wasm).unwrap();
    assert!(
        matches!(plugin.cache_outcome(), CacheOutcome::Recompiled(r) if r.contains("checksum"))
    );
    assert_eq!(
        plugin
            .run(&TaskInput::text("again"), None)
            .unwrap()
            .output
            .data,
        b"Hello, again!\n"
    );

    // A well-formed entry whose artifact wasmtime rejects: incompatible, recompiled.
    let junk = b"not a compiled component".to_vec();
    let mut forged = b"CAICWSM1".to_vec();
    forged.extend_from_slice(blake3::hash(&junk).as_bytes());
    forged.extend_from_slice(&junk);
    std::fs::write(&entry, forged).unwrap();
    let plugin = Runtime::new(config()).unwrap().load(&wasm).unwrap();
    assert!(
        matches!(plugin.cache_outcome(), CacheOutcome::Recompiled(r) if r.contains("incompatible"))
    );

    // And the rewritten entry is good again.
    let plugin = Runtime::new(config()).unwrap().load(&wasm).unwrap();
    assert_eq!(plugin.cache_outcome(), &CacheOutcome::Hit);
}

#[test]
fn tasks_run_concurrently_on_a_bounded_pool() {
    let rt = Runtime::new(RuntimeConfig {
        max_concurrent_tasks: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let plugin = Arc::new(rt.load(&hello_bytes()).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let plugin = plugin.clone();
            std::thread::spawn(move || {
                for j in 0..10 {
                    let name = format!("t{i}-{j}");
                    let out = plugin.run(&TaskInput::text(&name), None).unwrap();
                    assert_eq!(out.output.data, format!("Hello, {name}!\n").as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn deterministic_mode_gives_identical_usage() {
    let rt = Runtime::new(RuntimeConfig {
        deterministic: true,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let plugin = rt.load(&hello_bytes()).unwrap();
    let a = plugin.run(&TaskInput::text("same"), None).unwrap();
    let b = plugin.run(&TaskInput::text("same"), None).unwrap();
    assert_eq!(a.output, b.output);
    assert_eq!(
        a.usage.fuel, b.usage.fuel,
        "fuel accounting must be reproducible"
    );
}

/// Records the scheduling class of the thread each task is prepared on.
#[cfg(target_os = "linux")]
#[derive(Debug, Default)]
struct SchedulingProbe(std::sync::Mutex<Vec<i32>>);

#[cfg(target_os = "linux")]
impl clusterai_runtime::Capability for SchedulingProbe {
    fn packages(&self) -> &[&'static str] {
        &[]
    }

    fn add_to_linker(
        &self,
        _: &mut wasmtime::component::Linker<clusterai_runtime::HostState>,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    fn prepare(
        &self,
        task: &clusterai_runtime::TaskContext<'_>,
        _: &mut clusterai_runtime::Extensions,
    ) -> Result<(), RunError> {
        if task.info.is_some() {
            // SAFETY: pid 0 names the calling thread.
            let class = unsafe { libc::sched_getscheduler(0) };
            self.0.lock().unwrap().push(class);
        }
        Ok(())
    }
}

/// Runs `runs` (an input and a policy each) in turn through the plugin
/// `wasm` under `config`: each task's result, and the scheduling class of
/// each task's thread.
#[cfg(target_os = "linux")]
pub(crate) fn scheduling_classes(
    wasm: &[u8],
    config: RuntimeConfig,
    runs: &[(TaskInput, Option<&clusterai_runtime::TaskPolicy>)],
) -> (
    Vec<Result<clusterai_runtime::TaskResult, RunError>>,
    Vec<i32>,
) {
    let probe = Arc::new(SchedulingProbe::default());
    let rt = Runtime::new(RuntimeConfig {
        capabilities: vec![probe.clone()],
        ..config
    })
    .unwrap();
    let plugin = rt.load(wasm).unwrap();
    let results = runs
        .iter()
        .map(|(input, policy)| plugin.run(input, *policy))
        .collect();
    let classes = probe.0.lock().unwrap().clone();
    (results, classes)
}

/// The scheduling class of each task's thread under `config`: one task
/// starved of fuel, then `then` tasks that succeed.
#[cfg(target_os = "linux")]
fn classes_after_a_breach(config: RuntimeConfig, then: usize) -> Vec<i32> {
    let starved = clusterai_runtime::TaskPolicy {
        fuel: 1_000,
        ..clusterai_runtime::TaskPolicy::default()
    };
    let mut runs = vec![(TaskInput::text("x"), Some(&starved))];
    runs.extend((0..then).map(|_| (TaskInput::text("x"), None)));
    let (results, classes) = scheduling_classes(&hello_bytes(), config, &runs);
    let (first, rest) = results.split_first().unwrap();
    assert!(
        matches!(first, Err(RunError::FuelExhausted { .. })),
        "{first:?}"
    );
    for ok in rest {
        assert_eq!(ok.as_ref().unwrap().output.data, b"Hello, x!\n");
    }
    classes
}

#[cfg(target_os = "linux")]
#[test]
fn a_plugin_that_broke_a_limit_runs_its_next_task_in_the_idle_class() {
    // An untried plugin's first task runs on the caller's thread; it breaks
    // a limit, so the next one runs (and succeeds) on an idle-class thread;
    // the success clears the suspicion, so the next runs at normal priority.
    assert_eq!(
        classes_after_a_breach(RuntimeConfig::default(), 2),
        [libc::SCHED_OTHER, libc::SCHED_IDLE, libc::SCHED_OTHER],
        "scheduling class of each task's thread"
    );
    // SAFETY: pid 0 names the calling thread.
    assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
}

/// An untried plugin's tasks yield to fresh ones from their first tick
/// (see the runtime's unit tests), but never in the idle class: on a node
/// whose cores are all busy, that class gets almost no CPU time, and a new
/// plugin could not even describe itself. Here every core is kept busy by
/// normal threads while an untried plugin loads and runs.
#[cfg(target_os = "linux")]
#[test]
fn an_untried_plugin_loads_and_runs_on_a_busy_machine() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hogs: Vec<_> = (0..cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let runs: Vec<_> = (0..3).map(|_| (TaskInput::text("x"), None)).collect();
    let (results, classes) = scheduling_classes(&hello_bytes(), RuntimeConfig::default(), &runs);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for hog in hogs {
        hog.join().unwrap();
    }
    for ok in &results {
        assert_eq!(ok.as_ref().unwrap().output.data, b"Hello, x!\n");
    }
    assert_eq!(classes, [libc::SCHED_OTHER; 3]);
}

#[cfg(target_os = "linux")]
#[test]
fn without_fairness_a_suspect_runs_on_the_callers_thread() {
    let config = RuntimeConfig {
        long_task_after: None,
        ..RuntimeConfig::default()
    };
    assert_eq!(
        classes_after_a_breach(config, 1),
        [libc::SCHED_OTHER, libc::SCHED_OTHER]
    );
}
