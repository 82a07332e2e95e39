//! Hostile variations of the decision path found by review: approvals that verify but must not
//! count, authors approving their own work, duplicates under another encoding, oversized input,
//! edited trust history, races with trust changes and a missing or emptied ledger. Each must
//! end in a named deny or an `Invalid` error, never an allow and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::attest::Role;
use modelgate::engine::EngineError;
use serde_json::json;

fn expect_not_counted(f: &mut Fixture, envelopes: &[modelgate::attest::Envelope], fragment: &str) {
    let d = f
        .decide(&request("m", "1.0.0", "production", envelopes))
        .unwrap();
    assert!(!d.is_allow(), "allowed with {fragment}");
    assert_eq!(reason_ids(&d), ["tier2.owner-approval"], "{}", findings(&d));
    assert_finding(&d, fragment);
}

#[test]
fn approvals_that_do_not_bind_to_this_request_never_count() {
    // Each approval below is signed and verifies, but must not count for m 1.0.0 in production.
    let mut f = Fixture::new();
    f.trust(("eve@example.com", 9), &[Role::Owner]);
    f.trust(("ci-bot@example.com", 10), &[Role::Pipeline]);
    f.trust_window(
        ("newbie@example.com", 11),
        &[Role::Owner],
        Some("2027-01-01T00:00:00Z"),
        None,
    );
    let (md, _) = complete("m", "1.0.0", 2);
    let cases: Vec<(modelgate::attest::Envelope, &str)> = vec![
        // Signed by olivia's key but naming another approver.
        (
            approval(
                &md,
                ("bob@example.com", OLIVIA.1),
                Role::Owner,
                "production",
                1,
                30,
            ),
            "is signed by",
        ),
        // Issued in the future.
        (
            approval(&md, OLIVIA, Role::Owner, "production", -2, 30),
            "issued in the future",
        ),
        // For another environment.
        (
            approval(&md, OLIVIA, Role::Owner, "staging", 1, 30),
            "not for `production`",
        ),
        // Owner role, but not the owner the metadata names.
        (
            approval(
                &md,
                ("eve@example.com", 9),
                Role::Owner,
                "production",
                1,
                30,
            ),
            "metadata names `olivia@example.com` as owner",
        ),
        // A pipeline key never approves.
        (
            approval(
                &md,
                ("ci-bot@example.com", 10),
                Role::Pipeline,
                "production",
                1,
                30,
            ),
            "not an approving role",
        ),
        // Untrusted key.
        (
            approval(
                &md,
                ("olivia@example.com", MALLORY.1),
                Role::Owner,
                "production",
                1,
                30,
            ),
            "any trusted key",
        ),
        // Key not valid yet.
        (
            approval(
                &md,
                ("newbie@example.com", 11),
                Role::Owner,
                "production",
                1,
                30,
            ),
            "not valid",
        ),
    ];
    for (approval, fragment) in cases {
        expect_not_counted(&mut f, &[md.clone(), approval], fragment);
    }
    // Revoked key: olivia's own key, revoked.
    let before = approval(&md, OLIVIA, Role::Owner, "production", 1, 30);
    f.revoke(OLIVIA);
    expect_not_counted(&mut f, &[md, before], "revoked");
    f.assert_ledger_intact();
}

#[test]
fn tier1_second_approver_must_be_independent_of_the_author() {
    // The developer approving as a second person does not make four eyes.
    let mut f = Fixture::new();
    let mut meta = metadata("m", "1.0.0", 1);
    meta["ownership"]["validator"] = json!("alice@example.com");
    let md = sign_metadata(meta, &artifact("m", "1.0.0"), ALICE.1);
    f.trust(("alice@example.com", 12), &[Role::Validator]);
    let owner = approval(&md, OLIVIA, Role::Owner, "production", 1, 90);
    let own = approval(&md, (ALICE.0, 12), Role::Validator, "production", 1, 90);
    let d = f
        .decide(&request("m", "1.0.0", "production", &[md, owner, own]))
        .unwrap();
    assert!(!d.is_allow());
    assert_denied_by(&d, "tier1.second-approver");
}

