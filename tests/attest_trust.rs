//! Trust store: roles, the `key_change` record body, and the rules replay enforces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate::attest::{AttestError, KeyChange, PrivateKey, Role, TrustStore};
use serde_json::json;
use time::macros::datetime;
use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32])
}

fn reason(result: Result<(), AttestError>) -> String {
    match result {
        Err(AttestError::KeyChange { reason, .. }) => reason,
        other => panic!("expected a rejected key change, got {other:?}"),
    }
}

#[test]
fn roles_are_kebab_case_everywhere() {
    for role in Role::ALL {
        let name = role.to_string();
        assert_eq!(name.parse::<Role>().unwrap(), role);
        assert_eq!(serde_json::to_value(role).unwrap(), json!(name));
        assert_eq!(serde_json::from_value::<Role>(json!(name)).unwrap(), role);
    }
    assert_eq!(Role::RiskOfficer.to_string(), "risk-officer");
    assert_eq!(Role::ModelAuthor.to_string(), "model-author");
}

#[test]
fn unknown_role_error_lists_the_valid_ones() {
    let err = "riskofficer".parse::<Role>().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`riskofficer`"), "{msg}");
    for role in Role::ALL {
        assert!(msg.contains(role.as_str()), "{msg}");
    }
    let err = serde_json::from_value::<Role>(json!("RiskOfficer")).unwrap_err();
    assert!(err.to_string().contains("risk-officer"), "{err}");
}

#[test]
fn key_change_json_is_the_documented_record_body() {
    let pk = key(1).public_key();
    let add = KeyChange::add(
        &pk,
        "alice@example.com",
        [Role::Owner, Role::Developer],
        Some(T0),
        None,
    );
    let v = serde_json::to_value(&add).unwrap();
    assert_eq!(
        v,
        json!({
            "op": "add",
            "key_id": pk.key_id(),
            "principal": "alice@example.com",
            "roles": ["owner", "developer"],
            "not_before": "2026-01-01T00:00:00Z",
            "public_key_pem": pk.to_spki_pem(),
        })
    );
    assert_eq!(serde_json::from_value::<KeyChange>(v).unwrap(), add);

    let revoke = KeyChange::revoke(pk.key_id(), "laptop lost");
    let v = serde_json::to_value(&revoke).unwrap();
    assert_eq!(
        v,
        json!({"op": "revoke", "key_id": pk.key_id(), "reason": "laptop lost"})
    );
    assert_eq!(serde_json::from_value::<KeyChange>(v).unwrap(), revoke);
}

#[test]
fn key_change_rejects_unknown_fields_and_ops() {
    let extra = json!({"op": "revoke", "key_id": "k", "reason": "r", "force": true});
    assert!(serde_json::from_value::<KeyChange>(extra).is_err());
    let unknown_op = json!({"op": "rotate", "key_id": "k"});
    assert!(serde_json::from_value::<KeyChange>(unknown_op).is_err());
    let mut add = serde_json::to_value(KeyChange::add(
        &key(1).public_key(),
        "a",
        [Role::Owner],
        None,
        None,
    ))
    .unwrap();
    add["admin"] = json!(true);
    assert!(serde_json::from_value::<KeyChange>(add).is_err());
}

#[test]
fn added_key_is_stored_with_its_window_and_roles() {
    let pk = key(1).public_key();
    let mut store = TrustStore::new();
    assert!(store.is_empty());
    let not_after = datetime!(2026-12-31 23:59:59 UTC);
    store
        .apply(
            &KeyChange::add(&pk, "alice", [Role::Validator], Some(T0), Some(not_after)),
            T0,
        )
        .unwrap();
    let k = store.get(&pk.key_id()).unwrap();
    assert_eq!(k.principal, "alice");
    assert_eq!(
        k.roles.iter().copied().collect::<Vec<_>>(),
        [Role::Validator]
    );
    assert_eq!((k.not_before, k.not_after), (Some(T0), Some(not_after)));
    assert_eq!(k.public_key, pk);
    assert!(k.revoked.is_none());
    assert_eq!(store.len(), 1);
}

