//! World versions side by side, streaming and assets: plugins built for
//! `clusterai:task@0.1.0` keep loading and running beside 0.2.0 ones; what a
//! plugin emits reaches the caller in order and counts against the output
//! limit; a plugin reads only the blobs it declared; a declared output
//! type keeps the canonical form the chain compares outputs in.

use std::sync::{Arc, Mutex};

use clusterai_runtime::{
    PluginError, RunError, Runtime, RuntimeConfig, StreamSink, TaskInput, TaskPolicy, WorldVersion,
};
use clusterai_test_support::plugins::programs;
use clusterai_types::BlobSource;
use clusterai_types::source::DirSource;

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

pub(crate) mod legacy_v0_1 {
    use super::*;

    #[test]
    fn runs_beside_plugins_of_world_0_2() {
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let legacy = rt.load(&read(programs::LEGACY_V0_1)).unwrap();
        let hello = rt.load(&read(programs::HELLO)).unwrap();
        assert_eq!(legacy.world(), WorldVersion::V0_1);
        assert_eq!(hello.world(), WorldVersion::V0_2);
        assert_eq!(legacy.info().name, "legacy");
        for _ in 0..2 {
            let old = legacy.run(&TaskInput::text("abc"), None).unwrap();
            assert_eq!(old.output.data, b"cba");
            assert_eq!(old.logs.len(), 1);
            assert_eq!(old.logs[0].message, "reversing");
            let new = hello.run(&TaskInput::text("world"), None).unwrap();
            assert_eq!(new.output.data, b"Hello, world!\n");
        }
        let inspection = clusterai_runtime::inspect(&rt, &read(programs::LEGACY_V0_1));
        assert_eq!(inspection.world, Some(WorldVersion::V0_1));
        assert!(
            inspection
                .exports
                .iter()
                .any(|e| e == "clusterai:task/plugin@0.1.0"),
            "{:?}",
            inspection.exports
        );
    }
}

fn collecting() -> (StreamSink, Arc<Mutex<Vec<Vec<u8>>>>) {
    let chunks = Arc::new(Mutex::new(Vec::new()));
    let seen = chunks.clone();
    let sink: StreamSink = Arc::new(move |c: &[u8]| seen.lock().unwrap().push(c.to_vec()));
    (sink, chunks)
}

pub(crate) mod streamer {
    use super::*;

    #[test]
    fn emitted_chunks_reach_the_caller_in_order() {
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let plugin = rt.load(&read(programs::STREAMER)).unwrap();
        let (sink, chunks) = collecting();
        let input = TaskInput::text("one\ntwo\nthree");
        let result = plugin.run_streaming(&input, None, Some(sink)).unwrap();
        assert_eq!(
            *chunks.lock().unwrap(),
            vec![b"one\n".to_vec(), b"two\n".to_vec(), b"three".to_vec()]
        );
        assert_eq!(result.output.data, b"one\ntwo\nthree");
        // Without a sink the chunks are dropped and the task is the same.
        assert_eq!(
            plugin.run(&input, None).unwrap().output.data,
            b"one\ntwo\nthree"
        );
    }

    #[test]
    fn the_stream_counts_against_the_output_limit() {
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let plugin = rt.load(&read(programs::STREAMER)).unwrap();
        let policy = TaskPolicy {
            max_output_bytes: 1 << 20,
            ..TaskPolicy::default()
        };
        let (sink, chunks) = collecting();
        // 17 chunks of 64 KiB: the 17th crosses 1 MiB and stops the task.
        let flood = TaskInput::text("x").param("flood", "17");
        let err = plugin
            .run_streaming(&flood, Some(&policy), Some(sink))
            .unwrap_err();
        assert!(
            matches!(err, RunError::OutputTooLarge { size, limit } if limit == 1 << 20 && size == 17 * (64 << 10)),
            "{err:?}"
        );
        assert_eq!(
            chunks.lock().unwrap().len(),
            16,
            "nothing past the limit reaches the caller"
        );
        // Streamed bytes and the returned output share the limit: 16 chunks
        // fill it exactly, and the 5-byte output then crosses it.
        let exact = TaskInput::text("hello").param("flood", "16");
        let err = plugin.run(&exact, Some(&policy)).unwrap_err();
        assert!(matches!(err, RunError::OutputTooLarge { .. }), "{err:?}");
        let under = TaskInput::text("hello").param("flood", "15");
        assert!(plugin.run(&under, Some(&policy)).is_ok());
    }
}

pub(crate) mod asset_reader {
    use super::*;

    #[test]
    fn reads_only_the_blobs_it_declared() {
        let dir = tempfile::tempdir().unwrap();
        let source = DirSource::new(dir.path(), None);
        let declared = source.add(b"clusterai asset\n").unwrap();
        let other = source.add(b"someone else's secret").unwrap();
        let rt = Runtime::new(RuntimeConfig {
            assets: Some(Arc::new(source.clone()) as Arc<dyn BlobSource>),
            ..RuntimeConfig::default()
        })
        .unwrap();
        let plugin = rt.load(&read(programs::ASSET_READER)).unwrap();
        assert_eq!(plugin.info().models[0].hash, declared);
        assert_eq!(
            plugin.info().models[0].format,
            clusterai_runtime::ModelFormat::Blob
        );

        let ok = plugin.run(&TaskInput::default(), None).unwrap();
        assert_eq!(ok.output.data, b"clusterai asset\n");

        let refused = |hash: &str| match plugin.run(&TaskInput::default().param("hash", hash), None)
        {
            Err(RunError::Plugin(PluginError::ModelUnavailable(m))) => m,
            other => panic!("{other:?}"),
        };
        let m = refused(&other.to_hex());
        assert!(m.contains("not declared"), "{m}");
        let m = refused(&"z".repeat(10_000));
        assert!(m.contains("not a content hash") && m.len() < 400, "{m}");

        // Declared but gone from the store: said so.
        std::fs::remove_file(source.path_of(&declared)).unwrap();
        let m = refused(&declared.to_hex());
        assert!(m.contains("not held"), "{m}");

        // A runtime without an asset source answers that it has none.
        let bare = Runtime::new(RuntimeConfig::default()).unwrap();
        let plugin = bare.load(&read(programs::ASSET_READER)).unwrap();
        match plugin.run(&TaskInput::default(), None) {
            Err(RunError::Plugin(PluginError::ModelUnavailable(m))) => {
                assert!(m.contains("no assets"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}

pub(crate) mod scores {
    use super::*;

    /// A declared output type keeps its parameters (the chain reads the
    /// canonical form from it), and the run is deterministic: the same
    /// input gives the same bytes, so only other hardware could differ.
    #[test]
    fn declares_its_canonical_form_and_answers_alike_twice() {
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let scores = rt.load(&read(programs::SCORES)).unwrap();
        assert_eq!(
            scores.info().output_type,
            "application/json; canonical=round-3"
        );
        let a = scores.run(&TaskInput::text("a picture"), None).unwrap();
        let b = scores.run(&TaskInput::text("a picture"), None).unwrap();
        assert_eq!(a.output.data, b.output.data);
        assert!(
            String::from_utf8(a.output.data)
                .unwrap()
                .starts_with(r#"[{"label":"cat","score":0."#)
        );
    }
}
