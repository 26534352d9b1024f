//! Emits each line of its input as a chunk and returns the whole input; with
//! `flood=N`, emits N chunks of 64 KiB first (past any small output limit);
//! with `drip=N`, emits `tick i` N times with a stretch of work between
//! (a task that streams for a while, as a generation does).

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, stream};

struct Streamer;

impl Plugin for Streamer {
    fn describe() -> PluginInfo {
        PluginInfo::new("streamer", env!("CARGO_PKG_VERSION"))
            .description("Streams its input line by line")
            .accepts("text/plain")
            .produces("text/plain")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let flood: u32 = input.param_or("flood", 0)?;
        let drip: u32 = input.param_or("drip", 0)?;
        for i in 0..drip {
            stream::emit_text(&format!("tick {i}\n"));
            let mut x = 0u64;
            for k in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(k));
            }
            std::hint::black_box(x);
        }
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..flood {
            stream::emit(&chunk);
        }
        let text = input.text()?;
        for line in text.split_inclusive('\n') {
            stream::emit_text(line);
        }
        Ok(Output::text(text))
    }
}

#[cfg(target_arch = "wasm32")]
clusterai_plugin_sdk::export_plugin!(Streamer);
