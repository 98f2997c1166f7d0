//! The `lab` binary: parse the command line, run the subcommand, map errors to one clear
//! message and an exit code (1 for failures, 64 for unusable flags as clap reports them).

use std::process::ExitCode;

use clap::Parser as _;
use lab::cli::{CaCommand, CertsCommand, Cli, Command, NodeCommand, TokenCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("lab: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up(args) => runtime()?.block_on(lab::up::up(&args))?,
        Command::Down(args) => lab::down::down(&lab::state::Layout::new(&args.state_dir))?,
        Command::Init(args) => lab::commands::init(&args)?,
        Command::Seed(args) => runtime()?.block_on(lab::commands::seed(&args))?,
        Command::Ca(CaCommand::Create(args)) => lab::ops::ca_create(&args)?,
        Command::Ca(CaCommand::CrossSign(args)) => lab::ops::ca_cross_sign(&args)?,
        Command::Ca(CaCommand::Rotate(args)) => {
            runtime()?.block_on(lab::ca_rotation::rotate(&args))?
        }
        Command::Ca(CaCommand::Status(args)) => {
            runtime()?.block_on(lab::ca_rotation::status(&args))?
        }
        Command::Token(TokenCommand::Create(args)) => {
            runtime()?.block_on(lab::commands::token_create(&args))?
        }
        Command::Token(TokenCommand::List(args)) => {
            runtime()?.block_on(lab::tokens::list(&args))?
        }
        Command::Token(TokenCommand::Delete(args)) => {
            runtime()?.block_on(lab::tokens::delete(&args))?
        }
        Command::Node(NodeCommand::Revoke(args)) => {
            runtime()?.block_on(lab::node::revoke(&args))?
        }
        Command::Node(NodeCommand::Replace(args)) => {
            runtime()?.block_on(lab::node::replace(&args))?
        }
        Command::Doctor(args) => {
            if !runtime()?.block_on(lab::doctor::run(&args)) {
                eprintln!("lab: at least one check failed");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Certs(CertsCommand::Expiry(args)) => {
            if !lab::ops::certs_expiry(&args)? {
                eprintln!("lab: at least one certificate has expired");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
