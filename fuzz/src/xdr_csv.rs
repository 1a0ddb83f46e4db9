//! The xDR import paths: `classbill import xdrs FILE.csv` and the JSON body of `POST /xdrs`.
//!
//! The CSV path is the binary's own module, compiled in here unchanged, so the reader settings, the line
//! counting, the rejects file and the engine's checks are exactly what an operator's file meets. The input
//! bytes are the file; a JSON input is also posted as an `/xdrs` body.

use classbill_engine::Actor;
use serde_json::Value;

use crate::installation::{self, Installation};

#[allow(
    dead_code,
    reason = "the binary's module; the fuzz target calls only its entry point"
)]
#[path = "../../crates/cli/src/import.rs"]
mod import;

pub fn check(data: &[u8]) {
    installation::with(|installation| {
        let file = installation.scratch("input.csv");
        std::fs::write(&file, data).expect("the input file is written");
        let outcome =
            installation
                .runtime
                .block_on(import::import_xdrs(&installation.engine, &file, Installation::now()));
        if let Ok(summary) = outcome {
            // Every record is either stored or written to the rejects file with its reason.
            let rejects = std::fs::read(&summary.rejects_file).expect("the rejects file exists");
            assert!(
                summary.rejected == 0 || rejects.len() > 1,
                "{} rejected lines but an empty rejects file",
                summary.rejected
            );
        }
        if let Ok(body) = serde_json::from_slice::<Value>(data) {
            let _ = installation.runtime.block_on(installation.engine.ingest_xdrs(
                &Actor::system(),
                &body,
                Installation::now(),
            ));
        }
    });
}
