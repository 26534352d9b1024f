//! Writes the JSON schema of the token's messages into `schema/`.
use clusterai_economy::migrate::MigrateMsg;
use cosmwasm_schema::write_api;

fn main() {
    write_api! {
        instantiate: cw20_base::msg::InstantiateMsg,
        execute: cw20_base::msg::ExecuteMsg,
        query: cw20_base::msg::QueryMsg,
        migrate: MigrateMsg,
    }
}
