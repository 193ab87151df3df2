use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tallyfy_slack::config::LogFormat;
use tallyfy_slack::startup::shutdown_signal;
use tallyfy_slack::telemetry;

/// Try tallyfy-slack with no accounts: the app against stand-ins for Slack and Tallyfy, and
/// a page that works like a Slack channel. Prints the address to open. Needs no settings,
/// no `.env` and no Redis; RUST_LOG, when set, turns on logs.
#[derive(Parser)]
#[command(name = "tallyfy-slack-sandbox", version)]
struct Cli {
    /// Where the page listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        telemetry::init_logging(&filter, LogFormat::Text);
    }
    match tallyfy_slack_sandbox::start(cli.listen).await {
        Ok(sandbox) => {
            println!("Open {} (Ctrl-C stops it)", sandbox.address);
            shutdown_signal().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tallyfy-slack-sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}
