//! Slack request signing (v0): `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")),
//! compared in constant time, with a five-minute window against replays.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// How far a request's timestamp may be from now, either way.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp header")]
    Missing,
    #[error("malformed signature or timestamp header")]
    Malformed,
    #[error("request timestamp is more than five minutes from now")]
    Stale,
    #[error("signature does not match the body")]
    Mismatch,
}

#[derive(Clone)]
pub struct Verifier {
    /// HMAC keyed with the signing secret once: each request clones it instead of
    /// hashing the key again.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl Verifier {
    pub fn new(secret: Secret) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes any key length");
        Self { keyed }
    }

    /// Checks a request against the current time.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        self.verify_at(timestamp, signature, body, now_unix())
    }

    /// Checks a request as if the time were `now` (UNIX seconds).
    pub fn verify_at(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        self.claim_at(timestamp, signature, now)?.check(self, body)
    }

    /// Checks what the headers alone can tell (both present, well formed, recent),
    /// before the body is read: a request that fails here never has its body buffered.
    pub fn claim(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Claim, SignatureError> {
        self.claim_at(timestamp, signature, now_unix())
    }

    /// [`Verifier::claim`] as if the time were `now` (UNIX seconds).
    pub fn claim_at(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<Claim, SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::Malformed)?;
        // `now - ts` overflows for timestamps near i64's ends; such a request is stale.
        match now.checked_sub(ts) {
            Some(skew) if skew.unsigned_abs() <= MAX_SKEW_SECS.unsigned_abs() => {}
            _ => return Err(SignatureError::Stale),
        }
        let hex_sig = signature
            .trim()
            .strip_prefix("v0=")
            .ok_or(SignatureError::Malformed)?;
        let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
        Ok(Claim {
            timestamp: timestamp.trim().to_string(),
            expected,
        })
    }

    /// The `X-Slack-Signature` value Slack would send for this body and timestamp.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        format!(
            "v0={}",
            hex::encode(self.mac(timestamp, body).finalize().into_bytes())
        )
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }
}

/// A request's signature headers, checked as far as they can be without the body.
#[derive(Debug)]
pub struct Claim {
    timestamp: String,
    expected: Vec<u8>,
}

impl Claim {
    /// Whether the body is the one the headers signed.
    pub fn check(&self, verifier: &Verifier, body: &[u8]) -> Result<(), SignatureError> {
        // verify_slice compares in constant time.
        verifier
            .mac(&self.timestamp, body)
            .verify_slice(&self.expected)
            .map_err(|_| SignatureError::Mismatch)
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's official worked example.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier() -> Verifier {
        Verifier::new(Secret::new(SECRET))
    }

    #[test]
    fn accepts_slacks_worked_example_at_its_own_time() {
        assert_eq!(
            verifier().verify_at(Some(TS), Some(EXPECTED), BODY.as_bytes(), 1531420618),
            Ok(())
        );
        assert_eq!(verifier().sign(TS, BODY.as_bytes()), EXPECTED);
    }

    #[test]
    fn rejects_the_example_once_the_body_changes() {
        let altered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verifier().verify_at(Some(TS), Some(EXPECTED), altered.as_bytes(), 1531420618),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_the_example_when_stale_or_from_the_future() {
        let v = verifier();
        assert_eq!(
            v.verify_at(Some(TS), Some(EXPECTED), BODY.as_bytes(), 1531420618 + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            v.verify_at(Some(TS), Some(EXPECTED), BODY.as_bytes(), 1531420618 - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            v.verify_at(Some(TS), Some(EXPECTED), BODY.as_bytes(), 1531420618 + 300),
            Ok(())
        );
    }

    #[test]
    fn timestamps_at_the_ends_of_the_number_range_are_stale_not_an_overflow() {
        let v = verifier();
        for (ts, now) in [
            (i64::MIN, 1531420618),
            (i64::MAX, -5),
            (i64::MIN + 1, i64::MAX),
        ] {
            let ts = ts.to_string();
            let signature = v.sign(&ts, BODY.as_bytes());
            assert_eq!(
                v.verify_at(Some(&ts), Some(&signature), BODY.as_bytes(), now),
                Err(SignatureError::Stale)
            );
        }
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        let v = verifier();
        let now = 1531420618;
        assert_eq!(
            v.verify_at(None, Some(EXPECTED), BODY.as_bytes(), now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify_at(Some(TS), None, BODY.as_bytes(), now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify_at(Some("soon"), Some(EXPECTED), BODY.as_bytes(), now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v.verify_at(Some(TS), Some("v1=abc"), BODY.as_bytes(), now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v.verify_at(Some(TS), Some("v0=zz"), BODY.as_bytes(), now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn rejects_a_signature_made_with_another_secret() {
        let other = Verifier::new(Secret::new("another-secret")).sign(TS, BODY.as_bytes());
        assert_eq!(
            verifier().verify_at(Some(TS), Some(&other), BODY.as_bytes(), 1531420618),
            Err(SignatureError::Mismatch)
        );
    }
}
