//! `modelgate demo`: a complete, throwaway walk through the product.
//!
//! Creates a workspace in a directory, generates keys for the personas, trusts them, signs
//! metadata and approvals for sample models of tiers 0, 1 and 2, runs promotion checks (allows
//! and denies for different reasons), verifies the ledger and prints a summary. Everything it
//! signs and asks is left on disk (`attestations/`, `requests/`, `keys/`) so that a user can
//! re-run any check by hand.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::{json, Value};
use time::Duration;

use super::sign::approval_statement;
use super::{exit, CliError, CmdResult};
use crate::attest::{
    Envelope, KeyChange, PrivateKey, Role, Statement, Subject, IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_MODEL_METADATA,
};
use crate::clock::{rfc3339, Clock};
use crate::digest::{sha256_hex, sha256_prefixed};
use crate::engine::change_trust;
use crate::ledger::verify_store;
use crate::workspace::{write_private, Workspace};

/// `modelgate demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo workspace (default: a new temporary directory, kept and printed).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where the demo ledger lives: `sqlite` (a file in the demo workspace) or `postgres` (an
    /// empty database named by MODELGATE_POSTGRES_URL).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub storage: crate::workspace::StorageKind,
}

/// The people (and the pipeline) of the demo, with the roles their keys hold.
const PERSONAS: &[(&str, &str, &[Role])] = &[
    (
        "alice",
        "alice@example.com",
        &[Role::ModelAuthor, Role::Developer],
    ),
    ("olivia", "olivia@example.com", &[Role::Owner]),
    ("victor", "victor@example.com", &[Role::Validator]),
    ("rita", "rita@example.com", &[Role::RiskOfficer]),
    ("bob", "bob@example.com", &[Role::BusinessOwner]),
    ("ci-bot", "ci-bot@example.com", &[Role::Pipeline]),
];

struct Persona {
    principal: &'static str,
    key: PrivateKey,
}

struct Demo {
    dir: PathBuf,
    people: Vec<(&'static str, Persona)>,
    now: time::OffsetDateTime,
}

/// One scripted promotion check.
struct Scenario {
    file: &'static str,
    model: &'static str,
    version: &'static str,
    environment: &'static str,
    tier: i64,
    story: &'static str,
}

impl Demo {
    fn person(&self, name: &str) -> Result<&Persona, CliError> {
        self.people
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .ok_or_else(|| CliError::internal(format!("demo persona `{name}` missing")))
    }

    fn write(&self, rel: &str, text: &str) -> Result<PathBuf, CliError> {
        let path = self.dir.join(rel);
        fs::write(&path, text)
            .map_err(|e| CliError::internal(format!("cannot write `{}`: {e}", path.display())))?;
        Ok(path)
    }

    fn write_envelope(&self, name: &str, envelope: &Envelope) -> Result<Value, CliError> {
        let value = envelope.to_json_value();
        let text = serde_json::to_string_pretty(&value).map_err(CliError::internal)?;
        self.write(&format!("attestations/{name}.json"), &text)?;
        Ok(value)
    }

    fn sign_metadata(
        &self,
        name: &str,
        predicate: Value,
        artifact: &str,
    ) -> Result<(Envelope, Value), CliError> {
        let subject = Subject {
            name: format!("models/{name}/model.safetensors"),
            digest: [(
                "sha256".to_string(),
                artifact.trim_start_matches("sha256:").to_string(),
            )]
            .into_iter()
            .collect(),
        };
        let statement = Statement::new(vec![subject], PREDICATE_MODEL_METADATA, predicate);
        let envelope = Envelope::sign(
            IN_TOTO_PAYLOAD_TYPE,
            statement.to_payload(),
            &self.person("alice")?.key,
        );
        let value = self.write_envelope(&format!("{name}.metadata"), &envelope)?;
        Ok((envelope, value))
    }

    #[allow(clippy::too_many_arguments)]
    fn approval(
        &self,
        file: &str,
        metadata: &Envelope,
        who: &str,
        role: Role,
        environment: &str,
        issued_days_ago: i64,
        valid_days: i64,
    ) -> Result<Value, CliError> {
        let person = self.person(who)?;
        let issued = self.now - Duration::days(issued_days_ago);
        let expires = issued + Duration::days(valid_days);
        let metadata_json =
            serde_json::to_vec(&metadata.to_json_value()).map_err(CliError::internal)?;
        let statement = approval_statement(
            &metadata_json,
            role,
            person.principal,
            &[environment.to_string()],
            &rfc3339(issued),
            &rfc3339(expires),
            Some("CHG-2041"),
        )?;
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.to_payload(), &person.key);
        self.write_envelope(&format!("{file}.approval-{role}-{who}"), &envelope)
    }

