//! The `modelgate` binary: installs logging (JSON lines for `serve`), runs the CLI, exits with
//! its code.
//!
//! The binary allocates through mimalloc: a decision allocates many small, short-lived values
//! (JSON, Cedar entities), and glibc's allocator spent a fifth of the server's CPU time on them.

use std::sync::Arc;

use clap::Parser as _;
use modelgate::cli::{self, serve::init_logging, Cli, Command};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = match Cli::try_parse_from(&args) {
        Ok(parsed) => {
            init_logging(matches!(parsed.command, Command::Serve(_)));
            cli::run(parsed, Arc::new(modelgate::clock::SystemClock))
        }
        Err(_) => {
            // Help, version or a usage error: let the CLI print it with its exit code.
            init_logging(false);
            cli::main_with_args(args)
        }
    };
    std::process::exit(code);
}
