//! Taxation end to end through the API (customer-classes §2.6, §5.5, §5.6): the worked examples with exact tax
//! lines and totals, taxes at payment, the external tax engine over HTTP, and bad tax configurations.

mod support;

#[path = "taxation/at_payment.rs"]
mod at_payment;
#[path = "taxation/bad_input.rs"]
mod bad_input;
#[path = "taxation/external_engine.rs"]
mod external_engine;
#[path = "taxation/fixtures.rs"]
mod fixtures;
#[path = "taxation/worked_examples.rs"]
mod worked_examples;
