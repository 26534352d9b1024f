//! Imports that read the guest's strings and byte lists where they lie.
//!
//! The generated bindings would lift every `string` and `list<u8>` argument
//! into a host `String` or `Vec` before the host function sees it: a log
//! line of 60 MiB would cost the host 60 MiB for a moment, whatever the line
//! limit. So `log`, `streaming` and `assets` are defined here instead,
//! taking their arguments as views of the guest's memory ([`WasmStr`],
//! [`WasmList`]): the host measures them first and copies only what it
//! keeps: a log line's first `max_log_line_bytes`, a chunk only if it fits
//! the output limit, a content hash only if it has a hash's length.
//!
//! (A guest that declares a UTF-16 string encoding still has its strings
//! transcoded whole by wasmtime: bounded by its memory limit, not by ours.)

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmList, WasmStr};

use crate::bindings::clusterai::task::log;
use crate::bindings::v0_1::clusterai::task::log as log_v0_1;
use crate::guest_text::prefix;
use crate::host::HostState;

/// The interfaces defined here, as the generated bindings name them.
const LOG: &str = "clusterai:task/log@0.2.0";
const LOG_V0_1: &str = "clusterai:task/log@0.1.0";
const STREAMING: &str = "clusterai:task/streaming@0.2.0";
const ASSETS: &str = "clusterai:task/assets@0.2.0";

/// The longest asset name read: a content hash is 64 hex digits (with a
/// margin for a prefix), and a longer name is refused unread.
const MAX_ASSET_NAME_BYTES: usize = 128;

/// Defines `log` (both world versions), `streaming.emit` and `assets.read`,
/// each reading its arguments in place.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.instance(LOG)?.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, HostState>, (level, message): (log::Level, WasmStr)| {
            log_in_place(&mut store, level.into(), &message)
        },
    )?;
    linker.instance(LOG_V0_1)?.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, HostState>,
         (level, message): (log_v0_1::Level, WasmStr)| {
            log_in_place(&mut store, level.into(), &message)
        },
    )?;
    linker.instance(STREAMING)?.func_wrap(
        "emit",
        |mut store: StoreContextMut<'_, HostState>, (data,): (WasmList<u8>,)| {
            // Counted (and refused past the limit) before a byte is read.
            store.data_mut().count_streamed(data.len())?;
            if let Some(sink) = store.data().stream.clone() {
                sink(data.as_le_slice(&store));
            }
            Ok(())
        },
    )?;
    linker.instance(ASSETS)?.func_wrap(
        "read",
        |mut store: StoreContextMut<'_, HostState>, (hash,): (WasmStr,)| {
            let name = hash.to_str(&store)?;
            if name.len() > MAX_ASSET_NAME_BYTES {
                let len = name.len();
                return Ok((Err(format!(
                    "asset name of {len} bytes is not a content hash (64 hex digits)"
                )),));
            }
            let name = name.into_owned();
            Ok((store.data_mut().read_asset(&name),))
        },
    )?;
    Ok(())
}

fn log_in_place(
    store: &mut StoreContextMut<'_, HostState>,
    level: crate::host::LogLevel,
    message: &WasmStr,
) -> wasmtime::Result<()> {
    let limit = store.data().max_log_line_bytes();
    // Borrowed from the guest's memory (UTF-8 is only validated): the host
    // copies the prefix it keeps.
    let kept = prefix(&message.to_str(&*store)?, limit).to_owned();
    store.data_mut().push_log(level, kept);
    Ok(())
}
