//! What `classbill migrate` guarantees on top of the schema: the administrator's Default class and the
//! shared built-ins (`Standard` invoice template, `standard` notification set).

use classbill_domain::Owner;
use classbill_render::STANDARD_TEMPLATE;
use classbill_store::catalog::{self, CatalogRecord};
use classbill_store::{classes, instants};
use jiff::Timestamp;

use crate::actor::Actor;
use crate::catalog::{InvoiceTemplateDocument, NotificationSetDocument, NotificationTexts, kinds};
use crate::classes::write::insert_default_class;
use crate::error::EngineResult;

/// Subject and plain text of the built-in `standard` notification set, per event.
const STANDARD_TEXTS: &[(&str, &str, &str)] = &[
    (
        "invoice_issued",
        "Invoice {{ invoice_number }}",
        "Dear {{ party_name }},\n\ninvoice {{ invoice_number }} over {{ total }} {{ currency }} is due on {{ due_date }}.",
    ),
    (
        "oot_invoice_issued",
        "Invoice {{ invoice_number }}",
        "Dear {{ party_name }},\n\nout-of-turn invoice {{ invoice_number }} over {{ total }} {{ currency }} is due on {{ due_date }}.",
    ),
    (
        "invoice_due_soon",
        "Invoice {{ invoice_number }} is due on {{ due_date }}",
        "Dear {{ party_name }},\n\n{{ open_amount }} {{ currency }} of invoice {{ invoice_number }} are due on {{ due_date }}.",
    ),
    (
        "invoice_resent",
        "Invoice {{ invoice_number }} (copy)",
        "Dear {{ party_name }},\n\nplease find invoice {{ invoice_number }} attached; {{ open_amount }} {{ currency }} are open.",
    ),
    (
        "invoice_overdue",
        "Invoice {{ invoice_number }} is overdue",
        "Dear {{ party_name }},\n\ninvoice {{ invoice_number }} was due on {{ due_date }}; {{ open_amount }} {{ currency }} are still open.",
    ),
    (
        "late_fee_applied",
        "Late fee for invoice {{ invoice_number }}",
        "Dear {{ party_name }},\n\na late fee of {{ fee_amount }} {{ currency }} was charged for invoice {{ invoice_number }}.",
    ),
    (
        "limitation_upcoming",
        "Service limitation in {{ days_left }} days",
        "Dear {{ party_name }},\n\nyour service will be limited on {{ action_date }} unless invoice {{ invoice_number }} is paid.",
    ),
    (
        "service_limited",
        "Your service is limited",
        "Dear {{ party_name }},\n\nyour service was limited because invoice {{ invoice_number }} is unpaid.",
    ),
    (
        "suspension_upcoming",
        "Service suspension in {{ days_left }} days",
        "Dear {{ party_name }},\n\nyour service will be suspended on {{ action_date }} unless invoice {{ invoice_number }} is paid.",
    ),
    (
        "service_suspended",
        "Your service is suspended",
        "Dear {{ party_name }},\n\nyour service was suspended because invoice {{ invoice_number }} is unpaid.",
    ),
    (
        "service_restored",
        "Your service is restored",
        "Dear {{ party_name }},\n\nthank you for your payment; your service is fully available again.",
    ),
    (
        "termination_upcoming",
        "Contract termination in {{ days_left }} days",
        "Dear {{ party_name }},\n\nyour contract will end on {{ action_date }} unless invoice {{ invoice_number }} is paid.",
    ),
    (
        "customer_terminated",
        "Your contract has ended",
        "Dear {{ party_name }},\n\nyour contract was terminated because invoice {{ invoice_number }} remained unpaid.",
    ),
    (
        "payment_received",
        "Payment received",
        "Dear {{ party_name }},\n\nthank you, we received your payment.",
    ),
    (
        "auto_charge_failed",
        "Automatic payment failed",
        "Dear {{ party_name }},\n\nwe could not collect {{ open_amount }} {{ currency }} for invoice {{ invoice_number }}.",
    ),
    (
        "statistics_ready",
        "Usage statistics",
        "Dear {{ party_name }},\n\nyour usage statistics for the closed period are attached.",
    ),
];

fn standard_set() -> NotificationSetDocument {
    NotificationSetDocument {
        name: "standard".to_owned(),
        events: STANDARD_TEXTS
            .iter()
            .map(|(key, subject, text)| {
                (
                    (*key).to_owned(),
                    NotificationTexts {
                        subject: (*subject).to_owned(),
                        text: (*text).to_owned(),
                        html: String::new(),
                        sms: (*subject).to_owned(),
                    },
                )
            })
            .collect(),
    }
}

impl crate::Engine {
    /// Migrates the schema and creates what an empty installation needs. Safe to run again.
    pub async fn initialize(&self, now: Timestamp) -> EngineResult<()> {
        self.store.migrate().await?;
        let system = Actor::system();
        let mut tx = self.store.write().await?;
        if catalog::by_key(&mut tx, kinds::INVOICE_TEMPLATE, None, "standard")
            .await?
            .is_none()
        {
            let template = InvoiceTemplateDocument {
                name: "Standard".to_owned(),
                source: STANDARD_TEMPLATE.to_owned(),
            };
            let record = builtin(kinds::INVOICE_TEMPLATE, "standard", serde_json::to_value(template)?);
            catalog::insert(&mut tx, &record, instants::to_micros(now)).await?;
        }
        if catalog::by_key(&mut tx, kinds::NOTIFICATION_SET, None, "standard")
            .await?
            .is_none()
        {
            let record = builtin(
                kinds::NOTIFICATION_SET,
                "standard",
                serde_json::to_value(standard_set())?,
            );
            catalog::insert(&mut tx, &record, instants::to_micros(now)).await?;
        }
        if classes::default_of(&mut tx, None).await?.is_none() {
            insert_default_class(&mut tx, &system, now, Owner::Administrator).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn builtin(kind: &'static str, key: &str, document: serde_json::Value) -> CatalogRecord {
    CatalogRecord {
        kind,
        owner_reseller_id: None,
        name_key: key.to_owned(),
        shared: true,
        builtin: true,
        document,
    }
}
