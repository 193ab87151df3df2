//! Redis for tests: the shared server every test uses under a key prefix of its own, and
//! [`OwnRedis`], a server of a test's own that it can pause, resume and restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shared Redis every test may use.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test (or run) uses, so tests sharing a Redis never meet.
pub fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A Redis server of a test's own, on a free port, that the test can pause and resume.
pub struct OwnRedis {
    pub url: String,
    port: u16,
    process: std::process::Child,
}

impl OwnRedis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    /// Stops the server and starts a new one on the same port: everything it held is gone.
    pub async fn restart(self) -> Self {
        let port = self.port;
        drop(self);
        Self::start_on(port).await
    }

    async fn start_on(port: u16) -> Self {
        let process = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let started = Instant::now();
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { url, port, process }
    }

    fn signal(&self, signal: &str) {
        std::process::Command::new("kill")
            .args([signal, &self.process.id().to_string()])
            .status()
            .unwrap();
    }

    /// Freezes the server: connections stay open and nothing answers, the hardest outage.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.resume();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
