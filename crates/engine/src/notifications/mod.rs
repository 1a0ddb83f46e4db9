//! Notifications (customer-classes §5.13): [`emit`] writes an event's messages to the transactional outbox in
//! the transaction of its cause; the delivery worker ([`crate::Engine::deliver_outbox`]) sends them by e-mail
//! (SMTP), SMS and signed webhooks with retries and dead letters; `/notifications` shows the delivery log and
//! `/webhook-endpoints` manages where webhooks go.
//!
//! Who receives what:
//! * class-controlled events follow the class's event × channel matrix (tab-governed e-mail switches come from
//!   the party's effective settings): e-mail to the party's address, SMS to its phone, webhooks to each of the
//!   owner's endpoints. A channel that is on but has nowhere to go (no address, no phone, no endpoint) is logged
//!   as `skipped` with the reason, never dropped silently;
//! * integration events (`charge_requested`, `customer_status_changed`, `refund_requested`) go to every webhook
//!   endpoint of the party's owner, always;
//! * operator events are addressed to operator users, who have no e-mail address in this version: each is
//!   recorded in the delivery log as `skipped` (visible to administrators) and in the process log.

mod delivery;
mod endpoints;
mod log;
pub mod preview;
mod signature;
mod smtp;
pub mod templates;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use classbill_domain::Money;
use classbill_domain::class::{ClassSettings, INTEGRATION_EVENT_KEYS, OPERATOR_EVENT_KEYS, is_class_event};
use classbill_domain::effective::EffectiveSettings;
use classbill_store::catalog;
use classbill_store::classes::ClassRow;
use classbill_store::invoices::InvoiceRow;
use classbill_store::outbox::{self, NewMessage};
use classbill_store::parties::PartyRow;
use classbill_store::{StoreError, Tx, classes, instants, parties, webhooks};
use jiff::Timestamp;
use lettre::message::Mailbox;
use serde_json::{Map, Value, json};

pub use delivery::{DeliveryConfig, DeliveryReport, MAX_ATTEMPTS};
pub use endpoints::{NewWebhookEndpoint, WebhookEndpointView};
pub use log::{AttemptView, NotificationFilter, NotificationView};
pub use signature::{SIGNATURE_HEADER, signature_header};

use crate::catalog::{NotificationSetDocument, NotificationTexts, kinds};
use crate::error::EngineResult;

/// One occurrence of an event, as its producer describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// An event key of §5.13.
    pub key: &'static str,
    /// The party it concerns; `None` only for operator events without one.
    pub party_id: Option<i64>,
    /// What it is about: the payment xDR, the invoice, the party, the outbox message…
    pub subject_id: i64,
    /// Tells repeated occurrences for one subject apart (e.g. the reminder date); empty for one-off events.
    pub occurrence: String,
    /// The event's own template variables (invoice and ladder variables of §5.13); the common ones are added.
    pub variables: Map<String, Value>,
}

impl Event {
    /// A one-off event about `subject_id` of party `party_id`.
    pub fn new(key: &'static str, party_id: i64, subject_id: i64) -> Event {
        Event {
            key,
            party_id: Some(party_id),
            subject_id,
            occurrence: String::new(),
            variables: Map::new(),
        }
    }

    /// An event about one invoice, carrying the invoice variables of §5.13.
    pub fn for_invoice(key: &'static str, invoice: &InvoiceRow) -> Event {
        Event::new(key, invoice.party_id, invoice.id)
            .with("invoice_number", invoice.number.as_str())
            .with("total", Money(invoice.total).to_string())
            .with("amount_due", Money(invoice.amount_due).to_string())
            .with("open_amount", Money(invoice.open_amount).to_string())
            .with("due_date", invoice.due_date.as_str())
    }

    /// Marks a repeated occurrence (e.g. the reminder date `2025-04-09`).
    pub fn occurrence(mut self, occurrence: impl Into<String>) -> Event {
        self.occurrence = occurrence.into();
        self
    }

    /// Adds a template variable.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Event {
        self.variables.insert(name.to_owned(), value.into());
        self
    }
}

/// Writes the messages of `event` to the outbox inside the caller's transaction, so they commit (or not)
/// together with their cause. Writing the same occurrence again adds nothing.
pub async fn emit(tx: &mut Tx, event: &Event, now: Timestamp) -> EngineResult<()> {
    emit_with(tx, &mut EmitCache::default(), event, now).await
}

