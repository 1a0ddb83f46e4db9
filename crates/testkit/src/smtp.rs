//! A real SMTP receiver on 127.0.0.1 for delivery tests. It speaks enough of RFC 5321 for a client that sends
//! mail (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, and STARTTLS when offered), keeps every accepted message,
//! and can be told to refuse connections (`421` at the greeting) to play a server that is down.
//!
//! By default it speaks plain SMTP only. [`SmtpReceiver::start_with`] can make it offer STARTTLS or speak TLS
//! from the first byte, with a server certificate for `127.0.0.1` and `localhost` issued at start by a
//! certificate authority of its own. That authority's certificate is written to a PEM file
//! ([`SmtpReceiver::ca_file`]), for the client to trust explicitly (`ca=`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the receiver secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain SMTP; STARTTLS is not offered.
    #[default]
    None,
    /// Plain SMTP at first, with STARTTLS offered in the EHLO answer (a submission server on port 587).
    StartTls,
    /// TLS from the first byte (`smtps://`, port 465).
    Implicit,
}

/// One message as accepted by the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body) as sent, dot-stuffing removed, lines joined with `\n`.
    pub data: String,
    /// Whether the message came over TLS (after STARTTLS or on an implicit TLS connection).
    pub tls: bool,
}

impl ReceivedMail {
    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\n\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.lines() {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push(' ');
                    current.push_str(line.trim());
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// Everything after the header block.
    pub fn body(&self) -> &str {
        self.data.split_once("\n\n").map(|(_, body)| body).unwrap_or_default()
    }
}

struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    refusing: AtomicBool,
    tls: SmtpTls,
    /// Present unless `tls` is [`SmtpTls::None`].
    acceptor: Option<TlsAcceptor>,
}

/// The receiver; it stops when dropped.
pub struct SmtpReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The authority's certificate file, and the directory that holds it until the receiver is dropped.
    ca: Option<(TempDir, PathBuf)>,
    task: JoinHandle<()>,
}

impl SmtpReceiver {
    /// Listens on a free port of 127.0.0.1 and speaks plain SMTP.
    pub async fn start() -> SmtpReceiver {
        SmtpReceiver::start_with(SmtpTls::None).await
    }

    /// Listens on a free port of 127.0.0.1, securing connections as `tls` says.
    pub async fn start_with(tls: SmtpTls) -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free local port");
        let addr = listener.local_addr().expect("bound address");
        let (acceptor, ca) = match tls {
            SmtpTls::None => (None, None),
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let (acceptor, ca_pem) = tls_acceptor();
                let dir = TempDir::new().expect("a temporary directory");
                let file = dir.path().join("smtp-ca.pem");
                std::fs::write(&file, ca_pem).expect("the CA certificate is written");
                (Some(acceptor), Some((dir, file)))
            }
        };
        let shared = Arc::new(Shared {
            received: Mutex::default(),
            refusing: AtomicBool::new(false),
            tls,
            acceptor,
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-conversation, or fails the TLS handshake, only ends its own session.
                    let _ = session(stream, &shared).await;
                });
            }
        });
        SmtpReceiver { addr, shared, ca, task }
    }

    /// `smtp://127.0.0.1:<port>` (`smtps://` for [`SmtpTls::Implicit`]), for `--smtp-url` or the `smtp_url`
    /// setting. A STARTTLS receiver's URL names no `tls=` mode: the test adds the one it exercises.
    pub fn url(&self) -> String {
        match self.shared.tls {
            SmtpTls::Implicit => format!("smtps://{}", self.addr),
            SmtpTls::None | SmtpTls::StartTls => format!("smtp://{}", self.addr),
        }
    }

    /// A PEM file with the certificate of the authority that issued the receiver's certificate, for `ca=`;
    /// `None` for plain SMTP. It is removed when the receiver is dropped.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|(_, file)| file.as_path())
    }

    /// While `true`, every connection is answered `421` and closed.
    pub fn refuse(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.received.lock().expect("receiver lock").clone()
    }
}

