use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tallyfy_slack::config::Config;
use tallyfy_slack::startup::{shutdown_signal, Application};
use tallyfy_slack::telemetry;

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("tallyfy-slack cannot start:\n{errors}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&config.log_filter, config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
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
        }
    }
    ExitCode::SUCCESS
}
