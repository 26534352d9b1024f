//! The checks a component passes before it is compiled: the header and one
//! pass over its structure. Whatever the bytes, the answer is an error or a
//! structure within the limits (small ones here, so that their edges are
//! reached).
#![no_main]

use clusterai_wasm_check::{CompileLimits, check_header, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if check_header(data).is_err() {
        return;
    }
    let limits = CompileLimits {
        max_wasm_bytes: 1 << 16,
        max_code_bytes: 4096,
        max_function_bytes: 512,
        max_functions: 64,
        max_modules: 4,
    };
    if let Ok(s) = scan(data, &limits) {
        assert!(s.code_bytes <= limits.max_code_bytes, "{s:?}");
        assert!(s.largest_function <= limits.max_function_bytes, "{s:?}");
        assert!(s.functions <= limits.max_functions, "{s:?}");
        assert!(s.modules <= limits.max_modules, "{s:?}");
    }
});
