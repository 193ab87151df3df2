//! `tallyfy-slack sandbox`, and the stand-ins it runs on.
//!
//! [`slack::FakeSlack`] and [`tallyfy::FakeTallyfy`] stand in for Slack's Web API and
//! Tallyfy's API and behave as their owners document them, each rule with its source. The
//! black-box tests run the application against them, and so does the sandbox, so there is
//! one set of stand-ins and it stays faithful.
//!
//! The sandbox runs the real application with no settings at all: the stand-ins on
//! loopback, the in-process store and queue, a few people, channels and Tallyfy members
//! ([`world`]), and a web page that works like a Slack channel ([`page`]), where what a
//! person does is sent to the application as Slack sends it ([`room`]).
//!
//! Built with the `sandbox` cargo feature (on by default; the container image is built
//! without it).

use std::net::SocketAddr;
use std::sync::Arc;

pub mod page;
pub mod room;
pub mod slack;
pub mod tallyfy;
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
    let slack = slack::FakeSlack::start().await;
    let tallyfy = tallyfy::FakeTallyfy::start().await;
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