/// What [`emit`] reads for a class event — the party, its class, the class settings and the party's effective
/// settings — kept across the events of one batch at one instant, which changes none of them. Reading and
/// merging them is most of the cost of an event (about a dozen statements), and the parties of a batch mostly
/// share them.
#[derive(Default)]
pub(crate) struct EmitCache {
    /// Parties the caller read in the same transaction after its last change to them.
    parties: HashMap<i64, PartyRow>,
    settings: HashMap<SettingsKey, (ClassRow, ClassSettings, EffectiveSettings)>,
    /// The texts of an event in a notification set (none: the standard set).
    texts: HashMap<(Option<i64>, &'static str), NotificationTexts>,
}

impl EmitCache {
    /// A cache that takes these parties as read: the caller has not changed them since.
    pub(crate) fn knowing(parties: HashMap<i64, PartyRow>) -> EmitCache {
        EmitCache {
            parties,
            ..EmitCache::default()
        }
    }

    /// Takes `party` as read: the caller has not changed it since, or changed only its status, which no
    /// announcement reads.
    pub(crate) fn know(&mut self, party: &PartyRow) {
        self.parties.insert(party.id, party.clone());
    }
}

/// What a class event's effective settings depend on. It reads only the e-mail switches of the invoice and
/// statistics tabs and the notification sender, which come from the class, the party's overrides, its kind
/// and its owner (the reseller's sender); its zone, prepaid flag and tax exemption change other leaves only.
/// Two parties alike in these announce alike.
#[derive(PartialEq, Eq, Hash)]
struct SettingsKey {
    class_id: i64,
    kind: String,
    owner_reseller_id: Option<i64>,
    overrides: String,
}

impl SettingsKey {
    fn of(party: &PartyRow) -> SettingsKey {
        SettingsKey {
            class_id: party.class_id,
            kind: party.kind.clone(),
            owner_reseller_id: party.owner_reseller_id,
            overrides: party.overrides.clone(),
        }
    }
}

/// [`emit`], reading each party's class and effective settings once per `cache`.
pub(crate) async fn emit_with(tx: &mut Tx, cache: &mut EmitCache, event: &Event, now: Timestamp) -> EngineResult<()> {
    if OPERATOR_EVENT_KEYS.contains(&event.key) {
        return operator_event(tx, event, now).await;
    }
    let party_id = event
        .party_id
        .ok_or_else(|| StoreError::Corrupt(format!("event {} names no party", event.key)))?;
    let party = match cache.parties.get(&party_id) {
        Some(party) => party.clone(),
        None => parties::get(tx, party_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("event {} names missing party {party_id}", event.key)))?,
    };
    if INTEGRATION_EVENT_KEYS.contains(&event.key) {
        let body = webhook_body(event, &event.variables, now);
        return webhook_messages(tx, event, &party, &body, false, now).await;
    }
    if !is_class_event(event.key) {
        return Err(StoreError::Corrupt(format!("{} is not a notification event", event.key)).into());
    }
    class_event(tx, cache, event, &party, now).await
}

/// Recorded for the operator's users: in the delivery log (administrators) and the process log.
async fn operator_event(tx: &mut Tx, event: &Event, now: Timestamp) -> EngineResult<()> {
    let details = Value::Object(event.variables.clone());
    tracing::warn!(event = event.key, subject = event.subject_id, %details, "operator notification");
    let message = NewMessage {
        event_key: event.key.to_owned(),
        subject_id: event.subject_id,
        occurrence: event.occurrence.clone(),
        channel: "email".to_owned(),
        party_id: event.party_id,
        json_body: Some(webhook_body(event, &event.variables, now).to_string()),
        status: "skipped".to_owned(),
        last_error: Some("operator users have no e-mail address; recorded in the log only".to_owned()),
        ..NewMessage::default()
    };
    outbox::insert(tx, &message, instants::to_micros(now)).await?;
    Ok(())
}

/// The JSON body of a webhook delivery.
fn webhook_body(event: &Event, variables: &Map<String, Value>, now: Timestamp) -> Value {
    json!({
        "event": event.key,
        "subject_id": event.subject_id,
        "occurrence": event.occurrence,
        "party_id": event.party_id,
        "occurred_at": now,
        "data": variables,
    })
}

