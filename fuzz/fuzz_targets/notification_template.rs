#![no_main]
//! libFuzzer entry point for `cargo fuzz run notification_template --features libfuzzer` (nightly); the stable driver is
//! `src/bin/run.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| classbill_fuzz::notification_template::check(data));
