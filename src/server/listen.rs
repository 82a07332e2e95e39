//! Listening: plain HTTP or HTTPS (rustls), the report scheduler beside it, graceful shutdown,
//! and draining the appender.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::error::ApiError;
use super::router;
use super::state::AppState;

/// Where and how `modelgate serve` listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address (default from `[server] listen`).
    pub listen: SocketAddr,
    /// PEM certificate chain and private key, for HTTPS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// Serves `state` until SIGINT or SIGTERM, then finishes the requests in flight and drains the
/// appender. `ready` is told the bound address once the socket listens.
pub async fn serve(
    state: AppState,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ApiError> {
    serve_until(state, options, ready, shutdown_signal()).await
}

/// How long a TLS server waits for connections to finish after shutdown begins.
const TLS_GRACE: Duration = Duration::from_secs(30);

/// How long shutdown waits for work that outlived its request (a decision past its deadline
/// still finishes and is recorded) before the appender is drained.
const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Serves `state` until `shutdown` completes, then stops accepting, lets the requests in flight
/// finish (each within its deadline), waits for work they left on the blocking pool, and
/// drains the group-commit appender, so that every decision answered is durable and the ledger
/// is left whole. `ready` is told the bound address once the socket listens.
pub async fn serve_until(
    state: AppState,
    options: ServeOptions,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    let state = Arc::new(state);
    // The console's inventory loads in the background from the start, not on its first page.
    state
        .console
        .models
        .start_loading(&state.ws, Arc::clone(&state.clock));
    let app = router(Arc::clone(&state));
    // The report scheduler stops as soon as shutdown begins (or serving fails).
    let stop = Arc::new(tokio::sync::watch::Sender::new(false));
    let scheduler = super::reports::spawn_scheduler(Arc::clone(&state), stop.subscribe());
    let stopper = Arc::clone(&stop);
    let shutdown = async move {
        shutdown.await;
        stopper.send_replace(true);
    };
    let io =
        |e: std::io::Error| ApiError::internal(format!("listening on {}: {e}", options.listen));
    let served = match &options.tls {
        None => serve_plain(app, options.listen, ready, shutdown, io).await,
        Some((cert, key)) => serve_tls(app, options.listen, cert, key, ready, shutdown, io).await,
    };
    stop.send_replace(true);
    if let Some(task) = scheduler {
        // A report being generated finishes (its append is atomic either way).
        let _ = task.await;
    }
    drain(state).await;
    served?;
    tracing::info!("modelgate stopped");
    Ok(())
}

async fn serve_plain(
    app: Router,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    io: impl Fn(std::io::Error) -> ApiError,
) -> Result<(), ApiError> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(&io)?;
    ready(listener.local_addr().map_err(&io)?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(&io)
}

async fn serve_tls(
    app: Router,
    listen: SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    io: impl Fn(std::io::Error) -> ApiError,
) -> Result<(), ApiError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The key is a secret file: refused when its group or others may read it.
    let key = crate::secret_file::read_secret_file(key)
        .map_err(|e| ApiError::internal(format!("TLS key: {e}")))?;
    let cert = std::fs::read(cert)
        .map_err(|e| ApiError::internal(format!("TLS certificate `{}`: {e}", cert.display())))?;
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(cert, key)
        .await
        .map_err(|e| ApiError::internal(format!("TLS certificate or key: {e}")))?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(TLS_GRACE));
    });
    let server = axum_server::bind_rustls(listen, config).handle(handle.clone());
    let run = tokio::spawn(server.serve(app.into_make_service()));
    if let Some(addr) = handle.listening().await {
        ready(addr);
    }
    let outcome = run.await;
    watcher.abort();
    outcome
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(&io)
}

/// Waits (up to [`DRAIN_GRACE`]) until nothing but `state` itself holds the state, then drops it
/// on the blocking pool: the appender answers what is queued, commits and stops.
async fn drain(mut state: Arc<AppState>) {
    let waiting = crate::clock::Stopwatch::start();
    loop {
        match Arc::try_unwrap(state) {
            Ok(owned) => {
                let _ = tokio::task::spawn_blocking(move || drop(owned)).await;
                return;
            }
            Err(shared) if waiting.elapsed() < DRAIN_GRACE => {
                state = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {
                // The last holder drops it (and so drains the appender) when it finishes.
                tracing::warn!("work still running at shutdown; the appender drains when it ends");
                return;
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing requests in flight");
}
