//! Prints the VM gas of each step of a k=3 task lifecycle, run on the
//! optimised artifacts in cosmwasm-vm, against a cw20 transfer.
//!
//! `gas-bench [--json]`: a table, or the project's bench JSON.

use clusterai_bench::{BenchReport, BenchResult};
use clusterai_vm_tests::economy::Economy;

fn main() {
    let json = std::env::args().skip(1).any(|a| a == "--json");
    let report = match run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gas-bench: {e}");
            std::process::exit(1);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print!("{}", report.to_table());
    }
}

fn run() -> Result<BenchReport, String> {
    // Six nodes: the quicknet round the lifecycle uses draws three distinct ones.
    let mut economy = Economy::deploy(6)?;
    let (_, assigned, gas) = economy.lifecycle(&[[0x42; 32]; 3])?;
    if assigned.len() != 3 {
        return Err(format!("expected three distinct nodes, drew {assigned:?}"));
    }
    let base = gas.cw20_transfer as f64;
    let unit = "vm_gas";
    let mut report = BenchReport::new("chain");
    let mut push = |name: String, value: u64| {
        report.results.push(BenchResult::new(
            name,
            unit,
            value as f64,
            "cw20_transfer",
            base,
        ))
    };
    push("gas:cw20_transfer".into(), gas.cw20_transfer);
    push("gas:post".into(), gas.post);
    push("gas:assign".into(), gas.assign);
    push("gas:beacon_round".into(), gas.beacon_round);
    for (i, g) in gas.commits.iter().enumerate() {
        push(format!("gas:commit_{}", i + 1), *g);
    }
    for (i, g) in gas.reveals.iter().enumerate() {
        push(format!("gas:reveal_{}", i + 1), *g);
    }
    push("gas:settle".into(), gas.settle);
    push("gas:task_lifecycle_k3".into(), gas.total());
    push(
        "gas:task_lifecycle_k3_own_round".into(),
        gas.total_with_own_round(),
    );
    Ok(report)
}
