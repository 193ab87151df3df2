//! Values that leave the process for Redis, protected: [`Sealer`] encrypts a value at rest
//! (the Tallyfy tokens) with an AEAD, and [`JobMac`] signs a job on the shared stream so
//! that a replica runs only jobs written by a holder of the key. Both take a 32-byte
//! [`Key`] from configuration.

use base64::Engine;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use hmac::{Hmac, KeyInit as HmacKeyInit, Mac};
use sha2::Sha256;

/// 32 secret bytes, given as 64 hex digits or in base64. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// Reads 64 hex digits, or base64 (standard or URL-safe, padded or not) of 32 bytes.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(raw).ok()?
        } else {
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines.iter().find_map(|e| e.decode(raw).ok())?
        };
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key derived (HKDF-SHA256) from `secret` for one `purpose`: the same secret and
    /// purpose always give the same key, and different purposes unrelated keys. For an
    /// installation that sets no key of its own: every replica shares the secret, so every
    /// replica derives the same key.
    pub fn derive(secret: &str, purpose: &str) -> Self {
        Self::derive_from(secret.as_bytes(), purpose)
    }

    /// A key for one `purpose` derived (HKDF-SHA256) from this one: one setting serves
    /// several uses without one use's key being another's.
    pub fn derive_for(&self, purpose: &str) -> Self {
        Self::derive_from(&self.0, purpose)
    }

    fn derive_from(secret: &[u8], purpose: &str) -> Self {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(DERIVATION_SALT), secret);
        let mut bytes = [0u8; 32];
        hkdf.expand(purpose.as_bytes(), &mut bytes)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self(bytes)
    }
}

/// The salt of every derived key: keys derived here differ from any other use of the secret.
const DERIVATION_SALT: &[u8] = b"tallyfy-slack key derivation v1";

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Marks what this crate sealed, and with which scheme, so a later scheme can be told apart.
const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

