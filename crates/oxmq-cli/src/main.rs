//! The oxmq command line tool.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod keygen;

/// oxmq: ZeroMQ in Rust.
#[derive(Debug, Parser)]
#[command(name = "oxmq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure oxmq: PUSH/PULL throughput, REQ/REP round-trip latency, PUB/SUB fan-out,
    /// ROUTER/DEALER with many peers.
    Bench(bench::BenchArgs),
    /// Make a CURVE key pair (Z85), or print the public key of a secret key.
    Keygen(keygen::KeygenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, result) = match cli.command {
        Command::Bench(args) => ("bench", bench::run(&args)),
        Command::Keygen(args) => ("keygen", keygen::run(&args).map_err(Into::into)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxmq {name}: {e}");
            ExitCode::FAILURE
        }
    }
}
