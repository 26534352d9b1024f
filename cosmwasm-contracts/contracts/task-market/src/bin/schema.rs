//! Writes the JSON schema of the contract's messages into `schema/`.
use clusterai_economy::migrate::MigrateMsg;
use cosmwasm_schema::write_api;

fn main() {
    write_api! {
        instantiate: clusterai_economy::market::InstantiateMsg,
        execute: clusterai_economy::market::ExecuteMsg,
        query: clusterai_economy::market::QueryMsg,
        migrate: MigrateMsg,
    }
}
