//! Writes the JSON schema of the contract's messages into `schema/`.
use clusterai_economy::migrate::MigrateMsg;
use cosmwasm_schema::write_api;

fn main() {
    write_api! {
        instantiate: clusterai_economy::registry::InstantiateMsg,
        execute: clusterai_economy::registry::ExecuteMsg,
        query: clusterai_economy::registry::QueryMsg,
        migrate: MigrateMsg,
    }
}
