//! A blob request as a peer sends it to the store's provider: a type byte,
//! then the postcard body, decoded as the provider decodes it. Any bytes
//! decode to an error or to a request that encodes back to itself; a get
//! request the store's policy takes for "one blob" (`ranges.is_blob()`)
//! reaches no child; and for a request the policy lets through for a
//! collection of `n` children (`within_collection`), the provider's walk
//! over its ranges ends by child `n + 1` (a far child would hold a thread).
#![no_main]

use clusterai_store::node::within_collection;
use iroh_blobs::protocol::{
    ChunkRangesSeq, GetManyRequest, GetRequest, ObserveRequest, PushRequest, RequestType,
};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    body: &[u8],
) -> Option<T> {
    let request: T = postcard::from_bytes(body).ok()?;
    let bytes = postcard::to_stdvec(&request).expect("a decoded request encodes");
    let back: T = postcard::from_bytes(&bytes).expect("an encoded request decodes");
    assert_eq!(back, request);
    Some(request)
}

fn check_ranges(ranges: &ChunkRangesSeq) {
    if ranges.is_blob() {
        for child in (1..64).chain([1 << 20, u64::from(u32::MAX), u64::MAX]) {
            assert!(
                ranges[child].is_empty(),
                "a one-blob request reaches child {child}: {ranges:?}"
            );
        }
    }
    for children in [0u64, 1, 3, 100] {
        if within_collection(ranges, children) {
            // The provider's walk: each non-empty entry in order, until a
            // child the collection does not have.
            for (index, _) in ranges.iter_non_empty_infinite() {
                if index > children {
                    break;
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let Ok(kind) = postcard::from_bytes::<RequestType>(&[kind]) else {
        return;
    };
    match kind {
        RequestType::Get => {
            if let Some(r) = round_trip::<GetRequest>(body) {
                check_ranges(&r.ranges);
            }
        }
        RequestType::GetMany => {
            round_trip::<GetManyRequest>(body);
        }
        RequestType::Observe => {
            round_trip::<ObserveRequest>(body);
        }
        RequestType::Push => {
            round_trip::<PushRequest>(body);
        }
        _ => {}
    }
});
