//! Writes the JSON schema of the contract's messages into `schema/`.
use clusterai_economy::migrate::MigrateMsg;
use cosmwasm_schema::write_api;

fn main() {
    write_api! {
        instantiate: clusterai_economy::models::InstantiateMsg,
        execute: clusterai_economy::models::ExecuteMsg,
        query: clusterai_economy::models::QueryMsg,
        migrate: MigrateMsg,
    }
}
