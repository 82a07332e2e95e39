//! Shared test fixture: a real workspace (SQLite ledger, reference bundle) in a temporary
//! directory, deterministic persona keys, a fixed clock, and builders for signed requests.
//!
//! With `MODELGATE_TEST_STORAGE=postgres` the fixture's workspaces keep their ledger in a fresh
//! database of the throwaway PostgreSQL server instead (`tests/pg_support`), so the same suites
//! (decisions, evidence, inventory) run against both backends; `.ci/run` runs them both ways.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use modelgate::attest::{
    Envelope, KeyChange, PrivateKey, Role, Statement, Subject, IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_APPROVAL, PREDICATE_MODEL_METADATA,
};
use modelgate::cli::demo::full_metadata;
use modelgate::clock::{parse_rfc3339, rfc3339, Clock, FixedClock};
use modelgate::digest::sha256_prefixed;
use modelgate::engine::{change_trust, Decision, Engine, EngineError};
use modelgate::ledger::Store;
use modelgate::workspace::Workspace;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

#[path = "../pg_support/mod.rs"]
pub mod pg_support;

/// The variable that moves the fixture's ledgers to PostgreSQL.
pub const STORAGE_VAR: &str = "MODELGATE_TEST_STORAGE";

/// Whether this run keeps the fixture's ledgers in PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(STORAGE_VAR).is_ok_and(|v| v == "postgres")
}

/// A new workspace in `dir`: SQLite, or PostgreSQL (a fresh database) under
/// `MODELGATE_TEST_STORAGE=postgres`, which fails rather than falls back when no server runs.
pub fn init_workspace(dir: &std::path::Path, clock: Arc<dyn Clock>) -> Workspace {
    init_workspace_on(dir, clock, on_postgres())
}

/// A new workspace in `dir` with its ledger in SQLite or, when `postgres`, in a fresh database.
pub fn init_workspace_on(
    dir: &std::path::Path,
    clock: Arc<dyn Clock>,
    postgres: bool,
) -> Workspace {
    if !postgres {
        return Workspace::init(dir, None, clock).unwrap();
    }
    let server = pg_support::server()
        .unwrap_or_else(|| panic!("{STORAGE_VAR}=postgres but no PostgreSQL server could start"));
    let url = server.fresh_database();
    Workspace::init_with(
        dir,
        None,
        modelgate::workspace::StorageKind::Postgres,
        Some(url),
        clock,
    )
    .unwrap()
}

pub const NOW: &str = "2026-11-27T12:00:00Z";

pub fn now() -> OffsetDateTime {
    parse_rfc3339(NOW).unwrap()
}

/// Persona keys from fixed seeds (test keys only).
pub fn key(seed: u8) -> PrivateKey {
    PrivateKey::from_seed(&[seed; 32])
}

