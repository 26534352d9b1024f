//! `clusterai env` and `scripts/env.sh` resolve the same folders: the
//! shell scripts follow the one Rust module that defines them.

use std::process::Command;

use clusterai_test_support::repo_root;

/// What `clusterai env --json` prints under `vars`.
fn from_binary(vars: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clusterai"));
    cmd.args(["env", "--json"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What `scripts/env.sh` exports under `vars`, by the same names.
fn from_script(vars: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(
        "source scripts/env.sh && printf '{\"data_dir\":\"%s\",\"cache_dir\":\"%s\",\"models_cache_dir\":\"%s\",\"wheels_dir\":\"%s\",\"ort_library\":\"%s\",\"compiled_dir\":\"%s\"}' \
         \"$CLUSTERAI_DATA_DIR\" \"$CLUSTERAI_CACHE\" \"$CLUSTERAI_MODELS_CACHE\" \"$CLUSTERAI_WHEELS\" \"$ORT_LIBRARY\" \"$CLUSTERAI_COMPILED\"",
    );
    cmd.current_dir(repo_root());
    for name in [
        "CLUSTERAI_DATA_DIR",
        "CLUSTERAI_CACHE",
        "CLUSTERAI_WHEELS",
        "ORT_DYLIB_PATH",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
    ] {
        cmd.env_remove(name);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scripts_resolve_the_folders_the_binary_does() {
    let cases: [&[(&str, &str)]; 4] = [
        &[("HOME", "/home/someone")],
        &[
            ("HOME", "/home/someone"),
            ("XDG_DATA_HOME", "/xdg/data"),
            ("XDG_CACHE_HOME", "/xdg/cache"),
        ],
        &[
            ("HOME", "/home/someone"),
            ("CLUSTERAI_DATA_DIR", "/node/data"),
            ("CLUSTERAI_CACHE", "/node/cache"),
            ("CLUSTERAI_WHEELS", "/offline/wheels"),
        ],
        &[
            ("HOME", "/home/someone"),
            ("XDG_DATA_HOME", "relative/is/ignored"),
            ("ORT_DYLIB_PATH", "/opt/ort/libonnxruntime.so"),
        ],
    ];
    for vars in cases {
        let mut all = vars.to_vec();
        for name in [
            "CLUSTERAI_DATA_DIR",
            "CLUSTERAI_CACHE",
            "CLUSTERAI_WHEELS",
            "ORT_DYLIB_PATH",
            "XDG_DATA_HOME",
            "XDG_CACHE_HOME",
        ] {
            if !vars.iter().any(|(k, _)| *k == name) {
                all.push((name, ""));
            }
        }
        let binary = from_binary(&all);
        let script = from_script(vars);
        for key in [
            "data_dir",
            "cache_dir",
            "models_cache_dir",
            "wheels_dir",
            "ort_library",
            "compiled_dir",
        ] {
            assert_eq!(binary[key], script[key], "{key} under {vars:?}");
        }
    }
}
