//! `granary-server`: reads its configuration, starts the server, and stops it on SIGINT/SIGTERM.

use clap::Parser;
use granary_server::{Config, Flags, Server};
use tracing_subscriber::EnvFilter;

/// Stack of every runtime thread. Planning and evaluating an expression recurse over its tree;
/// the engine refuses trees deeper than ClickHouse's limits (`max_ast_depth` 1000), and this is
/// room for the deepest it accepts, with margin (only the pages a thread touches are committed).
const THREAD_STACK_BYTES: usize = 64 << 20;

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve())
}

async fn serve() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("GRANARY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let flags = Flags::parse();
    match run(&flags).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(flags: &Flags) -> granary_server::Result<()> {
    if flags.hash_password {
        let mut password = String::new();
        std::io::stdin().read_line(&mut password)?;
        let password = password.trim_end_matches(['\n', '\r']);
        use std::io::Write;
        writeln!(
            std::io::stdout(),
            "{}",
            granary_server::auth::ScramSecret::new(password)
        )?;
        return Ok(());
    }
    let config = Config::from_flags(flags)?;
    if flags.print_config {
        use std::io::Write;
        std::io::stdout().write_all(config.to_toml()?.as_bytes())?;
        return Ok(());
    }
    let server = Server::start(&config).await?;
    shutdown_signal().await;
    tracing::info!("shutdown requested");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
