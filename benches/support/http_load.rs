//! The load side of the HTTP benchmarks: one keep-alive HTTP/1.1 connection, an open-loop
//! fixed-rate driver (latency counted from each request's scheduled time, so queueing cannot
//! hide), latency percentiles, and a `modelgate serve` child stopped with SIGTERM when dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one POST and returns (status, body).
    pub fn post(&mut self, path: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
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

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

#[derive(Default)]
pub struct Outcome {
    pub latencies: Vec<Duration>,
    pub ok: u64,
    pub errors: u64,
    pub late_allows: u64,
}

impl Outcome {
    pub fn add(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
        self.late_allows += other.late_allows;
    }
}

pub const DEADLINE: Duration = Duration::from_secs(2);

pub fn record(out: &mut Outcome, status: u16, body: &[u8], latency: Duration) {
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
pub fn fixed_rate(
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

/// A `modelgate serve` child, stopped with SIGTERM (a graceful shutdown) when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Starts `modelgate serve` (the binary of this build) for `home` on a free loopback port and
/// waits until it accepts connections.
pub fn start_server(home: &std::path::Path) -> (Server, SocketAddr) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_modelgate"))
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen"])
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
    (server, addr)
}

/// Closed loop: `conns` keep-alive connections sending back to back for `secs`, connection `c`
/// to `addrs[c % addrs.len()]` (several servers share the load round robin).
pub fn saturation(
    addrs: &[SocketAddr],
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
            let addr = addrs[c % addrs.len()];
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