#[test]
fn keys_iterate_sorted_by_key_id() {
    let mut store = TrustStore::new();
    for n in 1..=5 {
        store
            .apply(
                &KeyChange::add(
                    &key(n).public_key(),
                    format!("p{n}"),
                    [Role::Owner],
                    None,
                    None,
                ),
                T0,
            )
            .unwrap();
    }
    let ids: Vec<&str> = store.keys().map(|k| k.key_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), 5);
}

#[test]
fn add_rejects_a_key_id_that_is_not_the_keys() {
    let mut change = KeyChange::add(&key(1).public_key(), "alice", [Role::Owner], None, None);
    if let KeyChange::Add { key_id, .. } = &mut change {
        *key_id = key(2).public_key().key_id();
    }
    let mut store = TrustStore::new();
    let msg = reason(store.apply(&change, T0));
    assert!(msg.contains(&key(1).public_key().key_id()), "{msg}");
    assert!(store.is_empty());
}

#[test]
fn add_rejects_empty_principal_no_roles_and_bad_windows() {
    let pk = key(1).public_key();
    let mut store = TrustStore::new();
    let cases = [
        (
            KeyChange::add(&pk, "  ", [Role::Owner], None, None),
            "`principal`",
        ),
        (KeyChange::add(&pk, "a", [], None, None), "`roles`"),
        (
            KeyChange::add(&pk, "a", [Role::Owner], Some(T0), Some(T0)),
            "`not_before`",
        ),
    ];
    for (change, field) in cases {
        let msg = reason(store.apply(&change, T0));
        assert!(msg.contains(field), "{msg}");
    }
    let mut change = KeyChange::add(&pk, "a", [Role::Owner], None, None);
    if let KeyChange::Add { not_after, .. } = &mut change {
        *not_after = Some("next tuesday".into());
    }
    let msg = reason(store.apply(&change, T0));
    assert!(
        msg.contains("`not_after`") && msg.contains("next tuesday"),
        "{msg}"
    );

    let mut change = KeyChange::add(&pk, "a", [Role::Owner], None, None);
    if let KeyChange::Add { public_key_pem, .. } = &mut change {
        *public_key_pem = "garbage".into();
    }
    assert!(reason(store.apply(&change, T0)).contains("`public_key_pem`"));
    assert!(store.is_empty());
}

#[test]
fn adding_a_key_twice_is_rejected_even_after_revocation() {
    let pk = key(1).public_key();
    let add = KeyChange::add(&pk, "alice", [Role::Owner], None, None);
    let mut store = TrustStore::new();
    store.apply(&add, T0).unwrap();
    assert!(reason(store.apply(&add, T0)).contains("already"));
    store
        .apply(&KeyChange::revoke(pk.key_id(), "compromised"), T0)
        .unwrap();
    assert!(reason(store.apply(&add, T0)).contains("already"));
    assert!(store.get(&pk.key_id()).unwrap().revoked.is_some());
}

#[test]
fn revocation_records_time_and_reason_and_is_not_repeatable() {
    let pk = key(1).public_key();
    let mut store = TrustStore::new();
    store
        .apply(&KeyChange::add(&pk, "alice", [Role::Owner], None, None), T0)
        .unwrap();
    let at = datetime!(2026-03-01 12:00:00 UTC);
    store
        .apply(&KeyChange::revoke(pk.key_id(), "laptop lost"), at)
        .unwrap();
    let r = store.get(&pk.key_id()).unwrap().revoked.clone().unwrap();
    assert_eq!((r.at, r.reason.as_str()), (at, "laptop lost"));

    let msg = reason(store.apply(&KeyChange::revoke(pk.key_id(), "again"), T0));
    assert!(
        msg.contains("already revoked at 2026-03-01T12:00:00Z"),
        "{msg}"
    );
    assert_eq!(store.get(&pk.key_id()).unwrap().revoked, Some(r));
}

#[test]
fn revoking_an_unknown_key_or_without_reason_is_rejected() {
    let mut store = TrustStore::new();
    let msg = reason(store.apply(&KeyChange::revoke("abc", "lost"), T0));
    assert!(msg.contains("not in the trust store"), "{msg}");
    let pk = key(1).public_key();
    store
        .apply(&KeyChange::add(&pk, "alice", [Role::Owner], None, None), T0)
        .unwrap();
    assert!(reason(store.apply(&KeyChange::revoke(pk.key_id(), ""), T0)).contains("`reason`"));
    assert!(store.get(&pk.key_id()).unwrap().revoked.is_none());
}
