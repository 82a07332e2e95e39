//! `modelgate serve` as a child process for tests that drive it from outside (schemathesis, a
//! browser): the CLI run to set a workspace up, and a server on a free loopback port that says
//! where it listens, keeps its log lines and is killed when dropped (also when a test fails).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_modelgate");

/// Runs `modelgate --home HOME ARGS…`, which must succeed; returns its standard output.
pub fn mg(home: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "modelgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `modelgate serve` on a free loopback port, answering `/healthz`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every line it wrote, stdout and stderr.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server of workspace `home` and waits until `/healthz` answers 200.
    pub fn start(home: &Path) -> Server {
        let mut child = Command::new(BIN)
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (log, tx) = (Arc::clone(&log), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if let Some(url) = v["url"].as_str() {
                            let _ = tx.send(url.to_owned());
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let server = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Server { child, url, log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not say where it listens:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = ureq::get(&format!("{}/healthz", self.url)).call();
            if answer.is_ok_and(|a| a.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}/healthz did not answer 200 within 30 s",
                self.url
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log lines at level WARN or ERROR.
    pub fn complaints(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"level\":\"ERROR\"") || l.contains("\"level\":\"WARN\""))
            .cloned()
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
