//! E-mail over SMTP with lettre and rustls. The URL chooses plain SMTP, STARTTLS (required or opportunistic) or
//! TLS from the first byte (`smtps://`); certificates are always verified, against the bundled web PKI roots and,
//! with `ca=`, a private authority's certificate. There is deliberately no switch to skip verification.

use std::time::{Duration, SystemTime};

use classbill_store::outbox::MessageRow;
use jiff::Timestamp;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{SMTP_PORT, SUBMISSIONS_PORT};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::delivery::Failure;
use crate::documents::InvoicePdf;
use crate::installation::{SmtpSecurity, SmtpServer, smtp_server};

const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An SMTP connection setting, built once per delivery pass.
pub(super) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// `Err` explains why mail cannot go out through `url` (the password is never part of the text). Without a
    /// port, `smtps://` goes to 465 and `smtp://` to 25, whatever its `tls=`.
    pub(super) fn new(url: &str) -> Result<Mailer, String> {
        let server = smtp_server(url).map_err(|reason| format!("the SMTP URL is not usable: {reason}"))?;
        let (tls, default_port) = match server.security {
            SmtpSecurity::Plain => (Tls::None, SMTP_PORT),
            SmtpSecurity::StartTlsOpportunistic => (Tls::Opportunistic(tls_parameters(&server)?), SMTP_PORT),
            SmtpSecurity::StartTlsRequired => (Tls::Required(tls_parameters(&server)?), SMTP_PORT),
            SmtpSecurity::ImplicitTls => (Tls::Wrapper(tls_parameters(&server)?), SUBMISSIONS_PORT),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
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

/// Verification of the server's certificate for its host name: the web PKI roots, plus the authority in the
/// `ca=` file. The file is read at every delivery pass, so a replaced certificate needs no restart.
fn tls_parameters(server: &SmtpServer) -> Result<TlsParameters, String> {
    let mut parameters = TlsParameters::builder(server.host.clone());
    if let Some(path) = &server.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA certificate file {path} (ca=): {e}"))?;
        // An empty or wrong file would otherwise add nothing and fail later as an untrusted certificate.
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("the CA certificate file {path} (ca=) holds no PEM certificate"));
        }
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| format!("the CA certificate file {path} (ca=) is not valid PEM: {e}"))?;
        parameters = parameters.add_root_certificate(certificate);
    }
    parameters
        .build_rustls()
        .map_err(|e| format!("cannot set up TLS for the SMTP server: {e}"))
}
