//! Serving HTTP connections to whoever reaches the port: a connection whose request
//! headers do not all arrive within the header timeout (or outgrow the header buffer) is
//! closed, at most `max_connections` are open at once, strangers' connections (those that
//! have proved nothing yet, see [`super::standing`]) hold a smaller share of them and the
//! oldest is closed to let a new connection in, and shutdown stops accepting, lets requests
//! in flight finish and closes idle connections.
//!
//! HTTP/1.1 only: it is what Slack speaks, and a connection is never left waiting to learn
//! which protocol a silent client meant.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use tower::ServiceExt;

use super::standing::Places;
use crate::config::HttpConfig;

/// Hyper's smallest read buffer.
const MIN_BUF: usize = 8192;
/// Header fields a request may carry; Slack's carry a few dozen.
const MAX_HEADERS: usize = 100;

/// Serves `app` on `listener` until `shutdown` completes, then waits for the connections
/// still open to finish what they are doing.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_timeout)
        .max_buf_size(http.max_header_bytes.max(MIN_BUF))
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let places = Places::new(http);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(standing) = places.admit() else {
            tracing::debug!("too many connections open: closing a new one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tag = standing.clone();
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: axum::http::Request<_>| {
                tag.heard();
                req.extensions_mut().insert(tag.clone());
                req
            },
        ));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                () = standing.closed.notified() => {}
            }
            standing.leave();
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Raises the soft limit on open files towards the hard limit when it is too low for
/// `max_connections` connections and the service's own sockets and files, saying so.
#[cfg(unix)]
pub fn raise_open_file_limit(max_connections: usize) {
    // Redis, Slack, Tallyfy, the log and the listener, with room to spare.
    let wanted = (max_connections as u64).saturating_add(256);
    // SAFETY: getrlimit and setrlimit read and write the rlimit given, and nothing else.
    let mut limit = unsafe { std::mem::zeroed::<libc::rlimit>() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let (soft, hard) = (limit.rlim_cur as u64, limit.rlim_max as u64);
    if soft >= wanted {
        return;
    }
    limit.rlim_cur = wanted.min(hard) as libc::rlim_t;
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        tracing::info!(
            from = soft,
            to = limit.rlim_cur as u64,
            "raised the open-file limit so that HTTP_MAX_CONNECTIONS connections fit"
        );
    }
    if hard < wanted {
        tracing::warn!(
            hard,
            wanted,
            "the open-file limit is below what HTTP_MAX_CONNECTIONS needs: some connections \
             will be refused; raise it (ulimit -n) or lower HTTP_MAX_CONNECTIONS"
        );
    }
}

#[cfg(not(unix))]
pub fn raise_open_file_limit(_max_connections: usize) {}
