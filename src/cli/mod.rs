//! Command-line interface: clap derive types, one module per subcommand.
//!
//! Library modules return `thiserror` errors; this layer adds context with `anyhow`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod data;

/// Siamese face verification pipelines on LFW-a, declared in RON.
#[derive(Debug, Parser)]
#[command(name = "twinflow", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look at LFW-a (`stats`) or make a synthetic stand-in (`synth`).
    Data(data::DataArgs),
}

/// Parses the command line and runs the chosen subcommand.
///
/// # Errors
/// Any error of the subcommand, with context for the user.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Data(args) => data::run(args),
    }
}
