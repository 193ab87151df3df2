//! The stand-in over HTTPS, as Slack's and Tallyfy's APIs are only served: a certificate
//! authority made at start (written out as PEM for the contenders to trust), a server
//! certificate it signs for `localhost` and `127.0.0.1`, ALPN offering HTTP/2 and HTTP/1.1
//! (both services offer h2), and a count of every TLS session accepted, so the benchmark
//! can tell how many handshakes each contender made.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::HandshakeKind;

use super::Upstream;

/// A new certificate authority and a server certificate it signed: the authority's PEM
/// (for the clients to trust) and the server's configuration.
pub fn make(ca_out: &std::path::Path) -> std::io::Result<rustls::ServerConfig> {
    let fail = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let ca_key = KeyPair::generate().map_err(fail)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tallyfy-slack benchmark CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;

    let key = KeyPair::generate().map_err(fail)?;
    // "127.0.0.1" becomes an IP address entry, "localhost" a DNS name.
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(fail)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = server.signed_by(&key, &ca_cert, &ca_key).map_err(fail)?;
    std::fs::write(ca_out, ca_cert.pem())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(std::io::Error::other)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` over TLS on `addr`, counting `tls.sessions` (every session accepted),
/// `tls.resumed` (of those, resumed without a full handshake), `tls.h2` (HTTP/2 chosen)
/// and `tls.failed` (handshakes that did not complete).
pub async fn serve(
    addr: SocketAddr,
    config: rustls::ServerConfig,
    app: Router,
    up: Arc<Upstream>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, up) = (acceptor.clone(), app.clone(), up.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(_) => return up.count("tls.failed"),
            };
            let (_, session) = tls.get_ref();
            up.count("tls.sessions");
            if session.handshake_kind() == Some(HandshakeKind::Resumed) {
                up.count("tls.resumed");
            }
            if session.alpn_protocol() == Some(b"h2") {
                up.count("tls.h2");
            }
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_written_out_and_http2_is_offered() {
        let ca = std::env::temp_dir().join(format!("bench-ca-{}.pem", std::process::id()));
        let config = make(&ca).unwrap();
        let pem = std::fs::read_to_string(&ca).unwrap();
        std::fs::remove_file(&ca).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert_eq!(config.alpn_protocols[0], b"h2");
    }
}