#[test]
fn tier0_metadata_author_approving_is_denied() {
    let mut f = Fixture::new();
    f.trust(("alice@example.com", 13), &[Role::Owner]);
    let mut meta = metadata("m", "1.0.0", 0);
    meta["ownership"]["owner"] = json!("alice@example.com");
    meta["ownership"]["developer"] = json!("dave@example.com");
    let md = sign_metadata(meta, &artifact("m", "1.0.0"), ALICE.1);
    let mut approvals = vec![approval(
        &md,
        (ALICE.0, 13),
        Role::Owner,
        "production",
        1,
        90,
    )];
    approvals.push(approval(&md, VICTOR, Role::Validator, "production", 1, 90));
    approvals.push(approval(&md, RITA, Role::RiskOfficer, "production", 1, 90));
    let d = f
        .decide(&request("m", "1.0.0", "production", &with(&md, &approvals)))
        .unwrap();
    assert!(!d.is_allow());
    assert_denied_by(&d, "tier0.no-developer-approval");
}

#[test]
fn the_same_statement_twice_under_another_encoding_is_a_duplicate() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let mut req = request("m", "1.0.0", "production", &with(&md, &approvals));
    let mut again = req["attestations"][1].clone();
    let unpadded = again["payload"]
        .as_str()
        .unwrap()
        .trim_end_matches('=')
        .to_string();
    again["payload"] = json!(unpadded);
    again["extra"] = json!("field");
    req["attestations"].as_array_mut().unwrap().push(again);
    let e = invalid(f.decide(&req).unwrap_err());
    assert!(
        e[0].1.contains("same statement as /attestations/1"),
        "{e:?}"
    );
}

#[test]
fn two_approvals_by_one_person_in_one_role_conflict() {
    let mut f = Fixture::new();
    let (md, _) = complete("m", "1.0.0", 2);
    let a = approval(&md, OLIVIA, Role::Owner, "production", 1, 30);
    let b = approval(&md, OLIVIA, Role::Owner, "production", 2, 60);
    let e = invalid(
        f.decide(&request("m", "1.0.0", "production", &[md, a, b]))
            .unwrap_err(),
    );
    assert!(e[0].1.contains("conflicting approvals"), "{e:?}");
}

#[test]
fn duplicate_json_keys_in_a_request_are_refused() {
    // Two readers must never see two different envelopes in one request.
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let text = serde_json::to_string(&request("m", "1.0.0", "production", &with(&md, &approvals)))
        .unwrap();
    let doubled = text.replacen("\"payload\":", "\"payload\":\"e30=\",\"payload\":", 1);
    let e = invalid(f.decide_bytes(doubled.as_bytes()).unwrap_err());
    assert!(e[0].1.to_lowercase().contains("duplicate"), "{e:?}");
}

#[test]
fn approval_dates_at_the_edge_of_the_calendar_are_refused_without_panicking() {
    let mut f = Fixture::new();
    let (md, _) = complete("m", "1.0.0", 2);
    let st = modelgate::attest::Statement::from_payload(&md.payload).unwrap();
    let pred = json!({"role": "owner", "approver": OLIVIA.0, "environments": ["production"],
        "metadata_digest": modelgate::digest::sha256_prefixed(&md.payload),
        "issued_at": "2026-11-01T00:00:00Z", "expires": "9999-12-31T23:59:59-01:00"});
    let edge = sign(
        &modelgate::attest::Statement::new(st.subject, modelgate::attest::PREDICATE_APPROVAL, pred),
        OLIVIA.1,
    );
    let d = f
        .decide(&request("m", "1.0.0", "production", &[md, edge]))
        .unwrap();
    assert!(!d.is_allow());
    assert_finding(&d, "expires");
}

#[test]
fn many_bad_signatures_are_refused_before_anything_is_verified() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let mut req = request("m", "1.0.0", "production", &with(&md, &approvals));
    let sig = req["attestations"][0]["signatures"][0].clone();
    req["attestations"][0]["signatures"] = json!(vec![sig; 100]);
    let e = invalid(f.decide(&req).unwrap_err());
    assert_eq!(e[0].0, "/attestations/0/signatures", "{e:?}");
}

