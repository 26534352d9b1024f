//! The economics simulation, small enough for every test run: at stake
//! shares below a third, no deviation (lazy, colluding, colluding over split
//! stake, withholding, declining, griefing) earns an actor as much as
//! honesty. `scripts/bench-chain.sh` runs the full-size version.

use clusterai_economy_testing::sim::{self, Strategy};

#[test]
fn no_deviation_pays_below_a_third_of_the_stake() {
    let rows = sim::compare(&[0.10, 0.30], 30);
    assert_eq!(rows.len(), 2 * Strategy::DEVIATIONS.len());
    for r in &rows {
        assert!(r.honest > 0.0, "honest nodes must earn: {r:?}");
        assert!(
            r.profit < r.honest,
            "{} at {:.0} % of the stake earns {:.1} per task, honesty {:.1}",
            r.strategy.name(),
            r.share * 100.0,
            r.profit,
            r.honest
        );
    }
}
