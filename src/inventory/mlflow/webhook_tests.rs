#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;

use super::*;
use crate::ledger::{parse_record, RecordKind, SqliteStore};

const DELIVERIES: &str = include_str!("../../../tests/fixtures/mlflow/webhook_deliveries.jsonl");

/// One recorded delivery: (id, timestamp, signature, body).
fn delivery(n: usize) -> (String, String, String, String) {
    let line: serde_json::Value = serde_json::from_str(DELIVERIES.lines().nth(n).unwrap()).unwrap();
    let h = &line["headers"];
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    (
        s(&h["X-MLflow-Delivery-Id"]),
        s(&h["X-MLflow-Timestamp"]),
        s(&h["X-MLflow-Signature"]),
        s(&line["body"]),
    )
}

fn secret() -> WebhookSecret {
    WebhookSecret::new(&b"s3cr3t"[..]).unwrap()
}

fn at(seconds: &str) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds.parse().unwrap()).unwrap()
}

fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
    SignedHeaders {
        delivery_id: Some(id),
        timestamp: Some(ts),
        signature: Some(sig),
    }
}

/// Every delivery MLflow 3.17.2 sent verifies with its secret, and [`signature`] reproduces
/// MLflow's header byte for byte (the signed string is `{id}.{timestamp}.{body}`).
#[test]
fn every_recorded_delivery_verifies_and_signatures_match_mlflow() {
    let count = DELIVERIES.lines().count();
    assert_eq!(count, 5);
    for n in 0..count {
        let (id, ts, sig, body) = delivery(n);
        assert_eq!(
            signature(&secret(), &id, &ts, body.as_bytes()).unwrap(),
            sig
        );
        let d = verify(
            &secret(),
            &headers(&id, &ts, &sig),
            body.as_bytes(),
            at(&ts),
        )
        .unwrap();
        assert_eq!(d.id, id);
    }
}

/// A changed body, id, timestamp or secret breaks the signature.
#[test]
fn tampering_with_anything_signed_is_refused() {
    let (id, ts, sig, body) = delivery(3);
    let now = at(&ts);
    let tampered = body.replace("\"version\": \"1\"", "\"version\": \"9\"");
    assert_ne!(tampered, body);
    let other_ts = (ts.parse::<i64>().unwrap() + 1).to_string();
    for (h, b, s) in [
        (headers(&id, &ts, &sig), tampered.as_str(), secret()),
        (headers("other-id", &ts, &sig), body.as_str(), secret()),
        (headers(&id, &other_ts, &sig), body.as_str(), secret()),
        (
            headers(&id, &ts, &sig),
            body.as_str(),
            WebhookSecret::new(&b"s3cr3T"[..]).unwrap(),
        ),
    ] {
        let err = verify(&s, &h, b.as_bytes(), now).unwrap_err();
        assert!(matches!(err, WebhookError::BadSignature), "{err:?}");
    }
}

/// A delivery more than five minutes old or ahead is refused even with a good signature; at
/// exactly five minutes it passes.
#[test]
fn stale_and_future_timestamps_are_refused() {
    let (id, ts, sig, body) = delivery(3);
    let t = at(&ts);
    let five = time::Duration::seconds(MAX_SKEW_SECONDS);
    let one = time::Duration::seconds(1);
    for now in [t + five, t - five] {
        verify(&secret(), &headers(&id, &ts, &sig), body.as_bytes(), now).unwrap();
    }
    for now in [t + five + one, t - five - one] {
        let err = verify(&secret(), &headers(&id, &ts, &sig), body.as_bytes(), now).unwrap_err();
        assert!(matches!(err, WebhookError::Stale { .. }), "{err:?}");
        assert!(err.to_string().contains("stale"), "{err}");
    }
}