pub const ALICE: (&str, u8) = ("alice@example.com", 1); // model-author, developer
pub const OLIVIA: (&str, u8) = ("olivia@example.com", 2); // owner
pub const VICTOR: (&str, u8) = ("victor@example.com", 3); // validator
pub const RITA: (&str, u8) = ("rita@example.com", 4); // risk-officer
pub const BOB: (&str, u8) = ("bob@example.com", 5); // business-owner
pub const MALLORY: (&str, u8) = ("mallory@example.com", 66); // never trusted

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub ws: Workspace,
    pub engine: Engine,
    pub store: Box<dyn Store>,
    pub clock: Arc<FixedClock>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::new_on(on_postgres())
    }

    /// A fixture whose ledger is in SQLite or, when `postgres`, in a fresh PostgreSQL database.
    pub fn new_on(postgres: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock(now()));
        let ws = init_workspace_on(dir.path(), clock.clone(), postgres);
        let engine = ws.engine(clock.clone()).unwrap();
        let store = ws.store().unwrap();
        let mut f = Fixture {
            dir,
            ws,
            engine,
            store,
            clock,
        };
        f.trust(ALICE, &[Role::ModelAuthor, Role::Developer]);
        f.trust(OLIVIA, &[Role::Owner]);
        f.trust(VICTOR, &[Role::Validator]);
        f.trust(RITA, &[Role::RiskOfficer]);
        f.trust(BOB, &[Role::BusinessOwner]);
        f
    }

    pub fn trust(&mut self, who: (&str, u8), roles: &[Role]) {
        self.trust_window(who, roles, None, None);
    }

    pub fn trust_window(
        &mut self,
        who: (&str, u8),
        roles: &[Role],
        nb: Option<&str>,
        na: Option<&str>,
    ) {
        let change = KeyChange::add(
            &key(who.1).public_key(),
            who.0.to_string(),
            roles.iter().copied(),
            nb.map(|t| parse_rfc3339(t).unwrap()),
            na.map(|t| parse_rfc3339(t).unwrap()),
        );
        change_trust(&mut self.store, self.clock.as_ref() as &dyn Clock, &change).unwrap();
    }

    pub fn revoke(&mut self, who: (&str, u8)) {
        let change = KeyChange::Revoke {
            key_id: key(who.1).public_key().key_id(),
            reason: "laptop lost".into(),
        };
        change_trust(&mut self.store, self.clock.as_ref() as &dyn Clock, &change).unwrap();
    }

    pub fn decide(&mut self, request: &Value) -> Result<Decision, EngineError> {
        self.engine
            .decide(&mut self.store, &serde_json::to_vec(request).unwrap())
    }

    pub fn decide_bytes(&mut self, bytes: &[u8]) -> Result<Decision, EngineError> {
        self.engine.decide(&mut self.store, bytes)
    }

    pub fn size(&self) -> u64 {
        self.store.size().unwrap()
    }

    pub fn assert_ledger_intact(&self) {
        let r = modelgate::ledger::verify_store(&self.store).unwrap();
        assert!(r.failure.is_none(), "ledger not intact: {:?}", r.failure);
    }
}

pub fn artifact(name: &str, version: &str) -> String {
    sha256_prefixed(format!("{name}-{version}").as_bytes())
}

/// A complete metadata predicate for `tier`.
pub fn metadata(name: &str, version: &str, tier: i64) -> Value {
    let due = (now() + Duration::days(180)).date();
    let due = format!(
        "{:04}-{:02}-{:02}",
        due.year(),
        u8::from(due.month()),
        due.day()
    );
    full_metadata(name, version, tier, &artifact(name, version), &due)
}

pub fn subject(name: &str, digest: &str) -> Subject {
    Subject {
        name: format!("models/{name}/model.safetensors"),
        digest: [(
            "sha256".to_string(),
            digest.trim_start_matches("sha256:").to_string(),
        )]
        .into_iter()
        .collect(),
    }
}

pub fn sign(statement: &Statement, signer: u8) -> Envelope {
    Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.to_payload(), &key(signer))
}

pub fn sign_metadata(predicate: Value, artifact_digest: &str, signer: u8) -> Envelope {
    let name = predicate
        .pointer("/model/name")
        .and_then(Value::as_str)
        .unwrap_or("m")
        .to_string();
    sign(
        &Statement::new(
            vec![subject(&name, artifact_digest)],
            PREDICATE_MODEL_METADATA,
            predicate,
        ),
        signer,
    )
}

/// An approval of `metadata` by `who` in `role` for `env`, issued `ago_days` before NOW and
/// valid for `valid_days`.
pub fn approval(
    metadata: &Envelope,
    who: (&str, u8),
    role: Role,
    env: &str,
    ago_days: i64,
    valid_days: i64,
) -> Envelope {
    let issued = now() - Duration::days(ago_days);
    approval_issued_at(metadata, who, role, env, issued, valid_days)
}

pub fn request(name: &str, version: &str, env: &str, envelopes: &[Envelope]) -> Value {
    json!({
        "model": name,
        "version": version,
        "environment": env,
        "artifact_digest": artifact(name, version),
        "attestations": envelopes.iter().map(Envelope::to_json_value).collect::<Vec<_>>(),
        "requested_by": "ci-bot@example.com",
    })
}

