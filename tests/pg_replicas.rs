//! Three `modelgate serve` replicas on one PostgreSQL ledger, under concurrent load, one of them
//! killed (SIGKILL) mid-load and restarted.
//!
//! One workspace (the demo's, on a fresh database, with a pipeline and an auditor token) is
//! copied to three directories, as replicas are deployed: same engine key, policies and
//! `tokens.toml`, each its own process and port. Nine client threads (three per replica) send
//! the demo's signed requests (allows and denies) over plain HTTP/1.1; once the doomed replica
//! has answered a few dozen, it is killed while its clients keep sending. A request that got a
//! 200 with a decision is *acknowledged*; requests to the killed replica may fail in any way.
//!
//! Afterwards:
//! - every acknowledged decision is in the ledger exactly once, at the index its answer named,
//!   with the leaf hash, outcome, request, time and input digest it answered, and its receipt
//!   is signed by the engine key over that index and leaf hash; no two answers name one index;
//! - the ledger is gap-free (`0..size`, each record at its index, each `prev` the leaf hash of
//!   the record before) and `modelgate audit verify` passes on a surviving copy;
//! - the survivors kept answering after the kill (the dead replica held no lock for ever), and
//!   answered nothing but 200s;
//! - the killed replica restarts on its port, is ready (`/readyz` 200) and decides again;
//! - every checkpoint the replicas signed while racing each other verifies under the vkey and
//!   commits to the tree the database holds; the checkpoint each replica serves is the same
//!   note, and inclusion proofs for a sample of acknowledged records, fetched from each replica,
//!   are byte-identical and verify against the record bytes.
//!
//! Without PostgreSQL installed the test says so and passes (see `tests/pg_support`), unless
//! `MODELGATE_REQUIRE_TEST_DEPS` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pg_support;
#[path = "http_support/wire.rs"]
mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelgate::attest::{pae, Envelope, NoteVerifier, PublicKey};
use modelgate::engine::receipt::{ReceiptBody, RECEIPT_PAYLOAD_TYPE};
use modelgate::ledger::{
    open_checkpoint, parse_consistency_proof, parse_record, verify_consistency, verify_inclusion,
    verify_tlog_proof, Checkpoint, PgStore, RecordKind, Store as _, StoredRecord, GENESIS_PREV,
};
use serde_json::Value;
use wire::WireAnswer;

const BIN: &str = env!("CARGO_BIN_EXE_modelgate");
const URL_VAR: &str = "MODELGATE_POSTGRES_URL";

const REPLICAS: usize = 3;
const CLIENTS_PER_REPLICA: usize = 3;
/// About a hundred requests per replica.
const REQUESTS_PER_CLIENT: usize = 34;
/// The replica that is killed and restarted.
const VICTIM: usize = 1;
/// The victim is killed once it has acknowledged this many decisions.
const KILL_AFTER_ACKS: usize = 30;
/// Small, so that the replicas sign checkpoints concurrently during the load.
const CHECKPOINT_EVERY_RECORDS: u64 = 16;
/// The request deadline of the replicas: generous, so that a busy two-core machine does not turn
/// slow answers from the survivors into 503s (the test asks that they answer every request).
const DEADLINE_MS: u64 = 20_000;
/// How long a client waits for one answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a replica may take to listen and to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Acknowledged records whose proofs are compared across replicas.
const PROOF_SAMPLES: usize = 12;

