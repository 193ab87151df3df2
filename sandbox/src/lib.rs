//! The sandbox: tallyfy-slack with no settings at all, against the stand-ins for Slack
//! and Tallyfy (the `tallyfy-slack-stand-ins` crate, the ones the black-box tests run
//! against).
//!
//! It runs the real application: the stand-ins on loopback, the in-process store and
//! queue, a few people, channels and Tallyfy members ([`world`]), and a web page that works
//! like a Slack channel ([`page`]), where what a person does is sent to the application as
//! Slack sends it ([`room`]).
//!
//! `cargo run --release -p tallyfy-slack-sandbox` (the binary is `tallyfy-slack-sandbox`).

use std::net::SocketAddr;
use std::sync::Arc;

use stand_ins::slack::FakeSlack;
use stand_ins::tallyfy::FakeTallyfy;

pub mod page;
pub mod room;
pub mod world;

/// A running sandbox.
pub struct Sandbox {
    /// The page's address, e.g. `http://127.0.0.1:3000`.
    pub address: String,
    pub room: Arc<Room>,
}

pub use self::room::Room;

/// Starts the stand-ins, the application and the page on `addr` (port 0: any free port).
pub async fn start(addr: SocketAddr) -> anyhow::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let host = if bound.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        bound.ip().to_string()
    };
    let address = format!("http://{host}:{}", bound.port());
    let slack = FakeSlack::start().await;
    let tallyfy = FakeTallyfy::start().await;
    world::populate(&slack, &tallyfy);
    let app = world::start_app(world::settings(&slack, &tallyfy, &address)?).await?;
    let room = Arc::new(Room::new(slack, tallyfy, app));
    let router = page::router(room.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the sandbox page stopped");
        }
    });
    Ok(Sandbox { address, room })
}
