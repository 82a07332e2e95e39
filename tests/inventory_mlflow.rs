//! The MLflow sync over real HTTP: a small MLflow stand-in on loopback (a `TcpListener` thread
//! answering by path with the responses recorded from MLflow 3.17.2, paginated over two pages)
//! read by the real `MlflowClient` and `sync`, the ledger and inventory report that follow,
//! the `inventory sync` command, the write-back, and failures that must record nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{code, now, stderr, stdout, Fixture};
use modelgate::inventory::mlflow::{
    sync, write_back, ClientOptions, MlflowClient, MlflowError, SyncOptions,
};
use modelgate::inventory::ReportOptions;
use modelgate::ledger::{parse_record, RecordKind, Store};
use serde_json::{json, Value};

const RM_SEARCH: &str = include_str!("fixtures/mlflow/rm_search.json");
const MV_SEARCH: &str = include_str!("fixtures/mlflow/mv_search.json");

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    body: String,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Answer = Box<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// An MLflow stand-in on a loopback port: answers each request with `answer`, one request per
/// connection (`Connection: close`), and keeps what it saw.
struct FakeMlflow {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeMlflow {
    fn start(answer: Answer) -> FakeMlflow {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Some(request) = read_request(&stream) {
                    let (status, body) = answer(&request);
                    log.lock().unwrap().push(request);
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        FakeMlflow { addr, seen }
    }

    /// The recorded registry, split over two pages: page 1 holds a model (and a version) the
    /// recording does not have, page 2 is the recorded answer.
    fn recorded() -> FakeMlflow {
        FakeMlflow::start(Box::new(recorded_answer))
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path: path.to_owned(),
        query,
        authorization,
        body: String::from_utf8(body).ok()?,
    })
}

fn recorded_answer(r: &Seen) -> (u16, String) {
    let first = r.param("page_token").is_none();
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/2.0/mlflow/registered-models/search") if first => (
            200,
            json!({"registered_models": [{"name": "churn-model", "creation_timestamp": 1795772800000u64,
                   "last_updated_timestamp": 1795772800000u64, "tags": [{"key": "gov.tier", "value": "2"}]}],
                   "next_page_token": "page-2"})
            .to_string(),
        ),
        ("GET", "/api/2.0/mlflow/model-versions/search") if first => (
            200,
            json!({"model_versions": [{"name": "churn-model", "version": "1", "status": "READY",
                   "source": "s3://models/churn/1", "run_link": ""}],
                   "next_page_token": "page-2"})
            .to_string(),
        ),
        ("GET", "/api/2.0/mlflow/registered-models/search") => (200, RM_SEARCH.to_owned()),
        ("GET", "/api/2.0/mlflow/model-versions/search") => (200, MV_SEARCH.to_owned()),
        ("POST", "/api/2.0/mlflow/model-versions/set-tag") => (200, "{}".to_owned()),
        _ => (
            404,
            json!({"error_code": "ENDPOINT_NOT_FOUND", "message": "no such endpoint"}).to_string(),
        ),
    }
}