/// Encrypts values kept in the store with XChaCha20-Poly1305 under a [`Key`]. Each value
/// gets a random 24-byte nonce (random nonces of that size never repeat in practice), and
/// the value's purpose is bound in as associated data, so a sealed value copied to another
/// purpose does not open.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: &Key) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new((&key.0).into()),
        }
    }

    /// `v1:` and the base64 of nonce and ciphertext.
    pub fn seal(&self, purpose: &str, plain: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("encryption of a short value does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }

    /// The value sealed for `purpose` under this key; `None` for anything else (not sealed,
    /// sealed under another key or for another purpose, or altered).
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<String> {
        let encoded = sealed.strip_prefix(SEALED_PREFIX)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// An unguessable token: 128 random bits from the operating system, in hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Signs and checks the jobs on the shared stream: HMAC-SHA256 of the job's JSON, in hex.
/// An operator's tool signs a job the same way:
/// `printf '%s' "$JOB" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$JOB_SIGNING_KEY`.
#[derive(Clone)]
pub struct JobMac {
    key: Key,
}

impl JobMac {
    pub fn new(key: &Key) -> Self {
        Self { key: key.clone() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as HmacKeyInit>::new_from_slice(&self.key.0)
            .expect("HMAC takes a key of any length")
    }

    /// The MAC of `job`, in lowercase hex.
    pub fn sign(&self, job: &str) -> String {
        let mut mac = self.mac();
        mac.update(job.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `tag` (hex) is the MAC of `job`; compared in constant time.
    pub fn verify(&self, job: &str, tag: &str) -> bool {
        let Ok(tag) = hex::decode(tag.trim()) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(job.as_bytes());
        mac.verify_slice(&tag).is_ok()
    }
}

/// Signs the values the service keeps in the store, so that a value it acts on is one it
/// wrote: `s1.{tag}.{value}`, where the tag is HMAC-SHA256 (first 16 bytes, base64url) of
/// the Redis key and the value together, so a signed value copied under another key does
/// not check either.
#[derive(Clone)]
pub struct ValueSigner {
    key: Key,
}

/// How a signed value starts.
const SIGNED_PREFIX: &str = "s1.";
/// Characters of a tag: 16 bytes in base64url without padding.
const TAG_LEN: usize = 22;

impl ValueSigner {
    pub fn new(key: &Key) -> Self {
        Self { key: key.clone() }
    }

    fn tag(&self, key: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as HmacKeyInit>::new_from_slice(&self.key.0)
            .expect("HMAC takes a key of any length");
        mac.update(key.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let tag = mac.finalize().into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
    }

    /// `value` as it is kept under `key`.
    pub fn sign(&self, key: &str, value: &str) -> String {
        format!("{SIGNED_PREFIX}{}.{value}", self.tag(key, value))
    }

    /// What `stored` holds, when it is a value this signer signed for `key`.
    pub fn open<'a>(&self, key: &str, stored: &'a str) -> Option<&'a str> {
        let rest = stored.strip_prefix(SIGNED_PREFIX)?;
        let (tag, value) = (rest.get(..TAG_LEN)?, rest.get(TAG_LEN + 1..)?);
        if rest.as_bytes().get(TAG_LEN) != Some(&b'.') {
            return None;
        }
        let expected = self.tag(key, value);
        // Constant time: the tag is compared byte for byte whatever matches.
        let same = expected
            .bytes()
            .zip(tag.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        same.then_some(value)
    }

    /// Whether `stored` is in the signed form at all (a value written before values were
    /// signed is not).
    pub fn is_signed(stored: &str) -> bool {
        stored.starts_with(SIGNED_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_value_opens_under_its_own_key_only_and_not_once_altered() {
        let signer = ValueSigner::new(&Key::from_bytes([7; 32]).derive_for("store values"));
        let stored = signer.sign("card:k1", "{\"ts\":\"1.2\"}");
        assert!(ValueSigner::is_signed(&stored));
        assert_eq!(signer.open("card:k1", &stored), Some("{\"ts\":\"1.2\"}"));
        assert_eq!(
            signer.open("card:k2", &stored),
            None,
            "moved to another key"
        );
        let altered = stored.replace("1.2", "9.9");
        assert_eq!(signer.open("card:k1", &altered), None);
        let other = ValueSigner::new(&Key::from_bytes([8; 32]));
        assert_eq!(
            other.open("card:k1", &stored),
            None,
            "another key's signature"
        );
        assert_eq!(signer.open("card:k1", "{\"ts\":\"1.2\"}"), None, "unsigned");
        assert_eq!(signer.open("card:k1", "s1.short"), None);
        let empty = signer.sign("x", "");
        assert_eq!(signer.open("x", &empty), Some(""));
    }

    #[test]
    fn a_derived_key_depends_on_its_secret_and_its_purpose_only() {
        let jobs = Key::derive("signing-secret", "jobs");
        assert_eq!(jobs, Key::derive("signing-secret", "jobs"));
        assert_ne!(jobs, Key::derive("signing-secret", "tokens"));
        assert_ne!(jobs, Key::derive("another-secret", "jobs"));
        // RFC 5869's construction, checked against an independent HMAC computation.
        let prk = {
            let mut mac = <Hmac<Sha256> as HmacKeyInit>::new_from_slice(DERIVATION_SALT).unwrap();
            mac.update(b"signing-secret");
            mac.finalize().into_bytes()
        };
        let mut mac = <Hmac<Sha256> as HmacKeyInit>::new_from_slice(&prk).unwrap();
        mac.update(b"jobs");
        mac.update(&[1]);
        assert_eq!(jobs.0[..], mac.finalize().into_bytes()[..]);
    }

    #[test]
    fn keys_are_read_from_hex_or_base64_and_never_printed() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key = Key::parse(hex_key).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.0);
        assert_eq!(Key::parse(&b64), Some(key.clone()));
        assert_eq!(Key::parse(b64.trim_end_matches('=')), Some(key.clone()));
        assert!(Key::parse("too short").is_none());
        assert!(Key::parse(&hex_key[..62]).is_none());
        assert_eq!(format!("{key:?}"), "Key([redacted])");
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_purpose() {
        let sealer = Sealer::new(&Key::from_bytes([7; 32]));
        let other = Sealer::new(&Key::from_bytes([8; 32]));
        let sealed = sealer.seal("tokens", "secret-token");
        assert!(!sealed.contains("secret-token"));
        assert_ne!(sealed, sealer.seal("tokens", "secret-token"), "fresh nonce");
        assert_eq!(
            sealer.open("tokens", &sealed).as_deref(),
            Some("secret-token")
        );
        assert_eq!(other.open("tokens", &sealed), None);
        assert_eq!(sealer.open("other purpose", &sealed), None);
        assert_eq!(sealer.open("tokens", "{\"access_token\":\"x\"}"), None);
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open("tokens", &altered), None);
    }

    #[test]
    fn a_job_mac_checks_the_job_and_the_key() {
        let mac = JobMac::new(&Key::from_bytes([1; 32]));
        let tag = mac.sign("{\"kind\":\"task\"}");
        assert_eq!(tag.len(), 64);
        assert!(mac.verify("{\"kind\":\"task\"}", &tag));
        assert!(!mac.verify("{\"kind\":\"project\"}", &tag));
        assert!(!mac.verify("{\"kind\":\"task\"}", "not hex"));
        assert!(!JobMac::new(&Key::from_bytes([2; 32])).verify("{\"kind\":\"task\"}", &tag));
    }
}