/// The approvals each tier needs in production, by persona.
pub fn approvers_for(tier: i64) -> Vec<((&'static str, u8), Role)> {
    match tier {
        2 => vec![(OLIVIA, Role::Owner)],
        1 => vec![(OLIVIA, Role::Owner), (VICTOR, Role::Validator)],
        _ => vec![
            (OLIVIA, Role::Owner),
            (VICTOR, Role::Validator),
            (RITA, Role::RiskOfficer),
        ],
    }
}

/// A complete request for `tier` to production (allowed by the reference bundle).
pub fn complete(name: &str, version: &str, tier: i64) -> (Envelope, Vec<Envelope>) {
    complete_edited(name, version, tier, |_| {})
}

/// Like [`complete`], with the metadata changed by `edit` before alice signs it; the tier's
/// production approvers then approve the edited metadata.
pub fn complete_edited(
    name: &str,
    version: &str,
    tier: i64,
    edit: impl FnOnce(&mut Value),
) -> (Envelope, Vec<Envelope>) {
    let mut meta = metadata(name, version, tier);
    edit(&mut meta);
    let md = sign_metadata(meta, &artifact(name, version), ALICE.1);
    let ttl = match tier {
        2 => 365,
        1 => 180,
        _ => 90,
    };
    let approvals = approvers_for(tier)
        .into_iter()
        .map(|(who, role)| approval(&md, who, role, "production", 1, ttl))
        .collect();
    (md, approvals)
}

pub fn with(md: &Envelope, approvals: &[Envelope]) -> Vec<Envelope> {
    let mut v = vec![md.clone()];
    v.extend_from_slice(approvals);
    v
}

pub fn reason_ids(d: &Decision) -> Vec<String> {
    d.body.reasons.iter().map(|r| r.policy_id.clone()).collect()
}

pub fn findings(d: &Decision) -> String {
    d.body
        .findings
        .iter()
        .map(|f| f.problem.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The (pointer, message) pairs of an `Invalid` error; panics on any other outcome.
pub fn invalid(err: EngineError) -> Vec<(String, String)> {
    match err {
        EngineError::Invalid(problems) => problems
            .into_iter()
            .map(|p| (p.pointer, p.message))
            .collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Runs the `modelgate` binary on workspace `home` with `args`, ignoring `MODELGATE_HOME`.
pub fn mg(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("MODELGATE_HOME")
        .output()
        .unwrap()
}

/// Asserts that some finding of `d` contains `fragment`, printing all findings otherwise.
pub fn assert_finding(d: &Decision, fragment: &str) {
    let all = findings(d);
    assert!(
        all.contains(fragment),
        "want {fragment:?} in findings:\n{all}"
    );
}

/// Asserts that `d` is a deny and names policy `id` among its reasons.
pub fn assert_denied_by(d: &Decision, id: &str) {
    assert!(!d.is_allow(), "allowed; expected a deny by {id}");
    let ids = reason_ids(d);
    assert!(ids.iter().any(|r| r == id), "want {id} in {ids:?}");
}

/// A waiver of `policies` for `name` (all versions) in `env`, signed by `who`, issued `ago_days`
/// before NOW and running `valid_days`; `edit` adjusts the predicate before signing.
pub fn waiver(
    name: &str,
    env: &str,
    policies: &[&str],
    who: (&str, u8),
    ago_days: i64,
    valid_days: i64,
    edit: impl FnOnce(&mut Value),
) -> Envelope {
    let issued = now() - Duration::days(ago_days);
    let mut predicate = json!({
        "policies": policies,
        "model": name,
        "environment": env,
        "reason": "model card in legal review; approved by the model risk committee",
        "ticket": "RISK-1234",
        "issued_at": rfc3339(issued),
        "expires": rfc3339(issued + Duration::days(valid_days)),
    });
    edit(&mut predicate);
    sign(
        &Statement::new(
            vec![subject(name, &artifact(name, "1.0.0"))],
            modelgate::attest::PREDICATE_WAIVER,
            predicate,
        ),
        who.1,
    )
}

/// Like [`approval`], issued at `issued` (for requests judged by the binary, which reads the
/// wall clock).
pub fn approval_issued_at(
    metadata: &Envelope,
    who: (&str, u8),
    role: Role,
    env: &str,
    issued: OffsetDateTime,
    valid_days: i64,
) -> Envelope {
    let statement = Statement::from_payload(&metadata.payload).unwrap();
    let predicate = json!({
        "role": role.to_string(),
        "approver": who.0,
        "environments": [env],
        "metadata_digest": sha256_prefixed(&metadata.payload),
        "issued_at": rfc3339(issued),
        "expires": rfc3339(issued + Duration::days(valid_days)),
    });
    sign(
        &Statement::new(statement.subject, PREDICATE_APPROVAL, predicate),
        who.1,
    )
}

/// The vendored report schemas (`tests/fixtures/report-schemas/`, see its README).
pub fn report_schema(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report-schemas")
        .join(name)
}

/// The problems of `log` against the official SARIF 2.1.0 JSON schema (empty when valid).
pub fn sarif_schema_errors(log: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(report_schema("sarif-schema-2.1.0.json")).unwrap())
            .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The version of the XML Schema validator `.ci/run` installs.
pub const XMLSCHEMA_VERSION: &str = "4.3.2";

/// The problems of the JUnit XML `xml` against the Jenkins / Maven Surefire schema
/// `junit-10.xsd`, checked by Python's `xmlschema` (empty when valid). Panics, naming the install
/// command, when Python or `xmlschema` is missing: a missing validator must never pass.
pub fn junit_schema_errors(xml: &str) -> Vec<String> {
    const SCRIPT: &str = r#"
import sys
try:
    import xmlschema
except ImportError:
    sys.exit(97)
schema = xmlschema.XMLSchema(sys.argv[1])
errors = [str(e).splitlines()[0] for e in schema.iter_errors(sys.argv[2])]
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;
    let install = format!(
        "JUnit XML is validated by Python's `xmlschema` package; install it with \
         `python3 -m pip install xmlschema=={XMLSCHEMA_VERSION}` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(report_schema("junit-10.xsd"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}). {install}"));
    match out.status.code() {
        Some(0) => Vec::new(),
        Some(1) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        Some(97) => panic!("python3 has no `xmlschema` module. {install}"),
        other => panic!(
            "the JUnit validator failed ({other:?}): {}\n{install}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Asserts that `xml` is valid JUnit XML (see [`junit_schema_errors`]).
pub fn assert_valid_junit(xml: &str) {
    let errors = junit_schema_errors(xml);
    assert!(errors.is_empty(), "invalid JUnit XML: {errors:#?}\n{xml}");
}

/// Asserts that `log` is valid SARIF 2.1.0 (see [`sarif_schema_errors`]).
pub fn assert_valid_sarif(log: &Value) {
    let errors = sarif_schema_errors(log);
    assert!(errors.is_empty(), "invalid SARIF: {errors:#?}\n{log:#}");
}

/// The exit code of a finished command.
pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap()
}

/// A command's stdout as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The benchmarks' mixed workload: for each of tiers 0, 1 and 2 a complete request to production
/// (allowed) and the same without its approvals (denied), as request bytes.
pub fn mixed_requests() -> Vec<Vec<u8>> {
    let mut requests = Vec::new();
    for tier in [0, 1, 2] {
        let name = format!("bench-t{tier}");
        let (md, approvals) = complete(&name, "1.0.0", tier);
        let allow = request(&name, "1.0.0", "production", &with(&md, &approvals));
        requests.push(serde_json::to_vec(&allow).unwrap());
        requests.push(serde_json::to_vec(&request(&name, "1.0.0", "production", &[md])).unwrap());
    }
    requests
}

/// The inventory ratio `n / d` as the report states it, computed here by hand (4 decimals,
/// `None` for an empty denominator).
pub fn ratio(n: u64, d: u64) -> modelgate::inventory::report::Ratio {
    modelgate::inventory::report::Ratio {
        numerator: n,
        denominator: d,
        ratio: (d > 0).then(|| ((n as f64 / d as f64) * 10_000.0).round() / 10_000.0),
    }
}