/// One message per webhook endpoint of the party's owner; with `log_missing`, an owner without endpoints gets a
/// `skipped` entry saying so.
async fn webhook_messages(
    tx: &mut Tx,
    event: &Event,
    party: &PartyRow,
    body: &Value,
    log_missing: bool,
    now: Timestamp,
) -> EngineResult<()> {
    let endpoints = webhooks::of_owner(tx, party.owner_reseller_id).await?;
    let base = message_base(event, party, "webhook");
    if endpoints.is_empty() && log_missing {
        let message = NewMessage {
            status: "skipped".to_owned(),
            last_error: Some("the party's owner has no webhook endpoint".to_owned()),
            ..base
        };
        outbox::insert(tx, &message, instants::to_micros(now)).await?;
        return Ok(());
    }
    for endpoint in endpoints {
        let message = NewMessage {
            webhook_endpoint_id: Some(endpoint.id),
            recipient: Some(endpoint.url),
            json_body: Some(body.to_string()),
            status: "pending".to_owned(),
            ..base.clone()
        };
        outbox::insert(tx, &message, instants::to_micros(now)).await?;
    }
    Ok(())
}

fn message_base(event: &Event, party: &PartyRow, channel: &str) -> NewMessage {
    NewMessage {
        event_key: event.key.to_owned(),
        subject_id: event.subject_id,
        occurrence: event.occurrence.clone(),
        channel: channel.to_owned(),
        party_id: Some(party.id),
        owner_reseller_id: party.owner_reseller_id,
        ..NewMessage::default()
    }
}

/// The e-mail switch of a tab-governed event (§5.13), from the party's effective settings.
fn tab_email_switch(key: &str, effective: &EffectiveSettings) -> bool {
    let value = |path: &str| {
        effective
            .leaf(path)
            .and_then(|leaf| leaf.value.as_str().map(str::to_owned))
    };
    match key {
        "invoice_issued" => value("regular_invoices.email_delivery").is_some_and(|v| v != "never"),
        "oot_invoice_issued" => value("out_of_turn_invoices.email_delivery").is_some_and(|v| v != "never"),
        "statistics_ready" => value("general_info.statistics_email").is_some_and(|v| v != "none"),
        // A resend happens only because the class's resend list has its day.
        _ => true,
    }
}

/// The `From` mailbox: class sender, else the owner's, else the installation's (effective settings).
fn sender_of(effective: &EffectiveSettings) -> Option<String> {
    let text = |path: &str| {
        effective
            .leaf(path)
            .and_then(|leaf| leaf.value.as_str().map(str::to_owned))
    };
    let address = text("notification_sender.address")?.parse().ok()?;
    Some(Mailbox::new(text("notification_sender.name"), address).to_string())
}

/// The texts of `key` in the class's notification set, or in the built-in `standard` set when the class names
/// none or its set has no texts for the event.
async fn texts_for(tx: &mut Tx, set_id: Option<i64>, key: &str) -> EngineResult<NotificationTexts> {
    let chosen = match set_id {
        Some(id) => catalog::get(tx, kinds::NOTIFICATION_SET, id).await?,
        None => None,
    };
    let standard = catalog::by_key(tx, kinds::NOTIFICATION_SET, None, "standard").await?;
    for row in [chosen, standard].into_iter().flatten() {
        let set: NotificationSetDocument = serde_json::from_str(&row.document)?;
        if let Some(texts) = set.events.get(key) {
            return Ok(texts.clone());
        }
    }
    Ok(NotificationTexts::default())
}

