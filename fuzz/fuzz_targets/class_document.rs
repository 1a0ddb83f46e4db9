#![no_main]
//! libFuzzer entry point for `cargo fuzz run class_document --features libfuzzer` (nightly); the stable driver is
//! `src/bin/run.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| classbill_fuzz::class_document::check(data));
