//! Generates `models`: one constant per model of the repository's pinned
//! manifest (`models/models.toml`), its BLAKE3 as hex, so plugins declare
//! the models they use by constant and a model added to the manifest reaches
//! them with no other edit. The manifest is plain TOML written by the set-up
//! (`name = "..."`, `blake3 = "..."` inside `[[model]]` tables); this reads
//! just those two keys, so the SDK needs no TOML parser.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("../../models/models.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    let mut code = String::new();
    let mut all = String::from(
        "/// Every pinned model as `(name, BLAKE3 hex)`, in the manifest's order.\n\
         pub const ALL: &[(&str, &str)] = &[\n",
    );
    for block in text.split("[[model]]").skip(1) {
        let value = |key: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        let name = value("name").expect("every [[model]] has a name");
        let hash = value("blake3").unwrap_or_else(|| panic!("model {name} has no blake3"));
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "model {name}: blake3 must be 64 hex characters"
        );
        let description = value("description").unwrap_or_default();
        let constant = name.replace(['-', '.'], "_").to_uppercase();
        let _ = writeln!(
            code,
            "/// BLAKE3 of `{name}`: {description}\npub const {constant}: &str = {hash:?};"
        );
        let _ = writeln!(all, "    ({name:?}, {constant}),");
    }
    all.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("models.rs");
    std::fs::write(out, code + &all).expect("write models.rs");
}