#[test]
fn a_key_change_row_edited_in_place_is_refused_at_decision_time() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let req = request("m", "1.0.0", "production", &with(&md, &approvals));
    let conn = rusqlite::Connection::open(f.ws.ledger_path()).unwrap();
    // Record 5 adds bob as business-owner; make it claim the owner role too.
    let n = conn.execute(
        "UPDATE records SET bytes = CAST(REPLACE(CAST(bytes AS TEXT), '[\"business-owner\"]', '[\"business-owner\",\"owner\"]') AS BLOB) WHERE idx = 5",
        [],
    ).unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let err = f.decide(&req).unwrap_err();
    assert!(
        matches!(err, EngineError::TrustHistory { index: 5, .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_ledger_is_an_error_not_a_new_empty_ledger() {
    let f = Fixture::new();
    let path = f.ws.ledger_path();
    drop(f.store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let err = f.ws.store().err().expect("the store is refused");
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!path.exists());
}

#[test]
fn a_judgement_made_before_a_revocation_is_never_recorded_after_it() {
    // The trust store is read, the key is revoked by someone else, then the allow would be
    // recorded: the guarded append refuses, so the revoked key's approval cannot count.
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let req =
        serde_json::to_vec(&request("m", "1.0.0", "production", &with(&md, &approvals))).unwrap();
    let trusted_up_to = f.size();
    let trust = modelgate::engine::load_trust(&f.store).unwrap();
    let judgement = f.engine.judge(&trust, &req).unwrap();
    assert_eq!(judgement.body.decision, modelgate::policy::Outcome::Allow);
    f.revoke(OLIVIA);
    let before = f.size();
    let err = f
        .engine
        .record(&mut f.store, trusted_up_to, judgement)
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Ledger(modelgate::ledger::LedgerError::Raced { .. })
        ),
        "{err:?}"
    );
    assert_eq!(f.size(), before, "nothing recorded");
    // Deciding again sees the revocation.
    let d = f.decide_bytes(&req).unwrap();
    assert!(!d.is_allow());
    assert_finding(&d, "revoked");
}

#[test]
fn one_person_in_two_spellings_is_still_one_person_for_separation_of_duties() {
    let mut f = Fixture::new();
    let (md, approvals) = complete_edited("m", "1.0.0", 0, |m| {
        m["ownership"]["validator"] = json!("Alice@Example.COM");
    });
    let d = f
        .decide(&request("m", "1.0.0", "production", &with(&md, &approvals)))
        .unwrap();
    assert!(!d.is_allow());
    assert_denied_by(&d, "tier0.validator-not-developer");
}

#[test]
fn an_emptied_ledger_file_is_refused_like_a_missing_one() {
    let f = Fixture::new();
    let path = f.ws.ledger_path();
    drop(f.store);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::write(&path, b"").unwrap();
    let err = f.ws.store().err().expect("the store is refused");
    assert!(err.to_string().contains("missing or empty"), "{err}");
}

#[test]
fn oversized_key_id_hints_are_refused_as_invalid_input() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let mut req = request("m", "1.0.0", "production", &with(&md, &approvals));
    req["attestations"][0]["signatures"][0]["keyid"] = json!("k".repeat(30_000));
    let e = invalid(f.decide(&req).unwrap_err());
    assert_eq!(e[0].0, "/attestations/0/signatures/0/keyid", "{e:?}");
}

#[test]
fn a_request_with_too_many_signatures_in_total_is_refused() {
    // 8 signatures on each of 5 envelopes: each envelope is within its own limit, the request is not.
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 0);
    let mut req = request("m", "1.0.0", "production", &with(&md, &approvals));
    let mut extra = approvals[0].clone();
    extra.payload.push(b' ');
    req["attestations"]
        .as_array_mut()
        .unwrap()
        .push(extra.to_json_value());
    for a in req["attestations"].as_array_mut().unwrap() {
        let sig = a["signatures"][0].clone();
        a["signatures"] = json!(vec![sig; 8]);
    }
    let e = invalid(f.decide(&req).unwrap_err());
    assert!(e[0].1.contains("40 signatures in one request"), "{e:?}");
}
