use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tallyfy_slack::config::Config;
use tallyfy_slack::startup::{shutdown_signal, Application};
use tallyfy_slack::{check, manifest, telemetry};

/// Turn Slack conversations into tracked work in Tallyfy.
#[derive(Parser)]
#[command(name = "tallyfy-slack", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Check the configuration and reach Redis, Slack and Tallyfy; exits 1 on any failure.
    Check,
    /// Print the Slack app manifest for this installation.
    Manifest {
        /// The https:// address Slack reaches this service at.
        #[arg(long, env = "PUBLIC_URL")]
        public_url: Option<String>,
        /// For Socket Mode: no request URLs, socket_mode_enabled: true.
        #[arg(long)]
        socket_mode: bool,
    },
    /// Try it with no accounts: the app against stand-ins for Slack and Tallyfy, and a page
    /// that works like a Slack channel. Prints the address to open.
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// Where the page listens.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
    },
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|errors| {
        eprintln!("tallyfy-slack cannot start:\n{errors}");
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Manifest {
            public_url,
            socket_mode,
        } => match manifest::render(public_url.as_deref(), socket_mode) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tallyfy-slack manifest: {e}");
                ExitCode::from(2)
            }
        },
        #[cfg(feature = "sandbox")]
        Command::Sandbox { listen } => {
            if let Ok(filter) = std::env::var("RUST_LOG") {
                telemetry::init_logging(&filter, tallyfy_slack::config::LogFormat::Text);
            }
            match tallyfy_slack::sandbox::start(listen).await {
                Ok(sandbox) => {
                    println!("Open {} (Ctrl-C stops it)", sandbox.address);
                    shutdown_signal().await;
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tallyfy-slack sandbox: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check => {
            let config = match load_config() {
                Ok(config) => config,
                Err(code) => return code,
            };
            println!("ok    configuration: loaded");
            let checks = check::run(&config).await;
            for c in &checks {
                println!("{c}");
            }
            if checks.iter().all(|c| c.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Serve => {
            let config = match load_config() {
                Ok(config) => config,
                Err(code) => return code,
            };
            telemetry::init_logging(&config.log_filter, config.log_format);
            let result = async {
                Application::build(config)
                    .await?
                    .run_until_stopped(shutdown_signal())
                    .await
            }
            .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "tallyfy-slack failed");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
