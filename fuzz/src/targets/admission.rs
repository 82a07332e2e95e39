//! `admission`: [`parse_review`] then [`judge`] on a real server state (no listener): a
//! scratch workspace whose `ml-prod` namespace maps to production, with the personas trusted
//! and a complete tier-1 set of attestations filed for `fraud-scorer` `1.4.0`.
//!
//! Invariants: a parsed review is a v1 review with a uid, a kind, a known operation and a user;
//! the answer echoes the uid and its `allowed`; warnings stay within Kubernetes' length; only
//! `CREATE` and `UPDATE` of the object itself are judged; and a judged object that names a model
//! is admitted only with a durable `allow` decision at the ledger index the answer gives.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use modelgate::canonical::to_canonical_vec;
use modelgate::clock::{Clock, FixedClock};
use modelgate::digest::sha256_prefixed;
use modelgate::engine::change_trust;
use modelgate::ledger::{parse_record, RecordKind, SqliteStore, Store};
use modelgate::server::admission::{
    annotation_places, judge, parse_review, Review, Verdict, ANNOTATION_MODEL, REVIEW_API_VERSION,
    WARNING_MAX_CHARS,
};
use modelgate::server::state::AppState;
use modelgate::workspace::{Workspace, WorkspaceConfig, CONFIG_FILE};
use serde_json::Value;

use super::personas::{complete, now, trust_changes};

struct Fixture {
    state: AppState,
    // Dropped last: removes the workspace.
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = super::scratch_dir();
    let clock = Arc::new(FixedClock(now()));
    let home = dir.path();
    let ws = Workspace::init(home, None, clock.clone()).unwrap_or_else(|e| panic!("init: {e}"));
    let config_path = home.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).unwrap_or_else(|e| panic!("config: {e}"));
    let mut config: WorkspaceConfig =
        toml::from_str(&text).unwrap_or_else(|e| panic!("config: {e}"));
    config.server.namespaces = BTreeMap::from([
        ("ml-prod".to_owned(), "production".to_owned()),
        ("ml-staging".to_owned(), "staging".to_owned()),
    ]);
    config.server.require_model_annotation = vec!["ml-prod".to_owned()];
    let text = toml::to_string_pretty(&config).unwrap_or_else(|e| panic!("config: {e}"));
    std::fs::write(&config_path, text).unwrap_or_else(|e| panic!("config: {e}"));
    let mut store = ws.store().unwrap_or_else(|e| panic!("store: {e}"));
    for change in trust_changes() {
        change_trust(&mut store, clock.as_ref() as &dyn Clock, &change)
            .unwrap_or_else(|e| panic!("trust: {e}"));
    }
    for env in complete("fraud-scorer", "1.4.0", 1) {
        let bytes = to_canonical_vec(&env.to_json_value()).unwrap_or_else(|e| panic!("{e}"));
        store
            .file_attestation("fraud-scorer", "1.4.0", &sha256_prefixed(&bytes), &bytes)
            .unwrap_or_else(|e| panic!("filing: {e}"));
    }
    drop(store);
    drop(ws);
    let ws = Workspace::open(home).unwrap_or_else(|e| panic!("open: {e}"));
    let state = AppState::open(ws, clock).unwrap_or_else(|e| panic!("state: {e:?}"));
    Fixture { state, _dir: dir }
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

/// Whether `review`'s object names a model in one of the places annotations are read from.
fn names_model(review: &Review) -> bool {
    annotation_places(&review.group, &review.kind)
        .into_iter()
        .any(|(_, pointer)| {
            review
                .object
                .pointer(pointer)
                .and_then(Value::as_object)
                .is_some_and(|m| m.contains_key(ANNOTATION_MODEL))
        })
}

/// The target.
pub fn run(data: &[u8]) {
    let _ = check(data);
}

/// Parses and judges `data`, checking the invariants; the verdict, for a well-formed review.
pub fn check(data: &[u8]) -> Option<Verdict> {
    let review = parse_review(data).ok()?;
    assert!(!review.uid.is_empty() && !review.kind.is_empty() && !review.username.is_empty());
    assert!(matches!(
        review.operation.as_str(),
        "CREATE" | "UPDATE" | "DELETE" | "CONNECT"
    ));
    FIXTURE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let f = slot.get_or_insert_with(fixture);
        let verdict = match judge(&f.state, &review) {
            Ok(v) => v,
            Err(e) => panic!("judging failed: {e:?}"),
        };
        let answer = verdict.to_review(&review.uid);
        assert_eq!(answer["apiVersion"], REVIEW_API_VERSION);
        assert_eq!(
            answer["response"]["uid"].as_str(),
            Some(review.uid.as_str())
        );
        assert_eq!(
            answer["response"]["allowed"].as_bool(),
            Some(verdict.allowed)
        );
        for w in &verdict.warnings {
            assert!(
                w.chars().count() <= WARNING_MAX_CHARS,
                "warning too long: {w}"
            );
        }
        let judged = matches!(review.operation.as_str(), "CREATE" | "UPDATE")
            && review.sub_resource.is_none();
        if !judged {
            assert!(
                verdict.allowed && verdict.decision.is_none(),
                "an unjudged review was judged"
            );
            return Some(verdict);
        }
        if let Some(at) = &verdict.decision {
            let store = SqliteStore::open_read_only(&f.state.ws.ledger_path())
                .unwrap_or_else(|e| panic!("ledger: {e}"));
            let stored = match store.record(at.index) {
                Ok(Some(s)) => s,
                other => panic!("no record at the answer's ledger index: {other:?}"),
            };
            assert_eq!(hex::encode(stored.leaf_hash), at.leaf_hash);
            let record = parse_record(&stored.bytes).unwrap_or_else(|e| panic!("record: {e}"));
            assert_eq!(record.kind, RecordKind::Decision);
            let outcome = record.body.get("decision").and_then(Value::as_str);
            assert_eq!(
                outcome == Some("allow"),
                verdict.allowed,
                "answer and record differ"
            );
        } else if verdict.allowed {
            assert!(
                !names_model(&review),
                "a model deployment was admitted without a recorded decision"
            );
        }
        Some(verdict)
    })
}
