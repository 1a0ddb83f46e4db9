//! The benchmark's figures: one measurement per phase, the ratios against the targets set for a million customers
//! on a 2-core machine, and their rendering as a table or JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::dataset::Scale;

/// What one phase did and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub phase: String,
    /// Rows the phase wrote: xDRs for the loads, invoices for the bill phases.
    pub rows: u64,
    /// Rows rejected by the import, periods failed by the bill run, events dropped by the collection run; 0 for
    /// the floors.
    pub rejected: u64,
    pub seconds: f64,
    /// Peak resident memory of the phase's process (VmHWM).
    pub peak_memory_kib: u64,
}

impl Measurement {
    fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.rows as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A ratio of an operation to its floor with the target it must meet.
struct Ratio {
    name: &'static str,
    value: Option<f64>,
    target: &'static str,
    met: Option<bool>,
}

pub struct Report {
    backend: &'static str,
    scale: Scale,
    setup_seconds: f64,
    phases: Vec<Measurement>,
}

impl Report {
    pub fn new(backend: &'static str, scale: Scale, setup_seconds: f64) -> Report {
        Report {
            backend,
            scale,
            setup_seconds,
            phases: Vec::new(),
        }
    }

    pub fn push(&mut self, measurement: Measurement) {
        self.phases.push(measurement);
    }

    pub fn get(&self, phase: &str) -> Option<&Measurement> {
        self.phases.iter().find(|m| m.phase == phase)
    }

    fn ratios(&self) -> Vec<Ratio> {
        let pair = |a: &str, b: &str| self.get(a).zip(self.get(b));
        let ingest = pair("import", "raw-load").map(|(import, raw)| import.rate() / raw.rate());
        let bill = pair("bill-run", "bill-floor").map(|(run, floor)| run.seconds / floor.seconds);
        let bill_mib = self.get("bill-run").map(|run| run.peak_memory_kib as f64 / 1024.0);
        // The worker renders on every core, so its rate is the machine's.
        let pdf_hours = self
            .get("pdf-render")
            .filter(|m| m.rate() > 0.0)
            .map(|m| 1_000_000.0 / m.rate() / 3600.0);
        let collection = pair("collection-run", "collection-floor").map(|(run, floor)| run.seconds / floor.seconds);
        vec![
            Ratio {
                name: "import rate / raw load rate",
                value: ingest,
                target: ">= 0.7",
                met: ingest.map(|r| r >= 0.7),
            },
            Ratio {
                name: "bill run time / SQL floor time",
                value: bill,
                target: "<= 2",
                met: bill.map(|r| r <= 2.0),
            },
            Ratio {
                name: "bill run peak memory, MiB",
                value: bill_mib,
                target: "< 1024",
                met: bill_mib.map(|m| m < 1024.0),
            },
            Ratio {
                name: "hours for 1M PDFs on 2 cores",
                value: pdf_hours,
                target: "< 2",
                met: pdf_hours.map(|h| h < 2.0),
            },
            // Issue 9 asks for the figure, without a target.
            Ratio {
                name: "collection run / schedule scan",
                value: collection,
                target: "-",
                met: None,
            },
        ]
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "classbill bench on {}: {} customers x {} xDRs = {} xDRs, seed {} (setup {:.1} s)\n\n",
            self.backend,
            self.scale.customers,
            self.scale.xdrs_per_customer,
            self.scale.xdrs(),
            self.scale.seed,
            self.setup_seconds
        );
        out.push_str(&format!(
            "{:<16} {:>12} {:>9} {:>10} {:>13} {:>10}\n",
            "phase", "rows", "rejected", "seconds", "rows/s", "peak MiB"
        ));
        for m in &self.phases {
            out.push_str(&format!(
                "{:<16} {:>12} {:>9} {:>10.2} {:>13.0} {:>10.1}\n",
                m.phase,
                m.rows,
                m.rejected,
                m.seconds,
                m.rate(),
                m.peak_memory_kib as f64 / 1024.0
            ));
        }
        out.push('\n');
        for r in self.ratios() {
            let value = r.value.map_or("-".to_owned(), |v| format!("{v:.2}"));
            let verdict = match r.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "-",
            };
            out.push_str(&format!(
                "{:<32} {:>8}  target {:<6} {verdict}\n",
                r.name, value, r.target
            ));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let ratios: Vec<Value> = self
            .ratios()
            .into_iter()
            .map(|r| json!({"name": r.name, "value": r.value, "target": r.target, "met": r.met}))
            .collect();
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
                v["rows_per_second"] = json!(m.rate());
                v
            })
            .collect();
        json!({
            "backend": self.backend,
            "scale": {"customers": self.scale.customers, "xdrs_per_customer": self.scale.xdrs_per_customer,
                      "xdrs": self.scale.xdrs(), "seed": self.scale.seed},
            "setup_seconds": self.setup_seconds,
            "phases": phases,
            "ratios": ratios,
        })
    }
}
