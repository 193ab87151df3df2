//! One TLS policy for every outbound connection (Slack's Web API and response URLs, Socket
//! Mode, Tallyfy, Redis over `rediss://`): rustls with its ring provider, trusting the
//! operating system's certificate store. The container image ships the CA certificates
//! it needs. Every client reads that store through `rustls-native-certs` (reqwest through
//! `rustls-platform-verifier`, which uses it on Linux), so `SSL_CERT_FILE` (a PEM file) or
//! `SSL_CERT_DIR`, when set, replaces the store for all of them alike: a proxy's or a private
//! certificate authority, or the benchmark's (`bench/run`).
//!
//! Connections are kept (the clients' pools, 90 s idle) and HTTP/2 is used where the server
//! offers it by ALPN (hyper-rustls for Slack's Web API, reqwest's `http2` for Tallyfy and
//! response URLs): at steady load a replica holds one connection per upstream and makes no
//! new handshakes.

/// Makes ring the process's rustls provider; every client builder calls it first, so the
/// order in which clients are made does not matter.
pub fn init() {
    // Err means a provider is already installed: the same one, from an earlier call.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
