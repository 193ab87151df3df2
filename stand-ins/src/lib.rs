//! Stand-ins for the services tallyfy-slack talks to: [`slack::FakeSlack`] for Slack's Web
//! API and [`tallyfy::FakeTallyfy`] for Tallyfy's API. Each behaves as its owner documents
//! it, each rule with its source. The black-box tests and the benchmark run the application
//! against them, and so does the sandbox, so there is one set of stand-ins and it stays
//! faithful.
//!
//! This crate knows nothing of tallyfy-slack: it speaks only HTTP (and Socket Mode's
//! WebSocket) on loopback, as Slack and Tallyfy do. `bench-upstream` is the benchmark's
//! lighter stand-in (`bench/run`).

pub mod slack;
pub mod tallyfy;

/// A port nothing listens on, for a server about to be started on loopback whose address
/// must be known first. It is taken below the range the system hands out to outgoing
/// connections (32768 and up on Linux), so that no connection made meanwhile (by a test
/// running beside, say) takes it before the server binds it, and each is handed out once
/// per process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    const FIRST: u64 = 20_000;
    const SPAN: u64 = 12_000;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = u64::from(std::process::id()) * 7_919;
    loop {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::SeqCst)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
