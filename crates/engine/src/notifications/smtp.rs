//! E-mail over SMTP with lettre. Plain SMTP only: this build has no TLS, so `smtps://` and `?tls=required`
//! URLs are refused with a clear error instead of sending in the clear.

use std::time::{Duration, SystemTime};

use classbill_store::outbox::MessageRow;
use jiff::Timestamp;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::delivery::Failure;
use crate::documents::InvoicePdf;
use crate::installation::smtp_server;

const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An SMTP connection setting, built once per delivery pass.
pub(super) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// `Err` explains why mail cannot go out through `url` (the password is never part of the text).
    pub(super) fn new(url: &str) -> Result<Mailer, String> {
        let server = smtp_server(url).ok_or("the SMTP URL is not valid")?;
        let tls = server
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("tls="));
        if server.implicit_tls || tls.is_some_and(|tls| tls != "none") {
            return Err("this build sends mail over plain SMTP only; use smtp://HOST:PORT".to_owned());
        }
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host).timeout(Some(SMTP_TIMEOUT));
        if let Some(port) = server.port {
            builder = builder.port(port);
        }
        if let Some(user) = server.user {
            builder = builder.credentials(Credentials::new(user, server.password.unwrap_or_default()));
        }
        Ok(Mailer {
            transport: builder.build(),
        })
    }

    /// Sends one outbox e-mail. Its `Message-ID` names the outbox row, so a receiver can recognise a copy.
    pub(super) async fn send(
        &self,
        message: &MessageRow,
        attachment: Option<&InvoicePdf>,
        now: Timestamp,
    ) -> Result<(), Failure> {
        let email = build(message, attachment, now).map_err(Failure::Permanent)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(Failure::Permanent(format!("SMTP server refused: {e}"))),
            Err(e) => Err(Failure::Transient(format!("SMTP delivery failed: {e}"))),
        }
    }
}

fn build(message: &MessageRow, attachment: Option<&InvoicePdf>, now: Timestamp) -> Result<Message, String> {
    let sender = message.sender.as_deref().ok_or(
        "no sender address: set the class notification_sender, the owner's e-mail or the installation default_sender",
    )?;
    let from: Mailbox = sender.parse().map_err(|e| format!("sender {sender}: {e}"))?;
    let recipient = message.recipient.as_deref().unwrap_or_default();
    let to: Mailbox = recipient.parse().map_err(|e| format!("recipient {recipient}: {e}"))?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(message.subject.clone().unwrap_or_default())
        .date(SystemTime::from(now))
        .message_id(Some(format!("<outbox-{}@classbill>", message.id)));
    let text = message.text_body.clone().unwrap_or_default();
    let built = match (&message.html_body, attachment) {
        (Some(html), None) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
        (None, None) => builder.header(ContentType::TEXT_PLAIN).body(text),
        (html, Some(pdf)) => {
            let mixed = match html {
                Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text, html.clone())),
                None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
            };
            let pdf_type = ContentType::parse("application/pdf").map_err(|e| e.to_string())?;
            let file = Attachment::new(pdf.file_name.clone()).body(pdf.bytes.clone(), pdf_type);
            builder.multipart(mixed.singlepart(file))
        }
    };
    built.map_err(|e| format!("cannot build the message: {e}"))
}
