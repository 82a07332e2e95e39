//! HTTPS: `modelgate serve --tls-cert --tls-key` serves over rustls; a client that trusts the
//! certificate gets answers, a plain-HTTP client gets none. The certificate is made for the test
//! (rcgen); the client is curl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::Fixture;
use modelgate::server::state::AppState;
use modelgate::server::{serve_until, ServeOptions};
use modelgate::workspace::Workspace;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_over_tls_and_refuses_plain_http() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for this test: run scripts/test-deps, which installs it");
    }
    let fx = Fixture::new();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = fx.dir.path();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let state = AppState::open(Workspace::open(dir).unwrap(), fx.clock.clone()).unwrap();
    let (addr_tx, addr_rx) = oneshot::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_until(
        state,
        ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some((cert_path.clone(), key_path)),
        },
        move |addr| {
            let _ = addr_tx.send(addr);
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = tokio::time::timeout(Duration::from_secs(10), addr_rx)
        .await
        .unwrap()
        .unwrap();

    let curl = |url: String, extra: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            Command::new("curl")
                .args(["-s", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}"])
                .args(extra)
                .arg(url)
                .output()
                .unwrap()
        })
    };
    let tls = curl(
        format!("https://127.0.0.1:{}/healthz", addr.port()),
        vec!["--cacert".into(), cert_path.display().to_string()],
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&tls.stdout);
    assert!(text.ends_with("\n200"), "{text}");
    assert!(text.contains("\"status\":\"ok\""), "{text}");

    let plain = curl(format!("http://127.0.0.1:{}/healthz", addr.port()), vec![])
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain.stdout).ends_with("\n200"),
        "plain HTTP must not be answered on the TLS port"
    );

    let untrusted = curl(format!("https://127.0.0.1:{}/healthz", addr.port()), vec![])
        .await
        .unwrap();
    assert!(
        !untrusted.status.success(),
        "a client that does not trust the certificate must fail"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A TLS private key that its group may read is refused before the server listens, with a
/// message naming the file and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_readable_tls_key_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let fx = Fixture::new();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = fx.dir.path();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let state = AppState::open(Workspace::open(dir).unwrap(), fx.clock.clone()).unwrap();
    let listened = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&listened);
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        serve_until(
            state,
            ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: Some((cert_path, key_path.clone())),
            },
            move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst),
            std::future::pending::<()>(),
        ),
    )
    .await
    .expect("refused at once, not served");
    let message = format!("{:?}", outcome.unwrap_err());
    assert!(
        message.contains(&key_path.display().to_string()) && message.contains("chmod 600"),
        "{message}"
    );
    assert!(!listened.load(std::sync::atomic::Ordering::SeqCst));
}
