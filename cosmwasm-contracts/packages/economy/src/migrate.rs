//! `migrate` support shared by the contracts: a contract only migrates from
//! itself (same cw2 name) and never to an older version.

use cosmwasm_schema::cw_serde;
use cosmwasm_std::Storage;
use thiserror::Error;

/// The (empty) migrate message of every economy contract.
#[cw_serde]
pub struct MigrateMsg {}

/// Why a migration was refused.
#[derive(Error, Debug, PartialEq, Eq, Clone)]
pub enum MigrateError {
    /// The stored cw2 name is another contract's.
    #[error("cannot migrate from contract {stored} to {expected}")]
    WrongContract {
        /// Stored name.
        stored: String,
        /// This contract's name.
        expected: String,
    },
    /// The stored version is newer than this code.
    #[error("cannot migrate from version {stored} down to {new}")]
    Downgrade {
        /// Stored version.
        stored: String,
        /// This code's version.
        new: String,
    },
    /// No or unreadable cw2 info.
    #[error("contract version info: {0}")]
    Info(String),
    /// The stored state is in a layout this code cannot read.
    #[error(
        "state layout {stored} cannot be migrated in place to layout {expected}: deploy anew (docs/contracts.md, migration)"
    )]
    Layout {
        /// The stored layout (1: written before layouts were recorded).
        stored: u32,
        /// This code's layout.
        expected: u32,
    },
}

/// Storage key of a contract's state layout number.
pub const LAYOUT_KEY: &[u8] = b"state_layout";

/// Records the state layout this code writes (at instantiation).
pub fn set_layout(storage: &mut dyn Storage, layout: u32) {
    storage.set(LAYOUT_KEY, &layout.to_be_bytes());
}

/// Refuses to migrate state written in another layout: binary records
/// change shape between layouts, and reading them with the wrong decoder
/// would corrupt every task and node. State without a recorded layout is
/// layout 1.
pub fn check_layout(storage: &dyn Storage, layout: u32) -> Result<(), MigrateError> {
    let stored = storage
        .get(LAYOUT_KEY)
        .and_then(|b| b.try_into().ok().map(u32::from_be_bytes))
        .unwrap_or(1);
    if stored != layout {
        return Err(MigrateError::Layout {
            stored,
            expected: layout,
        });
    }
    Ok(())
}

fn parse(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .take(3)
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// Checks the stored cw2 info against `name`/`version` and stores the new version.
pub fn migrate_version(
    storage: &mut dyn Storage,
    name: &str,
    version: &str,
) -> Result<(), MigrateError> {
    let stored =
        cw2::get_contract_version(storage).map_err(|e| MigrateError::Info(e.to_string()))?;
    if stored.contract != name {
        return Err(MigrateError::WrongContract {
            stored: stored.contract,
            expected: name.to_string(),
        });
    }
    if parse(&stored.version) > parse(version) {
        return Err(MigrateError::Downgrade {
            stored: stored.version,
            new: version.to_string(),
        });
    }
    cw2::set_contract_version(storage, name, version).map_err(|e| MigrateError::Info(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::MockStorage;

    #[test]
    fn refuses_other_contracts_and_downgrades() {
        let mut s = MockStorage::new();
        cw2::set_contract_version(&mut s, "a", "1.2.0").unwrap();
        assert!(matches!(
            migrate_version(&mut s, "b", "1.2.0"),
            Err(MigrateError::WrongContract { .. })
        ));
        assert!(matches!(
            migrate_version(&mut s, "a", "1.1.9"),
            Err(MigrateError::Downgrade { .. })
        ));
        migrate_version(&mut s, "a", "1.10.0").unwrap();
        assert_eq!(cw2::get_contract_version(&s).unwrap().version, "1.10.0");
    }

    #[test]
    fn refuses_state_of_another_layout() {
        let mut s = MockStorage::new();
        assert_eq!(
            check_layout(&s, 2),
            Err(MigrateError::Layout {
                stored: 1,
                expected: 2
            })
        );
        set_layout(&mut s, 2);
        assert_eq!(check_layout(&s, 2), Ok(()));
        assert!(check_layout(&s, 3).is_err());
    }
}
