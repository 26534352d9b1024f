//! The seam through which a node grants plugins more than the sandbox's
//! base interfaces.
//!
//! The runtime knows WASI (locked down) and the task world; everything else
//! a plugin may import (inference, say) is a [`Capability`] that the
//! composition root hands to [`RuntimeConfig`](crate::RuntimeConfig). A
//! capability has one lifecycle, in three steps:
//!
//! 1. **link** ([`Capability::add_to_linker`]): once per runtime, its host
//!    functions join the linker; its WIT packages ([`Capability::packages`])
//!    join the imports a plugin may have.
//! 2. **configure** ([`Capability::configure`]): once per plugin, after
//!    `describe()`, it checks what the plugin declared.
//! 3. **prepare** ([`Capability::prepare`]): once per task, it puts the
//!    task's state into the task's [`Extensions`]; its host functions find
//!    it there (through [`HostState::extension_and_table`](crate::HostState::extension_and_table)),
//!    and the caller reads it back from [`TaskResult::extensions`](crate::TaskResult::extensions).
//!
//! Capabilities never see each other; each reads the task's limits from the
//! one [`TaskPolicy`].

use std::any::Any;
use std::time::Instant;

use clusterai_types::{ContentHash, HostMemory, TaskPolicy};
use wasmtime::component::Linker;

use crate::error::{LoadError, RunError};
use crate::host::HostState;
use crate::plugin::PluginInfo;

/// A host capability granted to plugins. See the [module docs](self).
pub trait Capability: Send + Sync + std::fmt::Debug + 'static {
    /// The WIT packages it serves (e.g. `wasi:nn`); a plugin importing one of
    /// them links only when the capability is present.
    fn packages(&self) -> &[&'static str];

    /// Adds its host functions to the runtime's linker. Called once.
    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()>;

    /// Checks a plugin that has just described itself. The default accepts.
    fn configure(&self, plugin: &PluginInfo) -> Result<(), LoadError> {
        let _ = plugin;
        Ok(())
    }

    /// Builds the capability's state for one task and inserts it into
    /// `extensions`. Called for every task, and for `describe()` at load
    /// time (with no plugin info yet).
    fn prepare(&self, task: &TaskContext<'_>, extensions: &mut Extensions) -> Result<(), RunError>;
}

/// What a capability knows about the task it prepares for.
#[derive(Debug, Clone, Copy)]
pub struct TaskContext<'a> {
    /// The plugin's content hash.
    pub plugin: ContentHash,
    /// What the plugin declared; `None` while `describe()` itself runs.
    pub info: Option<&'a PluginInfo>,
    /// The task's limits and the models it names.
    pub policy: &'a TaskPolicy,
    /// When the task's deadline passes.
    pub deadline: Instant,
    /// The task's host-memory count: what a capability makes the host
    /// hold for the task counts here, beside the runtime's own.
    pub host_memory: &'a HostMemory,
}

impl TaskContext<'_> {
    /// The models the task may open: those the plugin declares and those
    /// the policy names, in that order, without repeats.
    pub fn allowed_models(&self) -> Vec<ContentHash> {
        let mut out: Vec<ContentHash> = Vec::new();
        let declared = self
            .info
            .into_iter()
            .flat_map(|i| i.models.iter().map(|m| m.hash));
        for hash in declared.chain(self.policy.models.iter().copied()) {
            if !out.contains(&hash) {
                out.push(hash);
            }
        }
        out
    }
}

/// Per-task state of the capabilities, one value per type.
#[derive(Default)]
pub struct Extensions {
    values: Vec<Box<dyn Any + Send>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("count", &self.values.len())
            .finish()
    }
}

impl Extensions {
    /// Adds `value`, replacing a value of the same type.
    pub fn insert<T: Any + Send>(&mut self, value: T) {
        match self.get_mut::<T>() {
            Some(slot) => *slot = value,
            None => self.values.push(Box::new(value)),
        }
    }

    /// The value of type `T`.
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.values.iter().find_map(|v| v.downcast_ref::<T>())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.values.iter_mut().find_map(|v| v.downcast_mut::<T>())
    }

    /// Removes and returns the value of type `T`.
    pub fn take<T: Any + Send>(&mut self) -> Option<T> {
        let i = self.values.iter().position(|v| v.is::<T>())?;
        self.values.swap_remove(i).downcast::<T>().ok().map(|b| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_hold_one_value_per_type() {
        let mut e = Extensions::default();
        e.insert(1u32);
        e.insert("a");
        e.insert(2u32);
        assert_eq!(e.get::<u32>(), Some(&2));
        *e.get_mut::<&str>().unwrap() = "b";
        assert_eq!(e.take::<&str>(), Some("b"));
        assert!(e.get::<&str>().is_none());
        assert!(e.get::<u64>().is_none());
    }
}
