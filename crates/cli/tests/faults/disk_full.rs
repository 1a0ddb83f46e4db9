//! Fault 5: the disk holding the SQLite file runs full during an import.

use std::path::{Path, PathBuf};
use std::process::Command;

use classbill_engine::{Actor, NewCustomer};
use jiff::Timestamp;
use serde_json::json;

use crate::common::{assert_invoices_sound, block_on, describe, run, run_ok};
use crate::{BILLED_AT, count, instant, open_engine, query};

/// Rows per import file: one batch, so a file is stored whole or not at all.
const ROWS_PER_FILE: usize = 2_000;

/// A tmpfs of `size` mounted on `dir` for the life of the value; `None` when this user may not mount.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount runs");
        if output.status.success() {
            return Some(SmallDisk { dir: dir.to_owned() });
        }
        let uid = Command::new("id").arg("-u").output().expect("id runs");
        if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
            panic!("mounting a tmpfs as root failed: {}", describe(&output));
        }
        None
    }

    fn grow(&self, size: &str) {
        let output = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .output()
            .expect("mount runs");
        assert!(output.status.success(), "remount: {}", describe(&output));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// `ROWS_PER_FILE` usage xDRs of `party` with external ids `f<file>-<n>`, written beside (not on) the small disk.
fn import_file(dir: &Path, party: i64, file: usize) -> PathBuf {
    let path = dir.join(format!("xdrs-{file}.csv"));
    let mut text =
        String::from("party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount\n");
    for n in 0..ROWS_PER_FILE {
        text.push_str(&format!(
            "{party},f{file}-{n},2025-02-{:02}T10:{:02}:00Z,usage,voice,VOICE-DE,call number {n} of file {file} to a long description,1,{}.{:05}\n",
            n % 27 + 1,
            n % 60,
            n % 9,
            n * 7 % 100_000
        ));
    }
    std::fs::write(&path, text).expect("import file written");
    path
}

#[test]
fn a_full_disk_fails_the_import_whole_and_it_succeeds_once_there_is_room() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(disk) = SmallDisk::mount(&dir.path().join("small"), "3m") else {
        eprintln!(
            "SKIPPED: mounting a tmpfs needs root; run as root (as CI does) to fill a disk under the SQLite file"
        );
        return;
    };
    let url = format!("sqlite://{}", disk.dir.join("classbill.db").display());
    let party = block_on(async {
        let (store, engine) = open_engine(&url).await;
        let now = Timestamp::now();
        let class_id =
            crate::common::invoicing_class(&engine, "Invoiced", "19", json!({"pdf_generation": "on_demand"}), now)
                .await;
        let customer = engine
            .create_customer(
                &Actor::system(),
                NewCustomer {
                    name: "Heavy caller".to_owned(),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class_id),
                    time_zone: Some("UTC".to_owned()),
                    billing_period: Some("monthly".to_owned()),
                    activated_at: Some(instant("2025-02-01T00:00:00Z")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        store.close().await;
        customer.id
    });

    // Files go in until the disk is full.
    let mut imported = 0;
    let (failed_file, failure) = loop {
        let file = import_file(dir.path(), party, imported);
        let output = run(
            dir.path(),
            &url,
            &["import", "xdrs", file.to_str().expect("UTF-8"), "--as-of", BILLED_AT],
        );
        if !output.status.success() {
            break (file, output);
        }
        imported += 1;
        assert!(imported < 100, "a 3 MB disk fills up");
    };
    assert!(imported >= 1, "the first file fits: {}", describe(&failure));
    let stderr = String::from_utf8_lossy(&failure.stderr);
    assert_eq!(failure.status.code(), Some(1), "{}", describe(&failure));
    assert!(
        stderr.contains("disk is full")
            && stderr.contains("nothing of this batch was stored")
            && stderr.lines().count() == 1,
        "one line naming the cause: {}",
        describe(&failure)
    );
    eprintln!("the disk filled at file {imported}: {}", stderr.trim());
    let stored = || block_on(count(&url, "SELECT count(*) FROM xdrs WHERE kind = 'usage'"));
    assert_eq!(
        stored(),
        (imported * ROWS_PER_FILE) as i64,
        "nothing of the failed file is stored"
    );

    // Room again: the same file goes in whole, and so does the next one.
    disk.grow("64m");
    let output = run_ok(
        dir.path(),
        &url,
        &[
            "import",
            "xdrs",
            failed_file.to_str().expect("UTF-8"),
            "--as-of",
            BILLED_AT,
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("accepted {ROWS_PER_FILE}, rejected 0")
    );
    let next = import_file(dir.path(), party, imported + 1);
    run_ok(
        dir.path(),
        &url,
        &["import", "xdrs", next.to_str().expect("UTF-8"), "--as-of", BILLED_AT],
    );
    assert_eq!(stored(), ((imported + 2) * ROWS_PER_FILE) as i64, "every xDR once");
    let integrity: Vec<(String,)> = block_on(query(&url, "PRAGMA integrity_check"));
    assert_eq!(integrity, [("ok".to_owned(),)]);
    // The ledger bills on: the February close puts every imported xDR on one invoice.
    run_ok(dir.path(), &url, &["bill-run", "--as-of", BILLED_AT]);
    let ledger = block_on(assert_invoices_sound(&url));
    assert_eq!(ledger.invoices.len(), 1, "{:?}", ledger.invoices);
    let invoiced = block_on(count(
        &url,
        "SELECT count(*) FROM xdrs WHERE kind = 'usage' AND invoice_id IS NOT NULL",
    ));
    assert_eq!(
        invoiced,
        ((imported + 2) * ROWS_PER_FILE) as i64,
        "every xDR on the invoice"
    );
    assert_eq!(
        stored(),
        ((imported + 2) * ROWS_PER_FILE) as i64,
        "no xDR lost by the close"
    );
}