fn client(url: &str, token: Option<&str>) -> MlflowClient {
    MlflowClient::new(
        url,
        ClientOptions {
            token: token.map(str::to_owned),
            timeout: Duration::from_secs(10),
            page_size: 1,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

fn records(store: &dyn Store, from: u64) -> Vec<(RecordKind, Value)> {
    store
        .records(from, 1000)
        .unwrap()
        .iter()
        .map(|r| {
            let rec = parse_record(&r.bytes).unwrap();
            (rec.kind, rec.body)
        })
        .collect()
}

/// The promise of the sync: both pages of both listings are read with the token and page size;
/// the ledger gets one `inventory_sync` record naming the stored snapshot and one observation
/// for the version the `champion` alias names; a second sync of the unchanged registry adds
/// only the sync record; the inventory report then lists that version as a shadow entry (it has
/// no decided, signed metadata), and the version without an alias stays out of the population.
#[test]
fn a_sync_over_http_records_deployments_once_and_the_report_shows_a_shadow_entry() {
    let mlflow = FakeMlflow::recorded();
    let mut fx = Fixture::new();
    let before = fx.store.size().unwrap();
    let registry = client(&mlflow.url(), Some("tok-123"));
    let options = SyncOptions::new("production");

    let first = sync(&mut fx.store, &registry, &options, now()).unwrap();
    assert_eq!((first.models, first.versions, first.deployed), (2, 2, 1));
    let seen = mlflow.seen();
    let searches: Vec<(&str, Option<&str>)> = seen
        .iter()
        .map(|s| (s.path.rsplit('/').nth(1).unwrap(), s.param("page_token")))
        .collect();
    assert_eq!(
        searches,
        [
            ("registered-models", None),
            ("registered-models", Some("page-2")),
            ("model-versions", None),
            ("model-versions", Some("page-2")),
        ]
    );
    for s in &seen {
        assert_eq!(s.authorization.as_deref(), Some("Bearer tok-123"));
        assert_eq!(s.param("max_results"), Some("1"));
    }

    let added = records(&fx.store, before);
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].0, RecordKind::InventorySync);
    assert_eq!(
        added[0].1,
        json!({"source": "mlflow", "url": mlflow.url(), "environment": "production",
               "snapshot": first.snapshot, "models": 2, "versions": 2, "deployed": 1})
    );
    assert_eq!(
        added[1],
        (
            RecordKind::Observation,
            json!({"source": "mlflow", "model": "credit-risk-scorer", "version": "1", "environment": "production"})
        )
    );
    let snapshot: Value =
        serde_json::from_slice(&fx.store.attestation(&first.snapshot).unwrap().unwrap()).unwrap();
    let names: Vec<&str> = snapshot["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["churn-model", "credit-risk-scorer"]);
    assert_eq!(
        snapshot["models"][1]["versions"][0]["aliases"],
        json!(["champion"])
    );
    assert_eq!(snapshot["models"][0]["tags"]["gov.tier"], "2");

    let second = sync(&mut fx.store, &registry, &options, now()).unwrap();
    assert!(second.recorded.is_empty());
    assert_eq!(second.snapshot, first.snapshot);
    let added = records(&fx.store, before + 2);
    assert_eq!(added.len(), 1, "only the sync record: {added:?}");
    assert_eq!(added[0].0, RecordKind::InventorySync);

    let production: BTreeSet<String> = ["production".to_owned()].into();
    let report = fx
        .ws
        .inventory_report(&ReportOptions::new(now(), production), &mut |_, _| {})
        .unwrap();
    assert_eq!(report.population, 1);
    let shadow: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == "shadow")
        .collect();
    assert_eq!(shadow.len(), 1, "{:?}", report.findings);
    assert_eq!(
        (shadow[0].model.as_str(), shadow[0].version.as_str()),
        ("credit-risk-scorer", "1")
    );
    assert!(
        shadow[0].detail.contains("reported by `mlflow`"),
        "{}",
        shadow[0].detail
    );
    assert!(!report.findings.iter().any(|f| f.model == "churn-model"));
    modelgate::ledger::verify_store(&fx.store).unwrap();
}

/// Failures name the URL and status (or the parse problem) and leave the ledger as it was:
/// a server error, an answer that is not MLflow's, a second page that breaks.
#[test]
fn failed_syncs_name_the_url_and_record_nothing() {
    type Case = (Answer, &'static str);
    let cases: Vec<Case> = vec![
        (
            Box::new(|_: &Seen| {
                (
                    500,
                    json!({"error_code": "INTERNAL_ERROR", "message": "db locked"}).to_string(),
                )
            }),
            "answered HTTP 500: INTERNAL_ERROR: db locked",
        ),
        (
            Box::new(|_: &Seen| (200, "<html>sign in</html>".to_owned())),
            "did not answer as MLflow does: not JSON",
        ),
        (
            Box::new(|r: &Seen| {
                if r.path.ends_with("model-versions/search") && r.param("page_token").is_some() {
                    (
                        200,
                        json!({"model_versions": [{"name": "churn-model"}]}).to_string(),
                    )
                } else {
                    recorded_answer(r)
                }
            }),
            "missing field `version`",
        ),
        (
            Box::new(|r: &Seen| {
                if r.path.ends_with("model-versions/search") {
                    (
                        401,
                        json!({"error_code": "UNAUTHENTICATED", "message": "bad token"})
                            .to_string(),
                    )
                } else {
                    recorded_answer(r)
                }
            }),
            "model-versions/search` answered HTTP 401: UNAUTHENTICATED: bad token",
        ),
    ];
    for (answer, expected) in cases {
        let mlflow = FakeMlflow::start(answer);
        let mut fx = Fixture::new();
        let before = fx.store.size().unwrap();
        let err = sync(
            &mut fx.store,
            &client(&mlflow.url(), None),
            &SyncOptions::new("production"),
            now(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&mlflow.url()), "{text}");
        assert!(text.contains(expected), "`{expected}` not in {text}");
        assert_eq!(
            fx.store.size().unwrap(),
            before,
            "nothing recorded on `{text}`"
        );
    }
}

/// Write-back sets `gov.decision`, `gov.ledger_index` and `gov.checkpoint_size` on the model
/// version through `model-versions/set-tag`, with the token.
#[test]
fn write_back_posts_the_three_tags() {
    let mlflow = FakeMlflow::recorded();
    write_back(
        &client(&mlflow.url(), Some("tok")),
        "credit-risk-scorer",
        "1",
        17,
        20,
    )
    .unwrap();
    let seen = mlflow.seen();
    let bodies: Vec<Value> = seen
        .iter()
        .map(|s| {
            assert_eq!(
                (s.method.as_str(), s.path.as_str()),
                ("POST", "/api/2.0/mlflow/model-versions/set-tag")
            );
            assert_eq!(s.authorization.as_deref(), Some("Bearer tok"));
            serde_json::from_str(&s.body).unwrap()
        })
        .collect();
    let tag = |k: &str, v: &str| json!({"name": "credit-risk-scorer", "version": "1", "key": k, "value": v});
    assert_eq!(
        bodies,
        [
            tag("gov.decision", "allow"),
            tag("gov.ledger_index", "17"),
            tag("gov.checkpoint_size", "20")
        ]
    );

    let refused = FakeMlflow::start(Box::new(|_: &Seen| {
        (
            403,
            json!({"error_code": "PERMISSION_DENIED", "message": "read-only token"}).to_string(),
        )
    }));
    let err = write_back(&client(&refused.url(), None), "m", "1", 1, 2).unwrap_err();
    assert!(
        matches!(err, MlflowError::Status { status: 403, .. }),
        "{err:?}"
    );
}

/// The command: `inventory sync --mlflow URL` with the token from `MODELGATE_MLFLOW_TOKEN`
/// prints the counts and the recorded deployment on stdout, nothing on stderr when stderr is
/// not a terminal, and exits 0; a URL with credentials is refused with exit 3 without echoing them.
#[test]
fn the_sync_command_reads_the_token_from_the_environment_and_prints_counts() {
    let mlflow = FakeMlflow::recorded();
    let fx = Fixture::new();
    let home = fx.dir.path();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .arg("--home")
        .arg(home)
        .args(["inventory", "sync", "--mlflow", &mlflow.url()])
        .env_remove("MODELGATE_HOME")
        .env("MODELGATE_MLFLOW_TOKEN", "from-env")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("2 models, 2 versions, 1 deployed in production"),
        "{text}"
    );
    assert!(
        text.contains("recorded: credit-risk-scorer 1 runs in production (alias `champion`)"),
        "{text}"
    );
    assert!(text.contains("1 new deployments"), "{text}");
    assert_eq!(
        stderr(&out),
        "",
        "no progress when stderr is not a terminal"
    );
    assert!(mlflow
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Bearer from-env")));

    let out = common::mg(
        home,
        &[
            "inventory",
            "sync",
            "--mlflow",
            "http://user:pw@127.0.0.1:1",
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("credentials"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("pw"),
        "the password is not echoed: {}",
        stderr(&out)
    );
}

/// `inventory write-back --record N` tags the version a recorded production allow names (after
/// signing a checkpoint that covers it) and refuses a deny, a non-production allow and a record
/// that is not a decision, tagging nothing.
#[test]
fn the_write_back_command_tags_only_a_recorded_production_allow() {
    let mut f = common::Fixture::new();
    let (md, approvals) = common::complete("scorer", "2.0.0", 2);
    let allow = f
        .decide(&common::request(
            "scorer",
            "2.0.0",
            "production",
            &common::with(&md, &approvals),
        ))
        .unwrap();
    assert!(allow.is_allow());
    let deny = f
        .decide(&common::request(
            "scorer",
            "2.0.1",
            "production",
            std::slice::from_ref(&md),
        ))
        .unwrap();
    let staging = f
        .decide(&common::request(
            "scorer",
            "2.0.0",
            "staging",
            &common::with(&md, &approvals),
        ))
        .unwrap();
    let mlflow = FakeMlflow::recorded();
    let home = f.dir.path();
    let run = |index: u64| {
        common::mg(
            home,
            &[
                "inventory",
                "write-back",
                "--mlflow",
                &mlflow.url(),
                "--record",
                &index.to_string(),
            ],
        )
    };
    for refused in [deny.ledger.index, staging.ledger.index, 0] {
        let o = run(refused);
        assert_eq!(common::code(&o), 3, "{}", common::stderr(&o));
    }
    assert!(
        mlflow.seen().is_empty(),
        "nothing is tagged for a refused record"
    );
    let o = run(allow.ledger.index);
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    let size = f.store.latest_checkpoint().unwrap().unwrap().0;
    assert!(size > allow.ledger.index);
    let values: Vec<String> = mlflow
        .seen()
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(&s.body).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        values,
        [
            "allow".to_owned(),
            allow.ledger.index.to_string(),
            size.to_string()
        ]
    );
}