    fn request(
        &self,
        s: &Scenario,
        artifact: &str,
        attestations: Vec<Value>,
    ) -> Result<PathBuf, CliError> {
        let request = json!({
            "model": s.model,
            "version": s.version,
            "environment": s.environment,
            "artifact_digest": artifact,
            "attestations": attestations,
            "requested_by": "ci-bot@example.com",
            "change_ticket": "CHG-2041",
        });
        let text = serde_json::to_string_pretty(&request).map_err(CliError::internal)?;
        self.write(&format!("requests/{}.json", s.file), &text)
    }
}

/// A tier-0-complete metadata predicate (every fact the tier rules ask for is present);
/// the demo scenarios and the tests remove or change parts of it.
pub fn full_metadata(
    name: &str,
    version: &str,
    tier: i64,
    artifact: &str,
    next_due: &str,
) -> Value {
    json!({
        "model": {
            "name": name, "version": version,
            "registry_ref": format!("mlflow://models/{name}/{version}"),
            "previous_version": "0.9.0", "change_type": "minor",
            "change_summary": "retrained on Q3 data",
            "substantial_modification": false,
            "created_at": "2026-11-01T09:00:00Z"
        },
        "artifact": {"uri": format!("s3://models/{name}/{version}/model.safetensors"), "digest": artifact, "format": "safetensors"},
        "risk": {"tier": tier, "rationale": "drives customer-facing decisions", "decision_role": "human-in-the-loop", "automated_decisions": false},
        "ownership": {"owner": "olivia@example.com", "developer": "alice@example.com", "validator": "victor@example.com", "business_owner": "bob@example.com"},
        "intended_use": {"purpose": format!("{name}: scoring for the retail portfolio"), "out_of_scope": ["use on business customers"]},
        "lineage": {
            "datasets": [
                {"name": "loans-2019-2026", "role": "training", "uri": "s3://data/loans", "snapshot": "2026-10-01",
                 "digest": format!("sha256:{}", sha256_hex(b"loans-2019-2026")), "datasheet_uri": "https://wiki.example.com/datasheets/loans", "legal_basis": "GDPR Art.6(1)(b)"},
                {"name": "loans-holdout", "role": "evaluation", "uri": "s3://data/loans-holdout", "snapshot": "2026-10-01",
                 "digest": format!("sha256:{}", sha256_hex(b"loans-holdout")), "datasheet_uri": "https://wiki.example.com/datasheets/loans", "legal_basis": "GDPR Art.6(1)(b)"}
            ],
            "code": {"repo": "https://git.example.com/ml/scoring", "commit": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39", "dirty": false},
            "environment_digest": format!("sha256:{}", sha256_hex(b"python-3.11-xgboost-2.1")),
            "reproducibility_attested": true
        },
        "evaluation": {
            "metrics": [{"name": "auc", "value": "0.912", "threshold": "0.85", "direction": "min"},
                        {"name": "ks", "value": "0.47", "threshold": "0.40", "direction": "min"}],
            "baseline": {"status": "passed", "version": "0.9.0"},
            "report_digest": format!("sha256:{}", sha256_hex(b"evaluation-report"))
        },
        "fairness": {
            "protected_attributes": ["age", "sex"],
            "metrics": [
                {"attribute": "age", "name": "demographic_parity_difference", "value": "0.021", "threshold": "0.05", "direction": "max"},
                {"attribute": "sex", "name": "demographic_parity_difference", "value": "0.013", "threshold": "0.05", "direction": "max"}
            ]
        },
        "explainability": {"method": "TreeSHAP", "reason_codes": true, "human_oversight": "credit officer reviews every decline"},
        "validation": {"status": "approved", "independent": true, "findings": [{"id": "F-1", "severity": "medium", "status": "closed"}], "next_due": next_due},
        "risk_management": {"risk_assessment_uri": "https://grc.example.com/ra/17", "impact_assessment_uri": "https://grc.example.com/fria/17", "limitations": ["not calibrated for thin-file applicants"]},
        "monitoring": {"drift": {"metric": "psi", "threshold": "0.2", "schedule": "daily"}, "performance_threshold": "0.80", "alert_route": "pagerduty:ml-risk"},
        "documentation": {
            "model_card_uri": format!("https://models.example.com/{name}/{version}/card"),
            "model_card_digest": format!("sha256:{}", sha256_hex(b"model-card")),
            "technical_docs_uri": "https://docs.example.com/scoring",
            "instructions_for_use_uri": "https://docs.example.com/scoring/ifu"
        }
    })
}

/// Removes the field at `pointer` (no-op when absent).
pub fn remove(v: &mut Value, pointer: &str) {
    if let Some((parent, key)) = pointer.rsplit_once('/') {
        if let Some(obj) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
            obj.remove(key);
        }
    }
}

/// Replaces the value at `pointer` (no-op when absent).
pub fn set(v: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = value;
    }
}

