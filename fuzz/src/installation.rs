//! One throwaway installation per thread for the targets whose input path needs the store: a SQLite file in a
//! temporary directory with a customer that xDRs can name (party 1, as the seed corpus does), created on first
//! use and reused by every input.

use std::cell::OnceCell;
use std::path::PathBuf;

use classbill_engine::catalog::InvoiceTemplateKind;
use classbill_engine::{Actor, Engine, NewCustomer, PageRequest};
use jiff::Timestamp;
use tempfile::TempDir;

/// The instant every input is processed at, so that runs are reproducible.
pub const NOW: &str = "2025-06-15T12:00:00Z";

pub struct Installation {
    pub runtime: tokio::runtime::Runtime,
    pub engine: Engine,
    /// A class with every tab in use, the base that class patches are previewed against.
    pub class_id: i64,
    dir: TempDir,
}

impl Installation {
    pub fn now() -> Timestamp {
        NOW.parse().expect("a valid instant")
    }

    /// A scratch file path inside the installation's directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn create() -> Installation {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::Builder::new()
            .prefix("classbill-fuzz-")
            .tempdir()
            .expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let (engine, class_id) = runtime.block_on(async {
            let store = classbill_store::Store::connect(&url).await.expect("the database opens");
            let engine = Engine::new(store);
            engine
                .initialize(Installation::now())
                .await
                .expect("the schema is created");
            let template_id = engine
                .list_catalog::<InvoiceTemplateKind>(&Actor::system(), PageRequest::new(None, None).expect("a page"))
                .await
                .expect("templates are listed")
                .items
                .into_iter()
                .find(|t| t.builtin)
                .expect("the built-in template exists")
                .id;
            let class = serde_json::json!({"name": "Fuzz base", "currency": "EUR",
                "regular_invoices": {"enabled": true, "template_id": template_id},
                "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19"}}});
            let class_id = engine
                .create_class(&Actor::system(), class, Installation::now())
                .await
                .expect("the base class is created")
                .class
                .id;
            engine
                .create_customer(
                    &Actor::system(),
                    NewCustomer {
                        name: "Fuzz customer".to_owned(),
                        currency: Some("EUR".to_owned()),
                        activated_at: Some("2025-01-01T00:00:00Z".parse().expect("instant")),
                        ..NewCustomer::default()
                    },
                    Installation::now(),
                )
                .await
                .expect("the customer is created");
            (engine, class_id)
        });
        Installation {
            runtime,
            engine,
            class_id,
            dir,
        }
    }
}

thread_local! {
    static INSTALLATION: OnceCell<Installation> = const { OnceCell::new() };
}

/// Runs `f` with this thread's installation.
pub fn with<R>(f: impl FnOnce(&Installation) -> R) -> R {
    INSTALLATION.with(|cell| f(cell.get_or_init(Installation::create)))
}
