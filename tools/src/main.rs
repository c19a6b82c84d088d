//! The `fastpath` command: `serve` attaches the engine to an interface, `demo` shows it
//! working on a veth pair it builds and removes itself, `load` drives HTTP load through the
//! engine; `stat` and `ss` look inside a running engine through its control socket, and
//! `reload` has it read its `--root` again.

mod cli;
mod control;
mod demo;
mod doctor;
mod lists;
mod load;
mod loadgen;
mod reflect;
mod reload;
mod serve;
mod ss;
mod stat;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        // Logs on stderr (colour only on a terminal); stats and the summary on stdout.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::main(&args),
        cli::Command::Demo(args) => demo::main(&args),
        cli::Command::Load(args) => load::main(&args),
        cli::Command::Reflect(args) => reflect::main(&args),
        cli::Command::Stat(args) => stat::main(&args),
        cli::Command::Ss(args) => ss::main(&args),
        cli::Command::Reload(args) => reload::main(&args),
        cli::Command::Doctor(args) => doctor::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line that says what is wrong and what to do.
            eprintln!("fastpath: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
