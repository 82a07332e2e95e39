//! The sync and the write-back against a real MLflow tracking server: the test starts
//! `mlflow server` (SQLite backend, loopback, a free port) when the `mlflow` executable is on
//! PATH, registers models over REST, one version under the `production` alias, and checks what
//! the sync records, that an unchanged registry adds only the sync record, that a moved alias is
//! recorded, and that write-back tags land on the version. Without `mlflow` it says why it did
//! not run and passes (unless `MODELGATE_REQUIRE_TEST_DEPS` is set, as in CI) (`scripts/test-deps` installs MLflow 3.17.2 into `target/test-deps/mlflow-venv`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{now, Fixture};
use modelgate::inventory::mlflow::{sync, write_back, ClientOptions, MlflowClient, SyncOptions};
use modelgate::inventory::ReportOptions;
use modelgate::ledger::{parse_record, RecordKind, Store};
use serde_json::{json, Value};

/// The `mlflow` executable: the one `scripts/test-deps` installs into
/// `target/test-deps/mlflow-venv`, else one on PATH, if any.
fn mlflow_on_path() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-deps/mlflow-venv/bin");
    std::iter::once(venv)
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .map(|dir| dir.join("mlflow"))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `mlflow server` in its own process group, stopped (the whole group) when dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(mlflow: &Path, dir: &Path) -> Server {
        use std::os::unix::process::CommandExt as _;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = dir.join("mlflow-server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(mlflow)
            .args(["server", "--backend-store-uri"])
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--workers",
                "1",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready();
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/health` for up to 120 s.
    fn wait_ready(&mut self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        for _ in 0..240 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("mlflow server exited ({status}):\n{}", self.log_text());
            }
            if agent
                .get(format!("{}/health", self.url))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "mlflow server did not answer within 120 s:\n{}",
            self.log_text()
        );
    }

    /// `POST /api/2.0/mlflow/{endpoint}` with `body`; the JSON answer.
    fn post(&self, endpoint: &str, body: Value) -> Value {
        let mut response = ureq::post(format!("{}/api/2.0/mlflow/{endpoint}", self.url))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{endpoint}: {e}\n{}", self.log_text()));
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn get(&self, endpoint: &str) -> Value {
        let mut response = ureq::get(format!("{}/api/2.0/mlflow/{endpoint}", self.url))
            .call()
            .unwrap();
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The server runs uvicorn workers: stop its whole process group, then reap it.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn observations(store: &dyn Store, from: u64) -> Vec<Value> {
    store
        .records(from, 1000)
        .unwrap()
        .iter()
        .map(|r| parse_record(&r.bytes).unwrap())
        .filter(|r| r.kind == RecordKind::Observation)
        .map(|r| r.body)
        .collect()
}

/// Against a real MLflow server: the sync reads both models and all three versions over
/// one-item pages, records the `production` version as deployed once, records the alias when it
/// moves, and the write-back tags appear on the version as MLflow returns it.
#[test]
fn sync_and_write_back_against_a_real_mlflow_server() {
    let Some(mlflow) = mlflow_on_path() else {
        assert!(
            std::env::var_os("MODELGATE_REQUIRE_TEST_DEPS").is_none(),
            "MODELGATE_REQUIRE_TEST_DEPS is set and no `mlflow` executable was found"
        );
        println!(
            "inventory_mlflow_server: not run: no `mlflow` executable on PATH (install it with `pip install mlflow==3.17.2`)"
        );
        return;
    };
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&mlflow, tmp.path());
    println!(
        "inventory_mlflow_server: mlflow server answered after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    server.post(
        "registered-models/create",
        json!({"name": "credit-risk-scorer", "tags": [{"key": "gov.business_unit", "value": "retail-lending"}]}),
    );
    for n in 1..=2 {
        server.post(
            "model-versions/create",
            json!({"name": "credit-risk-scorer", "source": format!("s3://models/credit-risk-scorer/{n}"),
                   "tags": [{"key": "gov.tier", "value": "0"}]}),
        );
    }
    server.post(
        "registered-models/alias",
        json!({"name": "credit-risk-scorer", "alias": "production", "version": "2"}),
    );
    server.post("registered-models/create", json!({"name": "churn-model"}));
    server.post(
        "model-versions/create",
        json!({"name": "churn-model", "source": "s3://models/churn-model/1"}),
    );

    let mut fx = Fixture::new();
    let client = MlflowClient::new(
        &server.url,
        ClientOptions {
            timeout: Duration::from_secs(20),
            page_size: 1,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let options = SyncOptions::new("production");
    let before = fx.store.size().unwrap();
    let first = sync(&mut fx.store, &client, &options, now()).unwrap();
    assert_eq!((first.models, first.versions, first.deployed), (2, 3, 1));
    assert_eq!(
        observations(&fx.store, before),
        [
            json!({"source": "mlflow", "model": "credit-risk-scorer", "version": "2", "environment": "production"})
        ]
    );
    let snapshot: Value =
        serde_json::from_slice(&fx.store.attestation(&first.snapshot).unwrap().unwrap()).unwrap();
    let scorer = &snapshot["models"][1];
    assert_eq!(scorer["name"], "credit-risk-scorer");
    assert_eq!(scorer["aliases"], json!({"production": "2"}));
    assert_eq!(scorer["tags"]["gov.business_unit"], "retail-lending");
    assert_eq!(scorer["versions"][1]["aliases"], json!(["production"]));
    assert_eq!(scorer["versions"][0]["tags"]["gov.tier"], "0");

    let size = fx.store.size().unwrap();
    let second = sync(&mut fx.store, &client, &options, now()).unwrap();
    assert!(second.recorded.is_empty());
    assert_eq!(second.snapshot, first.snapshot);
    assert_eq!(fx.store.size().unwrap(), size + 1);

    server.post(
        "registered-models/alias",
        json!({"name": "credit-risk-scorer", "alias": "production", "version": "1"}),
    );
    let size = fx.store.size().unwrap();
    let third = sync(&mut fx.store, &client, &options, now()).unwrap();
    assert_eq!(third.recorded.len(), 1);
    assert_eq!(
        observations(&fx.store, size),
        [
            json!({"source": "mlflow", "model": "credit-risk-scorer", "version": "1", "environment": "production"})
        ]
    );

    let report = fx
        .ws
        .inventory_report(
            &ReportOptions::new(now(), ["production".to_owned()].into()),
            &mut |_, _| {},
        )
        .unwrap();
    let shadow: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == "shadow")
        .collect();
    assert_eq!(shadow.len(), 1, "{:?}", report.findings);
    assert_eq!(shadow[0].version, "1", "the version the alias names now");

    write_back(&client, "credit-risk-scorer", "1", 12, 13).unwrap();
    let version = server.get("model-versions/get?name=credit-risk-scorer&version=1");
    let tags: Vec<(String, String)> = version["model_version"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["value"].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(k, _)| k != "gov.tier")
        .collect();
    let mut tags = tags;
    tags.sort();
    assert_eq!(
        tags,
        [
            ("gov.checkpoint_size".to_owned(), "13".to_owned()),
            ("gov.decision".to_owned(), "allow".to_owned()),
            ("gov.ledger_index".to_owned(), "12".to_owned()),
        ]
    );
    println!(
        "inventory_mlflow_server: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