/// `modelgate ARGS` with the database URL in the environment.
fn mg_command(url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("MODELGATE_HOME")
        .env_remove("MODELGATE_LOG")
        .env(URL_VAR, url);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `modelgate --home HOME ARGS`, which must succeed; its standard output.
fn mg(url: &str, home: &Path, args: &[&str]) -> String {
    let out = mg_command(url)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "modelgate {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// One `modelgate serve` process; its output lines are kept; killed when dropped.
struct Replica {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    /// Starts `serve` on `listen` (port 0: any free port) and waits until it says where it
    /// listens.
    fn start(url: &str, home: &Path, listen: &str) -> Replica {
        let mut child = mg_command(url)
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen", listen])
            .stdin(Stdio::null())
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
                        if let Some(address) = v["address"].as_str() {
                            let _ = tx.send(address.to_owned());
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        drop(tx);
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(address) => address.parse().unwrap(),
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                panic!(
                    "`serve --listen {listen}` in {} did not say where it listens ({e}; {status}):\n{}",
                    home.display(),
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Replica { child, addr, log }
    }

    /// Waits until `/readyz` answers 200.
    fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match http(self.addr, "GET", "/readyz", None, None) {
                Ok(answer) if answer.status == 200 => return,
                Ok(answer) => format!(
                    "{} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "{} is not ready after {START_TIMEOUT:?}: {last}\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on a new connection (`Connection: close`), read to EOF.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> std::io::Result<WireAnswer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    stream.write_all(&wire::request(method, path, token, body))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    wire::parse(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no complete HTTP answer ({} bytes)", raw.len()),
        )
    })
}

/// `GET path` as the auditor, which must answer 200; the body as text.
fn audit_get(addr: SocketAddr, token: &str, path: &str) -> String {
    let answer = http(addr, "GET", path, Some(token), None)
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"));
    assert_eq!(
        answer.status,
        200,
        "GET {path} from {addr}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    String::from_utf8(answer.body).unwrap()
}

/// A decision some replica answered with a 200.
#[derive(Debug, Clone)]
struct Ack {
    replica: usize,
    /// Whether the replica answered it after its restart.
    restarted: bool,
    at: Instant,
    index: u64,
    leaf_hash: String,
    answer: Value,
}

/// What one request came to.
#[derive(Debug)]
enum Outcome {
    Ack(Box<Ack>),
    /// An answer other than a 200 decision.
    Refused {
        replica: usize,
        status: u16,
        body: String,
    },
    /// No complete answer: refused connection, reset, EOF, time-out.
    Lost {
        replica: usize,
        error: String,
    },
}

/// Sends one promotion request to `replica`.
fn decide(replica: usize, addr: SocketAddr, token: &str, body: &[u8], restarted: bool) -> Outcome {
    match http(addr, "POST", "/v1/decisions", Some(token), Some(body)) {
        Err(e) => Outcome::Lost {
            replica,
            error: e.to_string(),
        },
        Ok(answer) if answer.status == 200 => {
            let v = answer.json();
            let index = v["ledger"]["index"]
                .as_u64()
                .unwrap_or_else(|| panic!("a 200 decision names its record: {v}"));
            let leaf_hash = v["ledger"]["leaf_hash"].as_str().unwrap().to_owned();
            assert!(
                v["decision"] == "allow" || v["decision"] == "deny",
                "a 200 is an allow or a deny: {v}"
            );
            Outcome::Ack(Box::new(Ack {
                replica,
                restarted,
                at: Instant::now(),
                index,
                leaf_hash,
                answer: v,
            }))
        }
        Ok(answer) => Outcome::Refused {
            replica,
            status: answer.status,
            body: String::from_utf8_lossy(&answer.body).into_owned(),
        },
    }
}

/// Checks `ack` against the stored record at its index and its receipt against the engine key.
fn check_ack(ack: &Ack, stored: &StoredRecord, engine: &PublicKey) {
    let what = format!(
        "decision answered by replica {} at index {}",
        ack.replica, ack.index
    );
    assert_eq!(stored.index, ack.index, "{what}");
    assert_eq!(hex::encode(stored.leaf_hash), ack.leaf_hash, "{what}: leaf");
    let record = parse_record(&stored.bytes).unwrap();
    assert_eq!(record.kind, RecordKind::Decision, "{what}: kind");
    assert_eq!(record.index, ack.index, "{what}: index in the bytes");
    for key in ["decision", "time", "input_digest", "bundle_digest"] {
        assert_eq!(record.body[key], ack.answer[key], "{what}: `{key}`");
    }
    for key in ["model", "version", "environment"] {
        assert_eq!(
            record.body["request"][key], ack.answer["request"][key],
            "{what}: request `{key}`"
        );
    }
    let receipt = Envelope::from_value(&ack.answer["receipt"]).unwrap();
    assert_eq!(receipt.payload_type, RECEIPT_PAYLOAD_TYPE, "{what}");
    assert_eq!(receipt.signatures.len(), 1, "{what}");
    engine
        .verify_strict(
            &pae(&receipt.payload_type, &receipt.payload),
            &receipt.signatures[0].sig,
        )
        .unwrap_or_else(|e| panic!("{what}: the receipt is not signed by the engine key: {e}"));
    let body: ReceiptBody = serde_json::from_slice(&receipt.payload).unwrap();
    assert_eq!(body.ledger.index, ack.index, "{what}: receipt index");
    assert_eq!(body.ledger.leaf_hash, ack.leaf_hash, "{what}: receipt leaf");
    assert_eq!(
        body.decision.as_str(),
        ack.answer["decision"].as_str().unwrap(),
        "{what}: receipt outcome"
    );
}

/// The demo workspace on `url`, with small checkpoint intervals, a generous deadline and one
/// pipeline and one auditor token; returns (pipeline, auditor).
fn prepare_workspace(url: &str, base: &Path) -> (String, String) {
    let out = mg_command(url)
        .args([
            "demo",
            "--dir",
            base.to_str().unwrap(),
            "--storage",
            "postgres",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "demo: {}", text(&out));
    let config_path = base.join("modelgate.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("storage = \"postgres\""), "{config}");
    let mut config = config.replace(
        "checkpoint_every_records = 100",
        &format!("checkpoint_every_records = {CHECKPOINT_EVERY_RECORDS}"),
    );
    assert!(
        config.contains(&format!(
            "checkpoint_every_records = {CHECKPOINT_EVERY_RECORDS}"
        )),
        "{config}"
    );
    config.push_str(&format!("\n[server]\ndeadline_ms = {DEADLINE_MS}\n"));
    std::fs::write(&config_path, config).unwrap();
    let token = |role: &str| {
        let out = mg(
            url,
            base,
            &["token", "create", "--role", role, "--name", role],
        );
        out.lines().last().unwrap().trim().to_owned()
    };
    (token("pipeline"), token("auditor"))
}

/// `cp -a from to`: modes (the engine key's and `tokens.toml`'s 0600) included.
fn copy_workspace(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "cp -a: {}", text(&out));
}

/// The signed checkpoint note opened with `verifier`; its root must be the tree the database
/// holds at its size.
fn open_verified(note: &str, verifier: &NoteVerifier, store: &PgStore, what: &str) -> Checkpoint {
    let cp = open_checkpoint(note, std::slice::from_ref(verifier), Some(verifier.name()))
        .unwrap_or_else(|e| panic!("{what}: {e}\n{note}"));
    assert_eq!(
        cp.root,
        store.tree_root(cp.size).unwrap(),
        "{what}: the root of size {} is not the stored tree's",
        cp.size
    );
    cp
}

#[test]
fn three_replicas_on_one_database_survive_a_kill_without_losing_an_acknowledged_decision() {
    let Some(pg) = pg_support::server() else {
        return;
    };
    let started = Instant::now();
    let url = pg.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let (pipeline, auditor) = prepare_workspace(&url, &base);
    let requests: Vec<(String, Vec<u8>)> = {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(base.join("requests"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect()
    };
    assert!(requests.len() >= 2, "the demo ships signed requests");
    let homes: Vec<PathBuf> = (0..REPLICAS)
        .map(|r| {
            let home = tmp.path().join(format!("replica-{r}"));
            copy_workspace(&base, &home);
            home
        })
        .collect();

    let store = PgStore::open_read_only(&url).unwrap();
    let size_before = store.size().unwrap();

    let mut replicas: Vec<Replica> = homes
        .iter()
        .map(|home| Replica::start(&url, home, "127.0.0.1:0"))
        .collect();
    for replica in &replicas {
        replica.wait_ready();
    }
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let load_started = Instant::now();

    // The load, with the victim killed once it has acknowledged KILL_AFTER_ACKS decisions.
    let victim_acks = AtomicUsize::new(0);
    let clients_done = AtomicUsize::new(0);
    let (outcomes, killed_at) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..REPLICAS * CLIENTS_PER_REPLICA)
            .map(|client| {
                let replica = client % REPLICAS;
                let (addr, pipeline, requests) = (addrs[replica], &pipeline, &requests);
                let (victim_acks, clients_done) = (&victim_acks, &clients_done);
                scope.spawn(move || {
                    let mut outcomes = Vec::with_capacity(REQUESTS_PER_CLIENT);
                    for i in 0..REQUESTS_PER_CLIENT {
                        let body = &requests[(client + i) % requests.len()].1;
                        let outcome = decide(replica, addr, pipeline, body, false);
                        if replica == VICTIM && matches!(outcome, Outcome::Ack(_)) {
                            victim_acks.fetch_add(1, Ordering::SeqCst);
                        }
                        outcomes.push(outcome);
                    }
                    clients_done.fetch_add(1, Ordering::SeqCst);
                    outcomes
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while victim_acks.load(Ordering::SeqCst) < KILL_AFTER_ACKS
            && clients_done.load(Ordering::SeqCst) < clients.len()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            victim_acks.load(Ordering::SeqCst) >= KILL_AFTER_ACKS,
            "replica {VICTIM} acknowledged only {} decisions before the load ended",
            victim_acks.load(Ordering::SeqCst)
        );
        replicas[VICTIM].kill();
        let killed_at = Instant::now();
        let outcomes: Vec<Outcome> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        (outcomes, killed_at)
    });
    let load_time = load_started.elapsed();
    let victim_log_before_kill = replicas[VICTIM].log();

    // The victim restarts on its port, on its own copy, is ready and decides again.
    let victim_port = replicas[VICTIM].addr.port();
    replicas[VICTIM] = Replica::start(&url, &homes[VICTIM], &format!("127.0.0.1:{victim_port}"));
    replicas[VICTIM].wait_ready();
    assert_eq!(replicas[VICTIM].addr.port(), victim_port);
    let mut acks: Vec<Ack> = Vec::new();
    let mut lost = [0usize; REPLICAS];
    let mut refused: Vec<(usize, u16, String)> = Vec::new();
    let mut lost_errors: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Ack(ack) => acks.push(*ack),
            Outcome::Lost { replica, error } => {
                lost[replica] += 1;
                *lost_errors.entry(error).or_default() += 1;
            }
            Outcome::Refused {
                replica,
                status,
                body,
            } => refused.push((replica, status, body)),
        }
    }
    for (_, body) in &requests {
        match decide(VICTIM, replicas[VICTIM].addr, &pipeline, body, true) {
            Outcome::Ack(ack) => acks.push(*ack),
            other => panic!(
                "the restarted replica {VICTIM} does not decide: {other:?}\n{}",
                replicas[VICTIM].log()
            ),
        }
    }

    // The survivors answered every request, also after the kill.
    for r in (0..REPLICAS).filter(|&r| r != VICTIM) {
        assert_eq!(
            lost[r], 0,
            "surviving replica {r} lost requests: {lost_errors:?}"
        );
        let after_kill = acks
            .iter()
            .filter(|a| a.replica == r && a.at > killed_at)
            .count();
        assert!(
            after_kill > 0,
            "surviving replica {r} acknowledged nothing after replica {VICTIM} was killed"
        );
    }
    assert!(
        refused.iter().all(|(r, _, _)| *r == VICTIM),
        "the survivors answered something other than a 200 decision: {:?}",
        refused
            .iter()
            .filter(|(r, _, _)| *r != VICTIM)
            .take(5)
            .collect::<Vec<_>>()
    );

    // A checkpoint of the whole ledger, signed by the CLI on a surviving copy.
    let survivor = &homes[(VICTIM + 1) % REPLICAS];
    let vkey = mg(&url, survivor, &["audit", "vkey"]).trim().to_owned();
    let verifier = NoteVerifier::from_vkey(&vkey).unwrap();
    let engine =
        PublicKey::from_spki_pem(&std::fs::read_to_string(survivor.join("engine.pub")).unwrap())
            .unwrap();
    let latest_note = mg(&url, survivor, &["audit", "checkpoint"]);
    let latest = open_verified(&latest_note, &verifier, &store, "the CLI's checkpoint");

    // The ledger: gap-free, chained, and holding every acknowledged decision exactly once where
    // its answer said.
    let size = store.size().unwrap();
    assert_eq!(latest.size, size, "the CLI's checkpoint covers the ledger");
    let records = store.records(0, size).unwrap();
    assert_eq!(records.len() as u64, size, "records 0..{size}");
    let mut prev = hex::encode(GENESIS_PREV);
    let mut by_leaf: HashMap<String, u64> = HashMap::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (i, stored) in records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            stored.index, i,
            "the ledger has a gap or a duplicate at {i}"
        );
        let record = parse_record(&stored.bytes).unwrap();
        assert_eq!(record.index, i, "record {i} names another index");
        assert_eq!(
            record.prev,
            prev,
            "record {i} does not chain to record {}",
            i.wrapping_sub(1)
        );
        prev = hex::encode(stored.leaf_hash);
        assert!(
            by_leaf.insert(prev.clone(), i).is_none(),
            "leaf hash {prev} is stored twice"
        );
        if i >= size_before {
            *kinds.entry(format!("{:?}", record.kind)).or_default() += 1;
        }
    }
    let mut answered_indices = HashSet::new();
    for ack in &acks {
        assert!(
            answered_indices.insert(ack.index),
            "two answers name index {}",
            ack.index
        );
        assert!(
            ack.index >= size_before && ack.index < size,
            "replica {} answered index {}, outside the records appended during the run ({size_before}..{size})",
            ack.replica,
            ack.index
        );
        assert_eq!(
            by_leaf.get(&ack.leaf_hash),
            Some(&ack.index),
            "the decision answered by replica {} as {} / {} is not in the ledger at that index (exactly once)",
            ack.replica,
            ack.index,
            ack.leaf_hash
        );
        check_ack(ack, &records[ack.index as usize], &engine);
    }
    let decisions_recorded = (size_before..size)
        .filter(|&i| records[i as usize].kind == RecordKind::Decision)
        .count();
    let unanswered = decisions_recorded - acks.len();

    // `audit verify` on a surviving copy, while the replicas run.
    let verify = mg_command(&url)
        .arg("--home")
        .arg(survivor)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "audit verify on {}: {}",
        survivor.display(),
        text(&verify)
    );

    // Every checkpoint the replicas signed, concurrently, commits to the stored tree.
    let stored_checkpoints = store.checkpoints().unwrap();
    let mut last_size = 0;
    let mut previous: Option<Checkpoint> = None;
    for (cp_size, note) in &stored_checkpoints {
        let cp = open_verified(
            note,
            &verifier,
            &store,
            &format!("stored checkpoint {cp_size}"),
        );
        assert_eq!(cp.size, *cp_size);
        assert!(
            cp.size > last_size,
            "checkpoint sizes grow: {last_size} then {}",
            cp.size
        );
        last_size = cp.size;
        if let Some(old) = previous.replace(cp.clone()) {
            let proof = store.consistency_proof(old.size, cp.size).unwrap();
            verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).unwrap_or_else(
                |e| panic!("checkpoint {} does not extend {}: {e:?}", cp.size, old.size),
            );
        }
    }
    assert_eq!(
        stored_checkpoints.last().map(|(s, _)| *s),
        Some(size),
        "the latest stored checkpoint is the CLI's"
    );

    // Each replica (the restarted one too) serves the same vkey and checkpoint, and the same
    // inclusion proofs, which verify.
    let mut sample: Vec<&Ack> = acks.iter().collect();
    sample.sort_by_key(|a| a.index);
    let step = (sample.len() / PROOF_SAMPLES).max(1);
    let mut picked: Vec<&Ack> = sample.iter().step_by(step).copied().collect();
    picked.push(sample[sample.len() - 1]);
    for r in 0..REPLICAS {
        // One from each replica, the restarted one's post-restart answers included.
        for restarted in [false, true] {
            if let Some(a) = sample
                .iter()
                .find(|a| a.replica == r && a.restarted == restarted)
            {
                picked.push(a);
            }
        }
    }
    picked.sort_by_key(|a| a.index);
    picked.dedup_by_key(|a| a.index);
    let mut served_checkpoints = Vec::new();
    for replica in &replicas {
        assert_eq!(
            audit_get(replica.addr, &auditor, "/v1/ledger/vkey").trim(),
            vkey,
            "{} serves another vkey",
            replica.addr
        );
        let note = audit_get(replica.addr, &auditor, "/v1/ledger/checkpoint");
        let cp = open_verified(
            &note,
            &verifier,
            &store,
            &format!("the checkpoint {} serves", replica.addr),
        );
        served_checkpoints.push((replica.addr, cp, note));
    }
    for (addr, cp, note) in &served_checkpoints {
        for (other_addr, other, _) in &served_checkpoints {
            if cp.size == other.size {
                assert_eq!(
                    cp.root, other.root,
                    "{addr} and {other_addr}: size {}",
                    cp.size
                );
            } else if cp.size < other.size {
                let path = format!("/v1/ledger/consistency?old={}&new={}", cp.size, other.size);
                let proof =
                    parse_consistency_proof(&audit_get(*other_addr, &auditor, &path)).unwrap();
                verify_consistency(cp.size, other.size, &cp.root, &other.root, &proof)
                    .unwrap_or_else(|e| panic!("{addr} and {other_addr} disagree: {e:?}"));
            }
        }
        assert_eq!(
            note, &latest_note,
            "{addr} serves another checkpoint than the latest stored"
        );
    }
    for ack in &picked {
        let mut proofs = Vec::new();
        for replica in &replicas {
            let record = audit_get(
                replica.addr,
                &auditor,
                &format!("/v1/ledger/records/{}", ack.index),
            );
            assert_eq!(
                record.as_bytes(),
                &records[ack.index as usize].bytes[..],
                "{} serves other bytes for record {}",
                replica.addr,
                ack.index
            );
            for query in [format!("?size={size}"), String::new()] {
                let path = format!("/v1/ledger/records/{}/proof{query}", ack.index);
                let proof = audit_get(replica.addr, &auditor, &path);
                let checked = verify_tlog_proof(
                    &proof,
                    record.as_bytes(),
                    std::slice::from_ref(&verifier),
                    verifier.name(),
                    |l, i, n, p, root| verify_inclusion(l, i, n, p, root).is_ok(),
                )
                .unwrap_or_else(|e| panic!("{path} from {}: {e:?}\n{proof}", replica.addr));
                assert_eq!(checked.index, ack.index);
                assert_eq!(checked.checkpoint.size, size);
                proofs.push((replica.addr, path, proof));
            }
        }
        for (addr, path, proof) in &proofs {
            assert_eq!(
                proof, &proofs[0].2,
                "{path}: {addr} and {} serve different proofs",
                proofs[0].0
            );
        }
    }

    // No replica panicked; the victim's log before the kill included.
    for (r, replica) in replicas.iter().enumerate() {
        let log = replica.log();
        assert!(!log.contains("panicked"), "replica {r} panicked:\n{log}");
    }
    assert!(
        !victim_log_before_kill.contains("panicked"),
        "replica {VICTIM} panicked before the kill:\n{victim_log_before_kill}"
    );
    drop(replicas);

    let per_replica: Vec<String> = (0..REPLICAS)
        .map(|r| {
            let n = acks
                .iter()
                .filter(|a| a.replica == r && !a.restarted)
                .count();
            if r == VICTIM {
                let after = acks
                    .iter()
                    .filter(|a| a.replica == r && a.restarted)
                    .count();
                format!("r{r}={n} (+{after} after restart)")
            } else {
                format!("r{r}={n}")
            }
        })
        .collect();
    let allows = acks
        .iter()
        .filter(|a| a.answer["decision"] == "allow")
        .count();
    let refused_statuses: BTreeMap<u16, usize> =
        refused.iter().fold(BTreeMap::new(), |mut m, (_, s, _)| {
            *m.entry(*s).or_default() += 1;
            m
        });
    eprintln!(
        "pg_replicas: acknowledged {} ({}; {allows} allows, {} denies); replica {VICTIM} killed \
         after {KILL_AFTER_ACKS} acks: {} requests lost, {} refused {refused_statuses:?}; \
         {unanswered} decisions recorded but unanswered; ledger size {size} ({size_before} \
         before the run; appended {kinds:?}); {} checkpoints stored; {} proofs compared on \
         {REPLICAS} replicas; load {:.1} s, total {:.1} s",
        acks.len(),
        per_replica.join(", "),
        acks.len() - allows,
        lost[VICTIM],
        refused.len(),
        stored_checkpoints.len(),
        picked.len(),
        load_time.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    if !lost_errors.is_empty() {
        eprintln!("pg_replicas: lost requests by error: {lost_errors:?}");
    }
}
