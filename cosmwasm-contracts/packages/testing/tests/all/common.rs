//! Constants and helpers shared by the test modules.

use clusterai_economy_testing::Suite;

/// The digest honest nodes commit to.
pub(crate) const GOOD: [u8; 32] = [0x42; 32];
/// The salt of every commitment in the hand-written tests.
pub(crate) const SALT: [u8; 16] = [7; 16];

/// Runs a k = 1 task to a settled end: its node commits and reveals
/// [`GOOD`], then `keeper` settles.
pub(crate) fn complete(s: &mut Suite, id: u64) {
    let n = s.assigned(id)[0].clone();
    s.commit(&n, id, GOOD, SALT).unwrap();
    s.reveal(&n, id, GOOD, SALT).unwrap();
    s.settle("keeper", id).unwrap();
}
