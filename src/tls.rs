//! One TLS policy for every outbound connection (Slack's Web API and response URLs, Socket
//! Mode, Tallyfy, Redis over `rediss://`): rustls with its ring provider, trusting the
//! operating system's certificate store. The container image ships the CA certificates
//! it needs.

/// Makes ring the process's rustls provider; every client builder calls it first, so the
/// order in which clients are made does not matter.
pub fn init() {
    // Err means a provider is already installed: the same one, from an earlier call.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
