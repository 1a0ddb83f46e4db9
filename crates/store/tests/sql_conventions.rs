//! Conventions of the SQL text that a compiler cannot check.

use std::path::{Path, PathBuf};

fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Every bound `LIMIT` of the workspace's code is written `LIMIT +$n` (see the store's `db` module): a bare
/// `LIMIT $n` makes SQLite plan the statement again at every run.
#[test]
fn no_limit_takes_its_bound_value_bare() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = Vec::new();
    for name in ["store", "engine", "server", "cli"] {
        rust_sources(&crates.join(name).join("src"), &mut sources);
    }
    assert!(sources.len() > 20, "the workspace's sources were found");
    let bare: Vec<String> = sources
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            text.lines()
                .enumerate()
                .filter(|(_, line)| line.contains("LIMIT $"))
                .map(|(n, line)| format!("{}:{}: {}", path.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(bare.is_empty(), "bare bound LIMITs:\n{}", bare.join("\n"));
}
