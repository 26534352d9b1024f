//! The contracts' messages as the chain hands them over (JSON): any bytes
//! decode to an error or to a message that encodes and decodes back to
//! itself, for every message type of the registry, the task market and the
//! model market.
#![no_main]

use clusterai_economy::{market, models, registry};
use cosmwasm_std::{from_json, to_json_vec};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(msg) = from_json::<T>(data) {
        let bytes = to_json_vec(&msg).expect("a decoded message encodes");
        let back: T = from_json(&bytes).expect("an encoded message decodes");
        assert_eq!(back, msg);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<registry::InstantiateMsg>(data);
    round_trip::<registry::ExecuteMsg>(data);
    round_trip::<registry::ReceiveMsg>(data);
    round_trip::<registry::QueryMsg>(data);
    round_trip::<market::InstantiateMsg>(data);
    round_trip::<market::ExecuteMsg>(data);
    round_trip::<market::ReceiveMsg>(data);
    round_trip::<market::QueryMsg>(data);
    round_trip::<models::InstantiateMsg>(data);
    round_trip::<models::ExecuteMsg>(data);
    round_trip::<models::ReceiveMsg>(data);
    round_trip::<models::QueryMsg>(data);
});
