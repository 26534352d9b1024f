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

fn elapsed(store: &mut StoreContextMut<'_, HostState>) -> wasmtime::Result<Resource<DynPollable>> {
    let table = store.data_mut().table_mut();
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
        |mut store: StoreContextMut<'_, HostState>, (_duration,): (u64,)| {
            Ok((elapsed(&mut store)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, HostState>, (_when,): (u64,)| Ok((elapsed(&mut store)?,)),
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
