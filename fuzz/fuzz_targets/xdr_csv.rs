#![no_main]
//! libFuzzer entry point for `cargo fuzz run xdr_csv --features libfuzzer` (nightly); the stable driver is
//! `src/bin/run.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| classbill_fuzz::xdr_csv::check(data));
