//! The tensor plugin's input codecs: binary (`CATN`) and JSON. Whatever the
//! bytes, decoding returns an error or tensors; tensors decoded from the
//! binary form encode and decode back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensor::codec::{decode_binary, decode_json, encode_binary};

fuzz_target!(|data: &[u8]| {
    if let Ok(tensors) = decode_binary(data) {
        let again = encode_binary(&tensors);
        let back = decode_binary(&again).expect("encoded tensors decode");
        assert_eq!(back, tensors);
    }
    let _ = decode_json(data);
});
