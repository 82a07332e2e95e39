//! Fixed test personas (Ed25519 keys from constant seeds, never trusted anywhere else), the
//! decision time, and builders for signed metadata, approvals and promotion requests.

use modelgate::attest::{
    Envelope, KeyChange, PrivateKey, Role, Statement, Subject, IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_APPROVAL, PREDICATE_MODEL_METADATA,
};
use modelgate::clock::{parse_rfc3339, rfc3339};
use modelgate::digest::sha256_prefixed;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// The decision time of every target (a fixed clock).
pub const NOW: &str = "2026-11-27T12:00:00Z";

/// [`NOW`] as a time.
pub fn now() -> OffsetDateTime {
    match parse_rfc3339(NOW) {
        Ok(t) => t,
        Err(e) => panic!("bad NOW: {e}"),
    }
}

/// The key of persona `seed`.
pub fn key(seed: u8) -> PrivateKey {
    PrivateKey::from_seed(&[seed; 32])
}

/// Alice: model author and developer.
pub const ALICE: (&str, u8) = ("alice@example.com", 1);
/// Olivia: owner.
pub const OLIVIA: (&str, u8) = ("olivia@example.com", 2);
/// Victor: validator.
pub const VICTOR: (&str, u8) = ("victor@example.com", 3);
/// Rita: risk officer.
pub const RITA: (&str, u8) = ("rita@example.com", 4);
/// Bob: business owner.
pub const BOB: (&str, u8) = ("bob@example.com", 5);
/// Mallory: never trusted.
pub const MALLORY: (&str, u8) = ("mallory@example.com", 66);

/// The trust changes every target starts from: the five trusted personas with their roles.
pub fn trust_changes() -> Vec<KeyChange> {
    let personas: [((&str, u8), &[Role]); 5] = [
        (ALICE, &[Role::ModelAuthor, Role::Developer]),
        (OLIVIA, &[Role::Owner]),
        (VICTOR, &[Role::Validator]),
        (RITA, &[Role::RiskOfficer]),
        (BOB, &[Role::BusinessOwner]),
    ];
    personas
        .iter()
        .map(|((who, seed), roles)| {
            KeyChange::add(
                &key(*seed).public_key(),
                *who,
                roles.iter().copied(),
                None,
                None,
            )
        })
        .collect()
}

/// The artifact digest of `name` `version`.
pub fn artifact(name: &str, version: &str) -> String {
    sha256_prefixed(format!("{name}-{version}").as_bytes())
}

fn sign(statement: &Statement, signer: u8) -> Envelope {
    Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.to_payload(), &key(signer))
}

fn subject(name: &str, digest: &str) -> Subject {
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

/// Complete model metadata for `tier`, signed by Alice.
pub fn metadata(name: &str, version: &str, tier: i64) -> Envelope {
    let due = (now() + Duration::days(180)).date();
    let due = format!(
        "{:04}-{:02}-{:02}",
        due.year(),
        u8::from(due.month()),
        due.day()
    );
    let digest = artifact(name, version);
    let predicate = modelgate::cli::demo::full_metadata(name, version, tier, &digest, &due);
    sign(
        &Statement::new(
            vec![subject(name, &digest)],
            PREDICATE_MODEL_METADATA,
            predicate,
        ),
        ALICE.1,
    )
}

/// An approval of `metadata` by `who` in `role` for `env`, issued a day before [`NOW`].
pub fn approval(metadata: &Envelope, who: (&str, u8), role: Role, env: &str) -> Envelope {
    let subjects = match Statement::from_payload(&metadata.payload) {
        Ok(s) => s.subject,
        Err(e) => panic!("metadata payload: {e}"),
    };
    let issued = now() - Duration::days(1);
    let predicate = json!({
        "role": role.to_string(),
        "approver": who.0,
        "environments": [env],
        "metadata_digest": sha256_prefixed(&metadata.payload),
        "issued_at": rfc3339(issued),
        "expires": rfc3339(issued + Duration::days(90)),
    });
    sign(
        &Statement::new(subjects, PREDICATE_APPROVAL, predicate),
        who.1,
    )
}

/// The metadata and the production approvals `tier` needs.
pub fn complete(name: &str, version: &str, tier: i64) -> Vec<Envelope> {
    let md = metadata(name, version, tier);
    let approvers = match tier {
        2 => vec![(OLIVIA, Role::Owner)],
        1 => vec![(OLIVIA, Role::Owner), (VICTOR, Role::Validator)],
        _ => vec![
            (OLIVIA, Role::Owner),
            (VICTOR, Role::Validator),
            (RITA, Role::RiskOfficer),
        ],
    };
    let mut all: Vec<Envelope> = approvers
        .into_iter()
        .map(|(who, role)| approval(&md, who, role, "production"))
        .collect();
    all.insert(0, md);
    all
}

/// A promotion request body.
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
