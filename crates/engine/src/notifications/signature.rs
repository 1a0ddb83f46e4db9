//! The signature of webhook deliveries (§5.13): `Classbill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
//! over `t + "." + body`, keyed with the endpoint's signing secret.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Classbill-Signature";

/// The header value for `body` sent at `at`.
pub fn signature_header(secret: &[u8], at: Timestamp, body: &[u8]) -> String {
    let t = at.as_second();
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // RFC 4231 test case 2 uses key "Jefe"; here the message is "1700000000." + body.
        let at = Timestamp::from_second(1_700_000_000).expect("instant");
        let header = signature_header(b"Jefe", at, b"what do ya want for nothing?");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("key");
        mac.update(b"1700000000.what do ya want for nothing?");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }
}
