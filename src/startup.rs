//! Building and running the application, so that tests start exactly what production
//! starts: `Application::build(config)`, `.port()`, `.run_until_stopped(shutdown)`.

use std::future::Future;
use std::sync::Arc;

use axum::http::HeaderName;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

use crate::config::{Config, MetricsAt};
use crate::job_kinds::Performer;
use crate::jobs::Drained;
use crate::state::AppState;

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(crate::inbound::http::router(
            state.config.http.max_in_flight,
        ))
        .merge(crate::inbound::http::tallyfy_router())
        .merge(crate::inbound::monitoring::router(
            state.config.metrics_addr == MetricsAt::Public,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let path = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or_else(|| req.uri().path(), |p| p.as_str());
                let request_id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // Work handed off by this request runs in this span, so its Slack and
                // Tallyfy calls log the same request id. (Fields are recorded only when
                // the span is enabled, so a quieter log filter costs nothing here.)
                tracing::info_span!("http", method = %req.method(), path, request_id)
            }),
        )
        // Every request gets an id of this service's making before it is traced; the code
        // it runs (and so the jobs it queues) knows it, and the answer carries it.
        .layer(axum::middleware::from_fn_with_state(
            RequestIds::new(),
            with_request_id,
        ))
        .with_state(state)
}

/// What `METRICS_ADDR` serves: `/metrics`, `/healthz` and `/readyz`.
fn metrics_app(state: AppState) -> Router {
    crate::inbound::monitoring::router(true).with_state(state)
}

/// Request ids shaped like UUIDs: a random half for this process and a counted half, so
/// ids are unique across replicas and restarts without a system call per request (a
/// random UUID asks the kernel for randomness every time).
#[derive(Clone)]
struct RequestIds {
    process: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // The standard library seeds each hasher from the system's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        Self {
            process: hasher.finish(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }
}

impl RequestIds {
    fn next(&self) -> axum::http::HeaderValue {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Shaped like a UUID, as log readers expect.
        let p = self.process;
        let id = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            p >> 32,
            (p >> 16) & 0xffff,
            p & 0xffff,
            n >> 48,
            n & 0xffff_ffff_ffff
        );
        axum::http::HeaderValue::from_str(&id).expect("hex digits and dashes make a header value")
    }
}

/// Gives the request an id of this service's making. An id the client sent is dropped
/// first: it is the client's text, and would be logged, unchecked, on every line the
/// request causes.
async fn with_request_id(
    axum::extract::State(ids): axum::extract::State<RequestIds>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = ids.next();
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let text = id.to_str().unwrap_or_default().to_string();
    let mut response = crate::telemetry::REQUEST_ID
        .scope(text, next.run(req))
        .await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

pub struct Application {
    listener: TcpListener,
    /// `METRICS_ADDR`'s listener, unless metrics are on the public port.
    metrics: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Builds every service from `config` and binds `HOST:PORT` (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let addr = (config.host, config.port);
        let state = AppState::build(config)?;
        // Whose the bot token is, before serving; if Slack does not say in time, it is
        // asked again in the background and requests are refused until it has.
        match tokio::time::timeout(LEARN_WAIT, state.workspace.learn(&state.slack)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not learn the bot token's workspace yet")
            }
            Err(_) => tracing::warn!("Slack is slow to say whose the bot token is"),
        }
        crate::inbound::server::raise_open_file_limit(state.config.http.max_connections);
        let listener = TcpListener::bind(addr).await?;
        let metrics = match state.config.metrics_addr {
            MetricsAt::Public => None,
            MetricsAt::Own {
                addr,
                required: true,
            } => Some(TcpListener::bind(addr).await?),
            MetricsAt::Own {
                addr,
                required: false,
            } => match TcpListener::bind(addr).await {
                Ok(listener) => Some(listener),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "metrics are not served: their default address is taken; set METRICS_ADDR");
                    None
                }
            },
        };
        Ok(Self {
            listener,
            metrics,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops taking requests and waits (bounded)
    /// for work in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.kind();
        tracing::info!(port = self.port(), store, "tallyfy-slack is listening");
        let jobs = self.state.jobs.clone();
        let drain = self.state.config.jobs.drain;
        jobs.start(Arc::new(Performer::new(self.state.clone())));
        let (stopping, stop_watch) = tokio::sync::watch::channel(false);
        if self.state.workspace.identity().is_none() {
            tokio::spawn(learn_workspace(self.state.clone(), stop_watch.clone()));
        }
        let socket = self.state.config.slack.app_token.clone().map(|token| {
            tracing::info!("SLACK_APP_TOKEN is set: connecting over Socket Mode too");
            tokio::spawn(crate::inbound::socket::run(
                self.state.clone(),
                token,
                stop_watch.clone(),
            ))
        });
        // Without a public URL Tallyfy has nowhere to call: completions are read instead.
        // With one, what no webhook of the app's tells about (a launched template's run)
        // is read too.
        let poller = {
            let mut stop = stop_watch.clone();
            tokio::spawn(crate::cards::poll(self.state.clone(), async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            }))
        };
        // Each person's alerts (assignments, the morning digest) are read by one replica.
        {
            let mut stop = stop_watch.clone();
            tokio::spawn(crate::alerts::poll(self.state.clone(), async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            }));
        }
        // Values an earlier release kept unsigned are signed while they are still read.
        if let Some(signed) = self.state.signed_store.clone() {
            let mut stop = stop_watch.clone();
            tokio::spawn(crate::store::signed::sign_earlier_values(
                signed,
                async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                },
            ));
        }
        let metrics = self.metrics.map(|listener| {
            let (router, http) = (
                metrics_app(self.state.clone()),
                self.state.config.http.clone(),
            );
            let mut stop = stop_watch.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                };
                crate::inbound::server::serve(listener, router, &http, stopped).await
            })
        });
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        let http = self.state.config.http.clone();
        crate::inbound::server::serve(self.listener, app(self.state), &http, shutdown).await;
        if let Some(socket) = socket {
            let _ = socket.await;
        }
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        let _ = poller.await;
        if jobs.drain(drain).await == Drained::HandedBack {
            tracing::warn!("shutdown: work still running was handed back for another replica");
        }
        tracing::info!("tallyfy-slack stopped");
        Ok(())
    }
}

/// How long the start waits for Slack to say whose the bot token is.
const LEARN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Asks Slack whose the bot token is until it says (or the service stops).
async fn learn_workspace(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    // The start has just asked: wait before asking again.
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if state.workspace.learn(&state.slack).await.is_ok() {
            return;
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(30));
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
