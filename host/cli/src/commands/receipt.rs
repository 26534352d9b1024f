//! `clusterai receipt verify`: checks a receipt's signature against the node
//! key it names, and the hashes of the files it is given, saying exactly
//! which check fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use clusterai_types::{ContentHash, SignedReceipt};

use crate::exit;

/// `clusterai receipt <command>`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Check a signed receipt (JSON, as `GET /v1/tasks/{id}/receipt` gives
    /// it): the node's signature, and the hashes of the files given.
    Verify {
        /// The receipt file, or - for standard input.
        receipt: String,
        /// The task's input: its BLAKE3 must match the receipt's.
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// The task's output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The plugin (.wasm).
        #[arg(long, value_name = "FILE")]
        plugin: Option<PathBuf>,
    },
}

/// Runs a `receipt` command: exit 0 when every check passes, 1 otherwise.
pub(crate) fn run(cmd: ReceiptCommand, json: bool) -> anyhow::Result<ExitCode> {
    let ReceiptCommand::Verify {
        receipt,
        input,
        output,
        plugin,
    } = cmd;
    let text = if receipt == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        String::from_utf8(super::task::read_file(&PathBuf::from(&receipt))?)?
    };
    let signed: SignedReceipt = serde_json::from_str(&text)
        .map_err(|e| exit::UsageError(format!("{receipt} is not a signed receipt: {e}")))?;
    let mut checks: Vec<(String, Result<(), String>)> =
        vec![("signature".into(), signature(&signed))];
    for (what, path, want) in [
        ("input", &input, signed.receipt.input),
        ("output", &output, signed.receipt.output),
        ("plugin", &plugin, signed.receipt.plugin),
    ] {
        if let Some(path) = path {
            let got = ContentHash::of(&super::task::read_file(path)?);
            let verdict = if got == want {
                Ok(())
            } else {
                Err(format!(
                    "{} hashes to {got}, the receipt says {want}",
                    path.display()
                ))
            };
            checks.push((what.to_string(), verdict));
        }
    }
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    if json {
        let list: Vec<_> = checks
            .iter()
            .map(|(k, r)| serde_json::json!({ "check": k, "ok": r.is_ok(), "error": r.as_ref().err() }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "valid": ok, "task_id": signed.receipt.task_id, "node": signed.receipt.node, "checks": list })
        );
    } else {
        for (k, r) in &checks {
            match r {
                Ok(()) => println!("ok    {k}"),
                Err(e) => println!("FAIL  {k}: {e}"),
            }
        }
        println!(
            "{} receipt of task {} by node {}",
            if ok { "valid" } else { "INVALID" },
            signed.receipt.task_id,
            signed.receipt.node
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}

/// The signature, checked against the node key the receipt names.
fn signature(signed: &SignedReceipt) -> Result<(), String> {
    clusterai_node::buyer::verify_signature(signed)
}
