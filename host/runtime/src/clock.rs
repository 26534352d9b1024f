//! Time inside the sandbox: frozen.
//!
//! A plugin sees clocks that never move (`HostState` installs them), and
//! every sleep it asks for ends at once. WASI's own sleeps wait in real time
//! inside a host call, where neither fuel nor the epoch deadline reaches: a
//! plugin could sleep an hour (or "forever": the longest sleep WASI can
//! express never ends) past its deadline. With a frozen clock no time passes
//! in the sandbox, so a sleep of any length is already over.

use std::future::Future;
use std::pin::Pin;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use crate::host::HostState;

/// The `wasi:clocks` package version the WASI linker defines.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Ready at once.
struct Elapsed;

impl Pollable for Elapsed {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

/// A sleep of `nanos`, over at once; the longest asked for is kept (a
/// sleep past the whole task's budget makes the plugin a suspect).
fn sleep(
    store: &mut StoreContextMut<'_, HostState>,
    nanos: u64,
) -> wasmtime::Result<Resource<DynPollable>> {
    let state = store.data_mut();
    state.longest_sleep = state
        .longest_sleep
        .max(std::time::Duration::from_nanos(nanos));
    let table = state.table_mut();
    let sleep = table.push(Elapsed)?;
    subscribe(table, sleep)
}

/// Replaces WASI's `subscribe-duration` and `subscribe-instant` with sleeps
/// that are over at once.
pub(crate) fn freeze_sleeps(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, HostState>, (duration,): (u64,)| {
            Ok((sleep(&mut store, duration)?,))
        },
    )?;
    // The frozen monotonic clock reads 0, so an instant is a duration.
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, HostState>, (when,): (u64,)| {
            Ok((sleep(&mut store, when)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
