//! Looks for what an earlier task left behind in a reused memory slot.
//!
//! Input `write`: grows linear memory by [`PAGES`] pages and fills them with
//! [`SECRET`], as a task holding private data would. Input `read`: grows
//! memory by the same amount (the same addresses, in a slot the host reuses)
//! and counts the bytes there that are not zero: `non-zero=<count> at=<addr>`
//! (`write` answers `wrote at=<addr>`, so a test can see both used the same
//! addresses).
//! WebAssembly promises zeroed new memory, so anything but `non-zero=0` is
//! one task's data reaching the next.

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

/// 4 MiB of 64 KiB pages.
const PAGES: usize = 64;
const PAGE: usize = 64 << 10;
const SECRET: u8 = 0x5a;

struct Residue;

impl Plugin for Residue {
    fn describe() -> PluginInfo {
        PluginInfo::new("residue", "0.1.0")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        match input.data() {
            b"write" => {
                let base = grow()?;
                // SAFETY: `grow` returned the start of PAGES fresh pages that
                // nothing else in this instance uses.
                unsafe { core::ptr::write_bytes(base, SECRET, PAGES * PAGE) };
                Ok(Output::text(format!("wrote at={}", base as usize)))
            }
            b"read" => {
                let base = grow()?;
                let mut non_zero = 0usize;
                for i in 0..PAGES * PAGE {
                    // SAFETY: within the PAGES pages `grow` just added; read
                    // volatile so that the compiler cannot assume zeroes.
                    if unsafe { core::ptr::read_volatile(base.add(i)) } != 0 {
                        non_zero += 1;
                    }
                }
                Ok(Output::text(format!(
                    "non-zero={non_zero} at={}",
                    base as usize
                )))
            }
            _ => Err(TaskError::InvalidInput("expected `write` or `read`".into())),
        }
    }
}

/// Grows linear memory by PAGES pages and returns their first byte.
fn grow() -> Result<*mut u8, TaskError> {
    #[cfg(target_arch = "wasm32")]
    {
        let old = core::arch::wasm32::memory_grow(0, PAGES);
        if old == usize::MAX {
            return Err(TaskError::Internal("memory.grow refused".into()));
        }
        Ok((old * PAGE) as *mut u8)
    }
    #[cfg(not(target_arch = "wasm32"))]
    Err(TaskError::Internal("runs as wasm only".into()))
}

export_plugin!(Residue);