/// Runs `modelgate demo`.
pub fn demo(args: &DemoArgs, clock: Arc<dyn Clock>) -> CmdResult {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("modelgate-demo-")
            .tempdir()
            .map_err(|e| CliError::internal(format!("cannot create a temporary directory: {e}")))?
            .keep(),
    };
    if dir.join(crate::workspace::CONFIG_FILE).exists() {
        return Err(CliError::invalid(format!(
            "`{}` already holds a workspace: give the demo a new directory",
            dir.display()
        )));
    }
    let ws = Workspace::init_with(&dir, None, args.storage, None, clock.clone())?;
    for sub in ["keys", "attestations", "requests", "artifacts"] {
        fs::create_dir_all(dir.join(sub))
            .map_err(|e| CliError::internal(format!("cannot create `{sub}`: {e}")))?;
    }
    let now = clock.now();
    let mut store = ws.store()?;
    let mut people = Vec::new();
    say!("modelgate demo in {}", dir.display());
    say!("\n1. keys for the personas, trusted in their roles (each a key_change ledger record)");
    for (name, principal, roles) in PERSONAS {
        let key = PrivateKey::generate();
        let path = dir.join(format!("keys/{name}.key"));
        write_private(
            &path,
            key.to_pkcs8_pem().map_err(CliError::internal)?.as_bytes(),
        )
        .map_err(|e| CliError::internal(e.to_string()))?;
        fs::write(super::keys::pub_path(&path), key.public_key().to_spki_pem())
            .map_err(|e| CliError::internal(e.to_string()))?;
        let change = KeyChange::add(
            &key.public_key(),
            principal.to_string(),
            roles.iter().copied(),
            None,
            None,
        );
        change_trust(&mut *store, clock.as_ref(), &change)?;
        let roles: Vec<String> = roles.iter().map(ToString::to_string).collect();
        say!(
            "   {:<20} {:<28} key {}",
            principal,
            roles.join(", "),
            &key.public_key().key_id()[..16]
        );
        people.push((*name, Persona { principal, key }));
    }
    let demo = Demo {
        dir: dir.clone(),
        people,
        now,
    };
    let next_due = {
        let d = (now + Duration::days(180)).date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let artifact = |name: &str, version: &str| -> Result<String, CliError> {
        let bytes = format!("{name} {version} weights (demo artifact)\n");
        demo.write(&format!("artifacts/{name}-{version}.safetensors"), &bytes)?;
        Ok(sha256_prefixed(bytes.as_bytes()))
    };

    let scenarios = [
        Scenario {
            file: "churn-predictor-production",
            model: "churn-predictor",
            version: "1.4.0",
            environment: "production",
            tier: 2,
            story: "tier 2, complete, owner approval",
        },
        Scenario {
            file: "fraud-detector-production",
            model: "fraud-detector",
            version: "2.1.0",
            environment: "production",
            tier: 1,
            story: "tier 1 without a model card",
        },
        Scenario {
            file: "credit-risk-scorer-production",
            model: "credit-risk-scorer",
            version: "3.2.0",
            environment: "production",
            tier: 0,
            story: "tier 0, complete, owner + validator + risk officer + business owner",
        },
        Scenario {
            file: "credit-limit-advisor-production",
            model: "credit-limit-advisor",
            version: "1.0.0",
            environment: "production",
            tier: 0,
            story: "tier 0 whose validator is also its developer",
        },
        Scenario {
            file: "credit-risk-scorer-3.3.0-production",
            model: "credit-risk-scorer",
            version: "3.3.0",
            environment: "production",
            tier: 0,
            story: "tier 0 whose risk-officer approval has expired",
        },
        Scenario {
            file: "churn-predictor-staging",
            model: "churn-predictor",
            version: "1.4.0",
            environment: "staging",
            tier: 2,
            story: "tier 2 to staging",
        },
    ];

    say!("\n2. signed metadata and approvals, written to attestations/, requests to requests/");
    let mut requests = Vec::new();
    for s in &scenarios {
        let digest = artifact(s.model, s.version)?;
        let mut md = full_metadata(s.model, s.version, s.tier, &digest, &next_due);
        let tier0 = [
            ("olivia", Role::Owner),
            ("victor", Role::Validator),
            ("rita", Role::RiskOfficer),
            ("bob", Role::BusinessOwner),
        ];
        let (approvers, valid_days): (Vec<(&str, Role)>, i64) = match s.file {
            "churn-predictor-production" | "churn-predictor-staging" => {
                (vec![("olivia", Role::Owner)], 365)
            }
            "fraud-detector-production" => {
                remove(&mut md, "/documentation/model_card_uri");
                remove(&mut md, "/documentation/model_card_digest");
                (
                    vec![("olivia", Role::Owner), ("victor", Role::Validator)],
                    180,
                )
            }
            "credit-risk-scorer-production" => {
                set(&mut md, "/risk/automated_decisions", json!(true));
                set(&mut md, "/risk/decision_role", json!("automated"));
                (tier0.to_vec(), 90)
            }
            "credit-limit-advisor-production" => {
                set(&mut md, "/ownership/validator", json!("alice@example.com"));
                set(&mut md, "/validation/independent", json!(false));
                (tier0[..3].to_vec(), 90)
            }
            _ => (tier0[..3].to_vec(), 90),
        };
        let (envelope, metadata_value) =
            demo.sign_metadata(&format!("{}-{}", s.model, s.version), md, &digest)?;
        let mut attestations = vec![metadata_value];
        for (who, role) in approvers {
            let expired =
                s.file == "credit-risk-scorer-3.3.0-production" && role == Role::RiskOfficer;
            let (ago, days) = if expired { (100, 90) } else { (1, valid_days) };
            attestations.push(demo.approval(
                s.file,
                &envelope,
                who,
                role,
                s.environment,
                ago,
                days,
            )?);
        }
        requests.push(demo.request(s, &digest, attestations)?);
    }
    say!(
        "   {} envelopes, {} requests",
        fs::read_dir(dir.join("attestations"))
            .map(|d| d.count())
            .unwrap_or(0),
        requests.len()
    );

    say!("\n3. promotion checks (each decision is durable in the ledger before it is shown)");
    let engine = ws.engine(clock.clone())?;
    let mut summary = String::new();
    let (mut allows, mut denies) = (0, 0);
    for (s, path) in scenarios.iter().zip(&requests) {
        let bytes = fs::read(path).map_err(|e| CliError::internal(e.to_string()))?;
        let d = engine.decide(&mut *store, &bytes)?;
        let verdict = if d.is_allow() {
            allows += 1;
            "ALLOW"
        } else {
            denies += 1;
            "DENY "
        };
        let _ = writeln!(
            summary,
            "   {verdict} {:<22} {:<6} -> {:<10} tier {}  [{}]  ledger #{}",
            s.model, s.version, s.environment, s.tier, s.story, d.ledger.index
        );
        if !d.is_allow() {
            for r in &d.body.reasons {
                let _ = writeln!(summary, "          ✗ {}: {}", r.policy_id, r.reason);
            }
            for f in &d.body.findings {
                let _ = writeln!(
                    summary,
                    "          · attestation {}: {}",
                    f.attestation, f.problem
                );
            }
        }
    }
    say_raw!("{summary}");

    say!("\n4. ledger verification");
    let report = verify_store(&*store)?;
    let intact = report.failure.is_none();
    match &report.failure {
        None => say!(
            "   intact: {} records, head {}",
            report.size,
            report.head.map(hex::encode).unwrap_or_default()
        ),
        Some(f) => say!("   TAMPERED at record {}: {}", f.index, f.problem),
    }
    say!("\n5. evidence pack for credit-risk-scorer, built and verified offline");
    let pack_path = dir.join("credit-risk-scorer-evidence.tar.gz");
    let packed = super::evidence::build_and_verify(&ws, "credit-risk-scorer", &pack_path)?;
    say!("{packed}");

    say!("\n6. inventory report (a shadow deployment reported by a nightly job, what expires in 90 days)");
    say!("{}", super::inventory::demo_report(&ws, clock.as_ref())?);

    say!("\n{allows} allowed, {denies} denied. Re-run any check by hand, e.g.:");
    if let Some(first) = requests.get(1) {
        say!(
            "   cargo run --release -- --home {} check --request {}",
            dir.display(),
            first.display()
        );
    }
    say!(
        "   cargo run --release -- --home {} audit tail -n 20",
        dir.display()
    );
    say!(
        "   cargo run --release -- --home {} inventory report --format html --out report.html",
        dir.display()
    );
    say!(
        "   cargo run --release -- evidence verify {} --vkey \"$(cargo run --release -- --home {} audit vkey)\"",
        pack_path.display(),
        dir.display()
    );
    Ok(if intact { exit::OK } else { exit::TAMPERED })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_and_set_edit_nested_fields() {
        let mut v = json!({"a": {"b": 1, "c": 2}});
        remove(&mut v, "/a/b");
        set(&mut v, "/a/c", json!(3));
        assert_eq!(v, json!({"a": {"c": 3}}));
    }

    #[test]
    fn personas_cover_the_roles_the_tier_rules_need() {
        let roles: Vec<Role> = PERSONAS
            .iter()
            .flat_map(|(_, _, r)| r.iter().copied())
            .collect();
        for needed in [
            Role::ModelAuthor,
            Role::Owner,
            Role::Validator,
            Role::RiskOfficer,
            Role::BusinessOwner,
            Role::Pipeline,
        ] {
            assert!(roles.contains(&needed), "{needed} missing");
        }
    }
}
