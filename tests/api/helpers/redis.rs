//! Redis for tests: the shared server every test uses under a key prefix of its own, and
//! [`OwnRedis`], a server of a test's own that it can pause, resume and restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shared Redis every test may use.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The key every test replica signs its jobs with (`JOB_SIGNING_KEY`).
pub const JOB_SIGNING_KEY: &str =
    "6a6f622d7369676e696e672d6b65792d666f722d74657374732d303132333435";
/// The key every test replica encrypts stored tokens with (`STORE_ENCRYPTION_KEY`).
pub const STORE_ENCRYPTION_KEY: &str =
    "73746f72652d656e6372797074696f6e2d6b65792d666f722d74657374732d31";

/// Signs and checks jobs as the test replicas do.
pub fn job_mac() -> tallyfy_slack::seal::JobMac {
    tallyfy_slack::seal::JobMac::new(&tallyfy_slack::seal::Key::parse(JOB_SIGNING_KEY).unwrap())
}

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
    /// Where the application reaches it (with the password, over TLS when asked for).
    pub url: String,
    /// The plain port without a password is not there when one is required: this URL
    /// reaches the server as an administrator.
    pub admin_url: String,
    port: u16,
    security: Security,
    /// The configuration shipped in `manifests/k8s/redis.yaml`, with its data directory,
    /// instead of the tests' own (no password, nothing kept on disk).
    shipped: Option<Shipped>,
    process: std::process::Child,
}

/// A server run with the shipped manifest's arguments, its data in a directory of its own
/// (the manifest's volume) that outlives a restart.
#[derive(Clone)]
struct Shipped {
    args: Vec<String>,
    dir: std::path::PathBuf,
}

/// The shipped Redis's command-line arguments, read from `manifests/k8s/redis.yaml` (the
/// `args:` list of its container), with `$(REDIS_PASSWORD)` filled in with `password`.
pub fn shipped_redis_args(password: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/k8s/redis.yaml"),
    )
    .expect("manifests/k8s/redis.yaml is readable");
    let mut lines = manifest.lines().skip_while(|l| l.trim() != "args:");
    let header = lines.next().expect("the Redis container has args:");
    let indent = header.len() - header.trim_start().len();
    let args: Vec<String> = lines
        .take_while(|l| l.len() - l.trim_start().len() > indent && l.trim().starts_with("- "))
        .map(|l| {
            let value = l.trim()[2..].trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            value.replace("$(REDIS_PASSWORD)", password)
        })
        .collect();
    assert!(
        !args.is_empty(),
        "the Redis container's args: list is empty"
    );
    args
}

/// How a test's own Redis is protected.
#[derive(Clone, Default)]
pub struct Security {
    /// `--requirepass`.
    pub password: Option<String>,
    /// TLS on a port of its own, with a certificate made for the test.
    pub tls: Option<TlsFiles>,
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it, made with
/// openssl in a directory of the test's own.
#[derive(Clone)]
pub struct TlsFiles {
    pub dir: std::path::PathBuf,
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl TlsFiles {
    pub fn make() -> Self {
        let dir = std::env::temp_dir().join(format!("redis-tls-{}", unique_prefix()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |name: &str| dir.join(name);
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl is installed");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        std::fs::write(
            path("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=test redis CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ]);
        Self {
            ca: path("ca.pem"),
            cert: path("server.pem"),
            key: path("server.key"),
            dir,
        }
    }
}

pub use stand_ins::free_port;

impl OwnRedis {
    pub async fn start() -> Self {
        Self::start_secured(Security::default()).await
    }

    /// A server that requires a password, or TLS, or both.
    pub async fn start_secured(security: Security) -> Self {
        Self::start_on(free_port(), security).await
    }

    /// A server with the configuration shipped in `manifests/k8s/redis.yaml` (its password
    /// made up here), on a free port, with a data directory of its own.
    pub async fn start_shipped() -> Self {
        let password = "shipped-redis-password-0123456789".to_string();
        let dir = std::env::temp_dir().join(format!("redis-data-{}", unique_prefix()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = Shipped {
            args: shipped_redis_args(&password),
            dir,
        };
        let security = Security {
            password: Some(password),
            tls: None,
        };
        Self::start_with(free_port(), security, Some(shipped)).await
    }

    /// Stops the server and starts a new one on the same port: everything it held is gone,
    /// unless it runs the shipped configuration, which keeps what it keeps on disk. The
    /// shipped server is stopped as Kubernetes stops a pod (SIGTERM, then waited for).
    pub async fn restart(mut self) -> Self {
        let (port, security, shipped) = (self.port, self.security.clone(), self.shipped.take());
        if shipped.is_some() {
            self.signal("-TERM");
            let _ = self.process.wait();
        }
        drop(self);
        Self::start_with(port, security, shipped).await
    }

    async fn start_on(port: u16, security: Security) -> Self {
        Self::start_with(port, security, None).await
    }

    async fn start_with(port: u16, security: Security, shipped: Option<Shipped>) -> Self {
        let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        match &shipped {
            Some(shipped) => {
                // The manifest's volume, mounted at /data there, is the test's directory.
                let mut previous = String::new();
                for arg in &shipped.args {
                    let arg = if previous == "--dir" {
                        shipped.dir.display().to_string()
                    } else {
                        arg.clone()
                    };
                    previous = arg.clone();
                    args.push(arg);
                }
            }
            None => args.extend(["--save", "", "--appendonly", "no"].map(String::from)),
        }
        let auth = match &security.password {
            // The shipped arguments carry their own --requirepass.
            Some(password) if shipped.is_some() => format!(":{password}@"),
            Some(password) => {
                args.extend(["--requirepass".into(), password.clone()]);
                format!(":{password}@")
            }
            None => String::new(),
        };
        let admin_url = format!("redis://{auth}127.0.0.1:{port}");
        let url = match &security.tls {
            Some(tls) => {
                let tls_port = free_port();
                for (flag, value) in [
                    ("--tls-port", tls_port.to_string()),
                    ("--tls-cert-file", tls.cert.display().to_string()),
                    ("--tls-key-file", tls.key.display().to_string()),
                    ("--tls-ca-cert-file", tls.ca.display().to_string()),
                    ("--tls-auth-clients", "no".to_string()),
                ] {
                    args.extend([flag.to_string(), value]);
                }
                format!("rediss://{auth}127.0.0.1:{tls_port}")
            }
            None => admin_url.clone(),
        };
        let process = std::process::Command::new("redis-server")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let client = redis::Client::open(admin_url.as_str()).unwrap();
        let started = Instant::now();
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            url,
            admin_url,
            port,
            security,
            shipped,
            process,
        }
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
        if let Some(shipped) = &self.shipped {
            let _ = std::fs::remove_dir_all(&shipped.dir);
        }
    }
}

/// The job went through the shared queue in Redis, not the replica's own.
pub async fn queued_in_redis(app: &super::TestApp) -> bool {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics.lines().any(|l| {
        l.starts_with("tallyfy_slack_jobs_total")
            && l.contains("kind=\"queue\"")
            && l.contains("outcome=\"shared\"")
            && !l.ends_with(" 0")
    })
}
