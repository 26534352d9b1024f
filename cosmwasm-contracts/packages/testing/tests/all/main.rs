//! The integration tests of the cw-multi-test suite, in one binary (one link,
//! one run): full lifecycles, adversarial and bad-input messages, the
//! protocol against rational attackers, and the conservation property test.

mod common;

mod adversarial;
mod attacks;
mod bad_input;
mod conservation;
mod economics;
mod lifecycle;
