//! The economics simulation as a benchmark: for each stake share, each
//! deviating strategy's profit per task beside the same actor's profit when
//! honest, on the real contracts (see `clusterai_economy_testing::sim`).
//!
//! `economics [--json] [--tasks N]`: a table on stderr, or with `--json` the
//! project's bench JSON on stdout (suite `economics`, results named
//! `profit:<strategy>@<share>`, unit `tokens/task`, baseline
//! `profit:honest@<share>`). Exits 1 if any deviation out-earns honesty.

use clusterai_economy_testing::sim::{self, REWARD, RUN_COST};
use serde_json::json;

fn main() {
    let mut json_out = false;
    let mut tasks = 300u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json_out = true,
            "--tasks" => {
                tasks = match args.next().and_then(|n| n.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => usage("--tasks needs a positive number"),
                }
            }
            "-h" | "--help" => {
                println!("usage: economics [--json] [--tasks N]");
                return;
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let shares = [0.10, 0.20, 0.30];
    eprintln!(
        "economics: {tasks} tasks per run, reward {REWARD} for k = 3, running a task costs {RUN_COST}"
    );
    let rows = sim::compare(&shares, tasks);
    let mut results = Vec::new();
    let mut profitable = Vec::new();
    for r in &rows {
        let name = format!("profit:{}@{:.2}", r.strategy.name(), r.share);
        eprintln!(
            "{name:<30} {:>10.1} tokens/task   honest {:>10.1}   ratio {:>6.3}   captured {}",
            r.profit,
            r.honest,
            r.profit / r.honest,
            r.captured
        );
        if r.profit >= r.honest {
            profitable.push(name.clone());
        }
        results.push(json!({
            "name": name,
            "unit": "tokens/task",
            "value": r.profit,
            "baseline": format!("profit:honest@{:.2}", r.share),
            "baseline_value": r.honest,
            "ratio": r.profit / r.honest,
        }));
    }
    if json_out {
        let report = json!({"suite": "economics", "results": results});
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    }
    if !profitable.is_empty() {
        eprintln!("economics: deviations that out-earn honesty: {profitable:?}");
        std::process::exit(1);
    }
}

fn usage(why: &str) -> ! {
    eprintln!("economics: {why}\nusage: economics [--json] [--tasks N]");
    std::process::exit(2);
}
