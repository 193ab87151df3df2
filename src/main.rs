use std::process::ExitCode;

/// jemalloc, not the system's malloc: less CPU per form (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    Check {
        /// With client credentials: also mint a token acting as this Tallyfy member.
        #[arg(long = "as", value_name = "EMAIL")]
        person: Option<String>,
    },
    /// Print the Slack app manifest for this installation.
    Manifest {
        /// The https:// address Slack reaches this service at.
        #[arg(long, env = "PUBLIC_URL")]
        public_url: Option<String>,
        /// For Socket Mode: no request URLs, socket_mode_enabled: true.
        #[arg(long)]
        socket_mode: bool,
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
        Command::Check { person } => {
            let config = match load_config() {
                Ok(config) => config,
                Err(code) => return code,
            };
            println!("ok    configuration: loaded");
            let checks = check::run(&config, person.as_deref()).await;
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