/// Missing or unreadable headers are named.
#[test]
fn missing_and_unreadable_headers_are_named() {
    let (id, ts, sig, body) = delivery(3);
    let now = at(&ts);
    let full = headers(&id, &ts, &sig);
    for (h, expected) in [
        (
            SignedHeaders {
                delivery_id: None,
                ..full
            },
            "X-MLflow-Delivery-Id",
        ),
        (
            SignedHeaders {
                timestamp: None,
                ..full
            },
            "X-MLflow-Timestamp",
        ),
        (
            SignedHeaders {
                signature: None,
                ..full
            },
            "X-MLflow-Signature",
        ),
    ] {
        let err = verify(&secret(), &h, body.as_bytes(), now).unwrap_err();
        assert!(matches!(err, WebhookError::MissingHeader(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    for bad_ts in ["", "soon", "-1", "+1795772837", "1795772837.5"] {
        let err = verify(&secret(), &headers(&id, bad_ts, &sig), body.as_bytes(), now).unwrap_err();
        assert!(
            matches!(err, WebhookError::BadHeader { .. }),
            "{bad_ts}: {err:?}"
        );
    }
    let unversioned = sig.trim_start_matches("v1,");
    let err = verify(
        &secret(),
        &headers(&id, &ts, unversioned),
        body.as_bytes(),
        now,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no `v1,` signature"), "{err}");
    let err = verify(
        &secret(),
        &headers(&id, &ts, "v1,%%%"),
        body.as_bytes(),
        now,
    )
    .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature), "{err:?}");
}

/// Several space-separated signatures (a secret being rotated) pass when one matches.
#[test]
fn one_matching_signature_among_several_is_enough() {
    let (id, ts, sig, body) = delivery(3);
    let both = format!("v1,AAAA v2,xyz {sig}");
    verify(
        &secret(),
        &headers(&id, &ts, &both),
        body.as_bytes(),
        at(&ts),
    )
    .unwrap();
}

/// Only the creation of a production alias deploys; the recorded `champion` alias does.
#[test]
fn only_production_alias_events_deploy() {
    let aliases: Vec<String> = ["production", "prod", "champion"]
        .map(str::to_owned)
        .to_vec();
    let mut actions = Vec::new();
    for n in 0..5 {
        let (id, ts, sig, body) = delivery(n);
        let d = verify(
            &secret(),
            &headers(&id, &ts, &sig),
            body.as_bytes(),
            at(&ts),
        )
        .unwrap();
        actions.push(classify(&d, &aliases).unwrap());
    }
    let deploys: Vec<&WebhookAction> = actions
        .iter()
        .filter(|a| matches!(a, WebhookAction::Deploy(_)))
        .collect();
    assert_eq!(
        deploys,
        vec![&WebhookAction::Deploy(Deployed {
            model: "credit-risk-scorer".into(),
            version: "1".into(),
            alias: "champion".into()
        })]
    );
    let d = Delivery {
        id: "x".into(),
        entity: "model_version_alias".into(),
        action: "created".into(),
        data: serde_json::json!({"name": "m", "alias": "shadow-test", "version": "3"}),
        signed_at: 0,
    };
    assert!(
        matches!(classify(&d, &aliases).unwrap(), WebhookAction::Ignore(r) if r.contains("not a production alias"))
    );
    let broken = Delivery {
        data: serde_json::json!({"name": "m", "alias": "prod"}),
        ..d
    };
    let err = classify(&broken, &aliases).unwrap_err();
    assert!(err.to_string().contains("`data.version`"), "{err}");
}

/// A signed body that is not an event is refused as a payload error.
#[test]
fn a_signed_body_that_is_not_an_event_is_refused() {
    let body = br#"{"hello":"world"}"#;
    let sig = signature(&secret(), "id", "100", body).unwrap();
    let err = verify(&secret(), &headers("id", "100", &sig), body, at("100")).unwrap_err();
    assert!(matches!(err, WebhookError::Payload(_)), "{err:?}");
}

/// The secret file must be private; one trailing newline is not part of the secret; the
/// environment is the fallback; nothing configured is `None`.
#[test]
fn the_secret_comes_from_a_private_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "s3cr3t\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        load_secret(Some(&path), Some("ignored")).unwrap(),
        Some(secret())
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_secret(Some(&path), None).unwrap_err();
    assert!(err.to_string().contains("0644"), "{err}");
    std::fs::write(&path, "\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load_secret(Some(&path), None)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let missing = dir.path().join("nope");
    assert!(load_secret(Some(&missing), None).is_err());
    assert_eq!(load_secret(None, Some("s3cr3t")).unwrap(), Some(secret()));
    assert!(load_secret(None, Some("")).is_err());
    assert_eq!(load_secret(None, None).unwrap(), None);
    assert_eq!(format!("{:?}", secret()), "WebhookSecret(<redacted>)");
}

/// A deployment is recorded once; a redelivery of the same alias records nothing more.
#[test]
fn a_redelivered_alias_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("ledger.db")).unwrap();
    let d = Deployed {
        model: "m".into(),
        version: "2".into(),
        alias: "prod".into(),
    };
    let now = at("1795772837");
    let signed = now.unix_timestamp();
    let sealed = record(&mut store, &d, "production", now, signed)
        .unwrap()
        .unwrap();
    let rec = parse_record(&sealed.bytes).unwrap();
    assert_eq!(rec.kind, RecordKind::Observation);
    assert_eq!(
        rec.body,
        serde_json::json!({"source": "mlflow-webhook", "model": "m", "version": "2", "environment": "production"})
    );
    assert!(record(&mut store, &d, "production", now, signed)
        .unwrap()
        .is_none());
    assert!(record(&mut store, &d, "staging", now, signed)
        .unwrap()
        .is_some());
    assert_eq!(crate::ledger::Store::size(&store).unwrap(), 2);
    // A replayed (or late) delivery signed before the newest report moves nothing back.
    let older = Deployed {
        version: "1".into(),
        ..d.clone()
    };
    assert!(record(&mut store, &older, "production", now, signed - 60)
        .unwrap()
        .is_none());
    let newer = Deployed {
        version: "3".into(),
        ..d
    };
    assert!(record(&mut store, &newer, "production", now, signed)
        .unwrap()
        .is_some());
    assert_eq!(crate::ledger::Store::size(&store).unwrap(), 3);
}
