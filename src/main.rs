//! The `modelgate` binary: installs logging, runs the CLI, exits with its code.
//!
//! The binary allocates through mimalloc: a decision allocates many small, short-lived values
//! (JSON, Cedar entities), and glibc's allocator spent a fifth of the server's CPU time on them.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MODELGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(modelgate::cli::main_with_args(std::env::args_os()));
}