async fn class_event(
    tx: &mut Tx,
    cache: &mut EmitCache,
    event: &Event,
    party: &PartyRow,
    now: Timestamp,
) -> EngineResult<()> {
    let (class, settings, effective) = match cache.settings.entry(SettingsKey::of(party)) {
        Entry::Occupied(cached) => cached.into_mut(),
        Entry::Vacant(slot) => {
            let class = classes::get(tx, party.class_id).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("class {} of party {} is missing", party.class_id, party.id))
            })?;
            let settings = crate::classes::settings_of(&class)?;
            let effective = crate::effective::of_party(tx, crate::parties::kind_of(party), party, now).await?;
            slot.insert((class, settings, effective))
        }
    };
    let channels = settings
        .notifications
        .events
        .get(event.key)
        .copied()
        .unwrap_or_else(|| classbill_domain::class::EventChannels::default_for(event.key));
    let email_on = channels.email.unwrap_or_else(|| tab_email_switch(event.key, effective));

    let mut variables = Map::new();
    variables.insert("party_name".to_owned(), Value::from(party.name.as_str()));
    variables.insert("party_id".to_owned(), Value::from(party.id));
    variables.insert("class_name".to_owned(), Value::from(class.name.as_str()));
    variables.insert("currency".to_owned(), Value::from(party.currency.as_str()));
    variables.extend(event.variables.clone());

    let texts = if email_on || channels.sms {
        let set_id = settings.notifications.notification_set_id;
        match cache.texts.entry((set_id, event.key)) {
            Entry::Occupied(cached) => cached.get().clone(),
            Entry::Vacant(slot) => slot.insert(texts_for(tx, set_id, event.key).await?).clone(),
        }
    } else {
        NotificationTexts::default()
    };
    let created_at = instants::to_micros(now);
    if email_on {
        let base = message_base(event, party, "email");
        let message = match &party.email {
            None => skipped(base, format!("party {} has no e-mail address", party.id)),
            Some(address) => match render_email(&texts, &variables) {
                Ok((subject, text, html)) => NewMessage {
                    recipient: Some(address.clone()),
                    sender: sender_of(effective),
                    subject: Some(subject),
                    text_body: Some(text),
                    html_body: (!html.is_empty()).then_some(html),
                    status: "pending".to_owned(),
                    ..base
                },
                Err(error) => unrenderable(base, address, error),
            },
        };
        write_class_message(tx, &message, now, created_at).await?;
    }
    if channels.sms {
        let base = message_base(event, party, "sms");
        let message = match &party.phone {
            None => skipped(base, format!("party {} has no phone number", party.id)),
            Some(phone) => match templates::render("sms", &texts.sms, &variables) {
                Ok(sms) => NewMessage {
                    recipient: Some(phone.clone()),
                    sms_text: Some(sms),
                    status: "pending".to_owned(),
                    ..base
                },
                Err(error) => unrenderable(base, phone, error),
            },
        };
        write_class_message(tx, &message, now, created_at).await?;
    }
    if channels.webhook {
        let body = webhook_body(event, &variables, now);
        webhook_messages(tx, event, party, &body, true, now).await?;
    }
    Ok(())
}

/// Subject, text and HTML of an e-mail.
fn render_email(texts: &NotificationTexts, variables: &Map<String, Value>) -> Result<(String, String, String), String> {
    Ok((
        templates::render("subject", &texts.subject, variables)?,
        templates::render("text", &texts.text, variables)?,
        templates::render("html", &texts.html, variables)?,
    ))
}

fn skipped(base: NewMessage, reason: String) -> NewMessage {
    NewMessage {
        status: "skipped".to_owned(),
        last_error: Some(reason),
        ..base
    }
}

/// A template that validated on save but fails with this event's variables: kept as a dead letter.
fn unrenderable(base: NewMessage, recipient: &str, error: String) -> NewMessage {
    NewMessage {
        recipient: Some(recipient.to_owned()),
        status: "dead".to_owned(),
        last_error: Some(error),
        ..base
    }
}

/// Writes a class-event message; one that is dead from the start raises `notification_dead_lettered`.
async fn write_class_message(tx: &mut Tx, message: &NewMessage, now: Timestamp, created_at: i64) -> EngineResult<()> {
    if let Some(id) = outbox::insert(tx, message, created_at).await?
        && message.status == "dead"
    {
        let dead = DeadLetter {
            outbox_id: id,
            party_id: message.party_id,
            event_key: &message.event_key,
            channel: &message.channel,
            recipient: message.recipient.as_deref(),
            error: message.last_error.as_deref().unwrap_or_default(),
        };
        dead_lettered(tx, &dead, now).await?;
    }
    Ok(())
}

/// A message given up on.
struct DeadLetter<'a> {
    outbox_id: i64,
    party_id: Option<i64>,
    event_key: &'a str,
    channel: &'a str,
    recipient: Option<&'a str>,
    error: &'a str,
}

/// The operator event for a dead letter.
async fn dead_lettered(tx: &mut Tx, dead: &DeadLetter<'_>, now: Timestamp) -> EngineResult<()> {
    let event = Event {
        key: "notification_dead_lettered",
        party_id: dead.party_id,
        subject_id: dead.outbox_id,
        occurrence: String::new(),
        variables: [
            ("event".to_owned(), Value::from(dead.event_key)),
            ("channel".to_owned(), Value::from(dead.channel)),
            ("recipient".to_owned(), Value::from(dead.recipient)),
            ("error".to_owned(), Value::from(dead.error)),
        ]
        .into_iter()
        .collect(),
    };
    operator_event(tx, &event, now).await
}