/// A server-side TLS set-up with a fresh authority and a certificate it issued for `127.0.0.1` and `localhost`,
/// and the authority's certificate as PEM.
fn tls_acceptor() -> (TlsAcceptor, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "classbill-testkit SMTP CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA certificate");

    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("server parameters");
    server_params
        .distinguished_name
        .push(DnType::CommonName, "classbill-testkit SMTP receiver");
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = server_params.signed_by(&server_key, &ca).expect("server certificate");

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .expect("server TLS configuration");
    (TlsAcceptor::from(Arc::new(config)), ca.pem())
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The address inside `<…>` of a MAIL or RCPT argument.
fn address_of(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument.rfind('>').unwrap_or(argument.len());
    argument.get(start..end).unwrap_or_default().to_owned()
}

async fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some(acceptor) = &shared.acceptor else {
        return conversation(stream, shared, Stage::Plain).await.map(drop);
    };
    if shared.tls == SmtpTls::Implicit {
        let stream = acceptor.accept(stream).await?;
        return conversation(stream, shared, Stage::Implicit).await.map(drop);
    }
    if let Some(stream) = conversation(stream, shared, Stage::BeforeStartTls).await? {
        let stream = acceptor.accept(stream).await?;
        conversation(stream, shared, Stage::AfterStartTls).await?;
    }
    Ok(())
}

/// Where a conversation stands as to TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Plain, and STARTTLS is not offered.
    Plain,
    /// Plain so far, STARTTLS offered.
    BeforeStartTls,
    /// Secured by STARTTLS: no new greeting, the client starts over with EHLO (RFC 3207).
    AfterStartTls,
    /// Secured from the first byte.
    Implicit,
}

/// One SMTP conversation over `stream`. `Some(stream)` when the client asked for STARTTLS and was told to go
/// ahead: the caller performs the handshake and carries on with a new conversation.
async fn conversation<S>(stream: S, shared: &Shared, stage: Stage) -> std::io::Result<Option<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    if stage != Stage::AfterStartTls {
        if shared.refusing.load(Ordering::SeqCst) {
            say(&mut stream, b"421 127.0.0.1 service not available\r\n").await?;
            stream.shutdown().await?;
            return Ok(None);
        }
        say(&mut stream, b"220 127.0.0.1 ESMTP classbill-testkit\r\n").await?;
    }
    let secure = matches!(stage, Stage::AfterStartTls | Stage::Implicit);
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if stage == Stage::BeforeStartTls => {
                b"250-127.0.0.1\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n"
            }
            "EHLO" => b"250-127.0.0.1\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "STARTTLS" if stage == Stage::BeforeStartTls => {
                say(&mut stream, b"220 ready to start TLS\r\n").await?;
                return Ok(Some(stream.into_inner()));
            }
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            }
            "MAIL" => {
                from = address_of(command);
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address_of(command));
                b"250 OK\r\n"
            }
            "DATA" => {
                say(&mut stream, b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut lines = Vec::new();
                loop {
                    line.clear();
                    if stream.read_line(&mut line).await? == 0 {
                        return Ok(None);
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    lines.push(text.strip_prefix('.').unwrap_or(text).to_owned());
                }
                shared.received.lock().expect("receiver lock").push(ReceivedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data: lines.join("\n"),
                    tls: secure,
                });
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                say(&mut stream, b"221 bye\r\n").await?;
                stream.shutdown().await?;
                return Ok(None);
            }
            _ => b"502 command not implemented\r\n",
        };
        say(&mut stream, reply).await?;
    }
}

/// Writes one reply and pushes it out (a TLS stream may otherwise hold it back).
async fn say<S: AsyncWrite + Unpin>(stream: &mut S, reply: &[u8]) -> std::io::Result<()> {
    stream.write_all(reply).await?;
    stream.flush().await
}
