//! The one configuration record each contract keeps, and the admin who alone
//! may change it: loading and saving the record, the admin check, and the
//! `UpdateAdmin` / `UpdateTreasury` messages every contract answers alike.

use cosmwasm_std::{Addr, DepsMut, Response, StdError, StdResult, Storage};
use thiserror::Error;

/// The storage key of the configuration record.
pub const CONFIG_KEY: &[u8] = b"config";

/// A contract's configuration: one binary record (see [`crate::codec`]),
/// read on every message, governed by an admin.
pub trait AdminConfig: Sized {
    /// The record's bytes.
    fn encode(&self) -> Vec<u8>;
    /// The inverse of [`AdminConfig::encode`].
    fn decode(bytes: &[u8]) -> StdResult<Self>;
    /// The address that may change the configuration.
    fn admin_mut(&mut self) -> &mut Addr;
    /// Read access to [`AdminConfig::admin_mut`].
    fn admin(&self) -> &Addr;
}

/// A configuration that also names the treasury slashes and fees go to.
pub trait TreasuryConfig: AdminConfig {
    /// The treasury address.
    fn treasury_mut(&mut self) -> &mut Addr;
}

/// Why an admin's change was refused; each contract's error converts it.
#[derive(Error, Debug, PartialEq)]
pub enum AdminError {
    /// The configuration could not be read.
    #[error("{0}")]
    Std(#[from] StdError),
    /// The sender is not the admin.
    #[error("only the admin may {action}")]
    NotAdmin {
        /// What was attempted.
        action: String,
    },
}

/// The configuration.
pub fn load<C: AdminConfig>(storage: &dyn Storage) -> StdResult<C> {
    let bytes = storage
        .get(CONFIG_KEY)
        .ok_or_else(|| StdError::generic_err("config not found"))?;
    C::decode(&bytes)
}

/// Stores the configuration.
pub fn save<C: AdminConfig>(storage: &mut dyn Storage, config: &C) {
    storage.set(CONFIG_KEY, &config.encode());
}

/// The configuration, for a change `sender` wants to make (`action` names it
/// in the error when `sender` is not the admin).
pub fn admin_config<C: AdminConfig>(
    storage: &dyn Storage,
    sender: &Addr,
    action: &str,
) -> Result<C, AdminError> {
    let config: C = load(storage)?;
    if config.admin() != sender {
        return Err(AdminError::NotAdmin {
            action: action.to_string(),
        });
    }
    Ok(config)
}

/// `UpdateAdmin { admin }`: the admin hands the role to `admin`.
pub fn update_admin<C, E>(deps: DepsMut, sender: &Addr, admin: String) -> Result<Response, E>
where
    C: AdminConfig,
    E: From<StdError> + From<AdminError>,
{
    let mut config: C = admin_config::<C>(deps.storage, sender, "hand over the admin role")?;
    *config.admin_mut() = deps.api.addr_validate(&admin)?;
    save(deps.storage, &config);
    Ok(Response::new()
        .add_attribute("action", "update_admin")
        .add_attribute("admin", admin))
}

/// `UpdateTreasury { treasury }`: the admin moves the treasury.
pub fn update_treasury<C, E>(deps: DepsMut, sender: &Addr, treasury: String) -> Result<Response, E>
where
    C: TreasuryConfig,
    E: From<StdError> + From<AdminError>,
{
    let mut config: C = admin_config::<C>(deps.storage, sender, "change the treasury")?;
    *config.treasury_mut() = deps.api.addr_validate(&treasury)?;
    save(deps.storage, &config);
    Ok(Response::new()
        .add_attribute("action", "update_treasury")
        .add_attribute("treasury", treasury))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Reader, put_addr};
    use cosmwasm_std::testing::mock_dependencies;

    #[derive(Debug, PartialEq)]
    struct Conf {
        admin: Addr,
        treasury: Addr,
    }

    impl AdminConfig for Conf {
        fn encode(&self) -> Vec<u8> {
            let mut b = Vec::new();
            put_addr(&mut b, &self.admin);
            put_addr(&mut b, &self.treasury);
            b
        }
        fn decode(bytes: &[u8]) -> StdResult<Self> {
            let mut r = Reader::new(bytes, "test config");
            let c = Conf {
                admin: r.addr()?,
                treasury: r.addr()?,
            };
            r.finish()?;
            Ok(c)
        }
        fn admin_mut(&mut self) -> &mut Addr {
            &mut self.admin
        }
        fn admin(&self) -> &Addr {
            &self.admin
        }
    }

    impl TreasuryConfig for Conf {
        fn treasury_mut(&mut self) -> &mut Addr {
            &mut self.treasury
        }
    }

    #[test]
    fn only_the_admin_changes_the_config_and_each_change_is_saved() {
        let mut deps = mock_dependencies();
        let api = deps.api;
        let (admin, treasury, gov, mallory) = (
            api.addr_make("admin"),
            api.addr_make("treasury"),
            api.addr_make("gov"),
            api.addr_make("mallory"),
        );
        assert!(load::<Conf>(&deps.storage).is_err(), "nothing saved yet");
        let conf = Conf {
            admin: admin.clone(),
            treasury: treasury.clone(),
        };
        save(&mut deps.storage, &conf);
        assert_eq!(load::<Conf>(&deps.storage).unwrap(), conf);

        let refused = admin_config::<Conf>(&deps.storage, &mallory, "change the fee");
        assert_eq!(
            refused.unwrap_err(),
            AdminError::NotAdmin {
                action: "change the fee".into()
            }
        );
        let e = update_admin::<Conf, AdminError>(deps.as_mut(), &mallory, gov.to_string());
        assert_eq!(
            e.unwrap_err().to_string(),
            "only the admin may hand over the admin role"
        );
        let e = update_admin::<Conf, AdminError>(deps.as_mut(), &admin, "not an address".into());
        assert!(matches!(e, Err(AdminError::Std(_))), "{e:?}");
        assert_eq!(load::<Conf>(&deps.storage).unwrap(), conf, "unchanged");

        let new_treasury = api.addr_make("new-treasury");
        let r =
            update_treasury::<Conf, AdminError>(deps.as_mut(), &admin, new_treasury.to_string())
                .unwrap();
        assert_eq!(r.attributes[1].value, new_treasury.to_string());
        update_admin::<Conf, AdminError>(deps.as_mut(), &admin, gov.to_string()).unwrap();
        assert_eq!(
            load::<Conf>(&deps.storage).unwrap(),
            Conf {
                admin: gov.clone(),
                treasury: new_treasury,
            }
        );
        // The old admin has lost the role.
        let e = update_treasury::<Conf, AdminError>(deps.as_mut(), &admin, treasury.to_string());
        assert!(matches!(e, Err(AdminError::NotAdmin { .. })), "{e:?}");
    }
}
