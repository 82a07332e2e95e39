//! HTTP decision throughput and latency: a load generator over loopback against a real
//! `modelgate serve` process (release build), next to the in-process decision cost measured in
//! the same run.
//!
//! Workload: valid signed promotion requests (tier 0/1/2, allow and deny, inline attestations)
//! to `POST /v1/decisions` with a pipeline token. Fixed rates are open-loop: each request has a
//! scheduled send time and its latency counts from that time, so a slow server cannot hide its
//! queueing (no coordinated omission). Saturation is closed-loop with many connections.
//!
//! Run: `cargo bench --bench http` (prints Markdown tables for docs/benchmarks.md).
//! `MODELGATE_BENCH_SECONDS` sets the seconds per measurement (default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use modelgate::engine::load_trust;
use modelgate::server::auth::{ApiRole, TokenFile};

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one POST and returns (status, body).
    fn post(&mut self, path: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).unwrap();
        self.stream.write_all(body).unwrap();
        self.read_response()
    }

    fn read_response(&mut self) -> (u16, Vec<u8>) {
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        let header_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..header_end]).to_ascii_lowercase();
        let status: u16 = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while self.buf.len() < header_end + length {
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        (status, self.buf[header_end..header_end + length].to_vec())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    ok: u64,
    errors: u64,
    late_allows: u64,
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
        self.late_allows += other.late_allows;
    }
}

const DEADLINE: Duration = Duration::from_secs(2);

fn record(out: &mut Outcome, status: u16, body: &[u8], latency: Duration) {
    out.latencies.push(latency);
    if status == 200 {
        out.ok += 1;
        if latency > DEADLINE && find(body, b"\"decision\":\"allow\"").is_some() {
            out.late_allows += 1;
        }
    } else {
        out.errors += 1;
    }
}

/// Open loop at `rate` requests/s for `secs` over `conns` connections.
fn fixed_rate(
    addr: SocketAddr,
    token: &str,
    requests: &[Vec<u8>],
    rate: u64,
    secs: u64,
    conns: usize,
) -> (Outcome, Duration) {
    let total = rate * secs;
    let next = AtomicU64::new(0);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let outcome = Mutex::new(Outcome::default());
    let start = Instant::now() + Duration::from_millis(50);
    std::thread::scope(|s| {
        for _ in 0..conns {
            s.spawn(|| {
                let mut conn = Conn::open(addr);
                let mut mine = Outcome::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let due = start + interval * i as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let (status, body) = conn.post(
                        "/v1/decisions",
                        token,
                        &requests[i as usize % requests.len()],
                    );
                    record(&mut mine, status, &body, due.elapsed());
                }
                outcome.lock().unwrap().add(mine);
            });
        }
    });
    (outcome.into_inner().unwrap(), start.elapsed())
}

/// Closed loop: `conns` connections sending back to back for `secs`.
fn saturation(
    addr: SocketAddr,
    token: &str,
    requests: &[Vec<u8>],
    secs: u64,
    conns: usize,
) -> (Outcome, Duration) {
    let outcome = Mutex::new(Outcome::default());
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    std::thread::scope(|s| {
        for c in 0..conns {
            let outcome = &outcome;
            s.spawn(move || {
                let mut conn = Conn::open(addr);
                let mut mine = Outcome::default();
                let mut i = c;
                while Instant::now() < end {
                    let t = Instant::now();
                    let (status, body) =
                        conn.post("/v1/decisions", token, &requests[i % requests.len()]);
                    record(&mut mine, status, &body, t.elapsed());
                    i += conns;
                }
                outcome.lock().unwrap().add(mine);
            });
        }
    });
    (outcome.into_inner().unwrap(), start.elapsed())
}

fn row(name: &str, mut o: Outcome, took: Duration) {
    o.latencies.sort();
    println!(
        "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
        o.ok + o.errors,
        o.ok as f64 / took.as_secs_f64(),
        percentile(&o.latencies, 0.5),
        percentile(&o.latencies, 0.9),
        percentile(&o.latencies, 0.99),
        percentile(&o.latencies, 0.999),
        o.errors,
        o.late_allows,
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn main() {
    let secs: u64 = std::env::var("MODELGATE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let f = Fixture::new();
    let requests = mixed_requests();

    // In-process cost of the same requests, same run.
    let trust = load_trust(&f.store).unwrap();
    let mut judge = Vec::new();
    for _ in 0..300 {
        for r in &requests {
            let t = Instant::now();
            std::hint::black_box(f.engine.judge(&trust, r).unwrap());
            judge.push(t.elapsed());
        }
    }
    judge.sort();

    let mut tokens = TokenFile::default();
    let token = tokens.create("bench", ApiRole::Pipeline).unwrap();
    tokens.save(&f.ws.tokens_path()).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_modelgate"))
            .args([
                "--home",
                f.dir.path().to_str().unwrap(),
                "serve",
                "--listen",
            ])
            .arg(addr.to_string())
            .env("MODELGATE_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Warm up.
    let mut warm = Conn::open(addr);
    for r in &requests {
        let (status, body) = warm.post("/v1/decisions", &token, r);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    println!(
        "In-process judgement of the same requests (no I/O): p50 {:.3} ms, p99 {:.3} ms ({} samples).\n",
        percentile(&judge, 0.5),
        percentile(&judge, 0.99),
        judge.len()
    );
    println!("| load | requests | answered/s | p50 ms | p90 ms | p99 ms | p99.9 ms | non-200 | allows after the 2 s deadline |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for rate in [500u64, 1_000, 2_000] {
        let (o, took) = fixed_rate(addr, &token, &requests, rate, secs, 64);
        row(&format!("fixed {rate} rps, 64 connections"), o, took);
    }
    for conns in [16usize, 64] {
        let (o, took) = saturation(addr, &token, &requests, secs, conns);
        row(&format!("saturation, {conns} connections"), o, took);
    }
    drop(server);
    let store = modelgate::ledger::SqliteStore::open_read_only(&f.ws.ledger_path()).unwrap();
    let report = modelgate::ledger::verify_store(&store).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    println!(
        "\nAfter the run the ledger holds {} records and verifies.",
        report.size
    );
}
