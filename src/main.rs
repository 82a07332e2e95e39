//! The `modelgate` binary: installs logging, runs the CLI, exits with its code.

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
