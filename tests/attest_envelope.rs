//! DSSE envelope and in-toto statement parsing: strictness, field-named errors, round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use modelgate::attest::{
    pae, AttestError, Envelope, PrivateKey, Statement, Subject, IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_MODEL_METADATA, STATEMENT_TYPE,
};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/attest");

fn sslib_envelope_bytes() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/securesystemslib-ed25519.envelope.json")).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The field an envelope error names, or a panic if it is another error.
fn envelope_field(result: Result<Envelope, AttestError>) -> String {
    match result {
        Err(AttestError::Envelope { field, .. }) => field,
        other => panic!("expected an envelope error, got {other:?}"),
    }
}

fn statement_field(result: Result<Statement, AttestError>) -> String {
    match result {
        Err(AttestError::Statement { field, .. }) => field,
        other => panic!("expected a statement error, got {other:?}"),
    }
}

fn minimal_envelope() -> Value {
    json!({
        "payload": b64(b"{}"),
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "signatures": [{"keyid": "k1", "sig": b64(&[1; 64])}, {"keyid": "k2", "sig": b64(&[2; 64])}],
    })
}

#[test]
fn securesystemslib_envelope_parses_and_writes_back_the_same_json() {
    let bytes = sslib_envelope_bytes();
    let env = Envelope::from_json(&bytes).unwrap();
    assert_eq!(env.payload_type, IN_TOTO_PAYLOAD_TYPE);
    assert_eq!(env.signatures.len(), 1);
    assert_eq!(
        env.signatures[0].keyid,
        "b62577336a4cffe56f0354447bd6a287988cc3daf6a57258ae8ba310dad76a34"
    );
    assert_eq!(env.signatures[0].sig.len(), 64);
    let original: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(env.to_json_value(), original);
}

#[test]
fn envelope_round_trips_through_json() {
    let key = PrivateKey::from_seed(&[3; 32]);
    let mut env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"payload \x00\xff".to_vec(), &key);
    env.add_signature(&PrivateKey::from_seed(&[4; 32]));
    let text = serde_json::to_vec(&env.to_json_value()).unwrap();
    assert_eq!(Envelope::from_json(&text).unwrap(), env);
}

#[test]
fn signing_uses_our_key_id_and_signs_the_pae() {
    let key = PrivateKey::from_seed(&[3; 32]);
    let env = Envelope::sign("text/plain", b"hello".to_vec(), &key);
    assert_eq!(env.signatures[0].keyid, key.public_key().key_id());
    key.public_key()
        .verify_strict(&pae("text/plain", b"hello"), &env.signatures[0].sig)
        .unwrap();
    assert!(key
        .public_key()
        .verify_strict(b"hello", &env.signatures[0].sig)
        .is_err());
}

#[test]
fn missing_required_fields_are_named() {
    for field in ["payload", "payloadType", "signatures"] {
        let mut v = minimal_envelope();
        v.as_object_mut().unwrap().remove(field);
        assert_eq!(envelope_field(Envelope::from_value(&v)), field);
    }
    let mut v = minimal_envelope();
    v["signatures"][1].as_object_mut().unwrap().remove("sig");
    assert_eq!(
        envelope_field(Envelope::from_value(&v)),
        "signatures[1].sig"
    );
}

#[test]
fn fields_of_the_wrong_type_are_named() {
    let cases = [
        ("/payload", json!(1), "payload"),
        ("/payloadType", json!(null), "payloadType"),
        ("/signatures", json!({}), "signatures"),
        ("/signatures/0", json!("sig"), "signatures[0]"),
        ("/signatures/1/keyid", json!(7), "signatures[1].keyid"),
    ];
    for (pointer, bad, field) in cases {
        let mut v = minimal_envelope();
        *v.pointer_mut(pointer).unwrap() = bad;
        assert_eq!(envelope_field(Envelope::from_value(&v)), field, "{pointer}");
    }
    assert_eq!(envelope_field(Envelope::from_value(&json!([]))), "$");
}

#[test]
fn bad_base64_names_the_field() {
    let mut v = minimal_envelope();
    v["signatures"][1]["sig"] = json!("not base64!");
    let err = Envelope::from_value(&v).unwrap_err();
    assert_eq!(envelope_field(Err(err.clone())), "signatures[1].sig");
    assert!(err.to_string().contains("`signatures[1].sig`"), "{err}");

    let mut v = minimal_envelope();
    v["payload"] = json!("e30=\n");
    assert_eq!(envelope_field(Envelope::from_value(&v)), "payload");
}

#[test]
fn url_safe_and_unpadded_base64_decode_to_the_same_bytes() {
    let bytes = [0xfbu8, 0xef, 0xbe, 0x3f];
    let mut standard = minimal_envelope();
    standard["payload"] = json!(b64(&bytes));
    let mut url_safe = minimal_envelope();
    url_safe["payload"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    assert_ne!(standard["payload"], url_safe["payload"]);
    assert_eq!(
        Envelope::from_value(&standard).unwrap().payload,
        Envelope::from_value(&url_safe).unwrap().payload
    );
}

#[test]
fn absent_or_null_keyid_is_empty_and_unknown_fields_are_ignored() {
    let mut v = minimal_envelope();
    v["signatures"][0].as_object_mut().unwrap().remove("keyid");
    v["signatures"][1]["keyid"] = Value::Null;
    v["signatures"][1]["extension"] = json!({"kind": "future"});
    v["future"] = json!(true);
    let env = Envelope::from_value(&v).unwrap();
    assert_eq!(env.signatures[0].keyid, "");
    assert_eq!(env.signatures[1].keyid, "");
}

#[test]
fn empty_values_are_allowed_at_parse_time() {
    // DSSE: the fields must be set "even if empty"; verification decides what they are worth.
    let v = json!({"payload": "", "payloadType": "", "signatures": [{"sig": ""}]});
    let env = Envelope::from_value(&v).unwrap();
    assert!(env.payload.is_empty() && env.signatures[0].sig.is_empty());
}

#[test]
fn duplicate_json_keys_in_an_envelope_are_rejected() {
    let text = format!(
        r#"{{"payload":"{}","payload":"{}","payloadType":"x","signatures":[]}}"#,
        b64(b"a"),
        b64(b"b")
    );
    let err = Envelope::from_json(text.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("duplicate key `payload`"), "{err}");
}

fn statement_value() -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model.safetensors", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": PREDICATE_MODEL_METADATA,
        "predicate": {"identity": {"name": "churn"}},
    })
}

#[test]
fn securesystemslib_payload_is_a_statement() {
    let env = Envelope::from_json(&sslib_envelope_bytes()).unwrap();
    let st = Statement::from_payload(&env.payload).unwrap();
    assert_eq!(
        st.predicate_type,
        "https://example.com/ml-model-metadata/v1"
    );
    assert_eq!(
        st.subject[0].name,
        "models/churn-classifier/model.safetensors"
    );
    assert_eq!(
        st.subject[0].sha256(),
        Some("bd2962120d17276cf6e49836e132086a43e350b0c5c05ee23f3bb774422abca9")
    );
}

#[test]
fn statement_round_trips_through_its_payload() {
    let st = Statement::new(
        vec![
            Subject::with_sha256("a.onnx", "cd".repeat(32)),
            Subject::with_sha256("", "ef".repeat(32)),
        ],
        PREDICATE_MODEL_METADATA,
        json!({"risk": {"tier": 1}, "owner": "o@example.com"}),
    );
    let payload = st.to_payload();
    assert!(!payload.contains(&b'\n'), "compact JSON");
    assert_eq!(Statement::from_payload(&payload).unwrap(), st);
    let via_serde: Statement = serde_json::from_value(serde_json::to_value(&st).unwrap()).unwrap();
    assert_eq!(via_serde, st);
}

#[test]
fn statement_errors_name_the_field() {
    let cases: [(&str, Option<Value>, &str); 9] = [
        (
            "/_type",
            Some(json!("https://in-toto.io/Statement/v0.1")),
            "_type",
        ),
        ("/subject", Some(json!([])), "subject"),
        ("/subject", Some(json!("x")), "subject"),
        ("/subject/0/digest", Some(json!({})), "subject[0].digest"),
        (
            "/subject/0/digest/sha256",
            Some(json!("AB".repeat(32))),
            "subject[0].digest.sha256",
        ),
        (
            "/subject/0/digest/sha256",
            Some(json!(5)),
            "subject[0].digest.sha256",
        ),
        ("/subject/0/name", Some(json!(1)), "subject[0].name"),
        ("/predicateType", Some(json!("")), "predicateType"),
        ("/predicate", Some(json!([1])), "predicate"),
    ];
    for (pointer, bad, field) in cases {
        let mut v = statement_value();
        *v.pointer_mut(pointer).unwrap() = bad.unwrap();
        assert_eq!(
            statement_field(Statement::from_value(&v)),
            field,
            "{pointer}"
        );
    }
    for (key, field) in [
        ("_type", "_type"),
        ("subject", "subject"),
        ("predicateType", "predicateType"),
    ] {
        let mut v = statement_value();
        v.as_object_mut().unwrap().remove(key);
        assert_eq!(statement_field(Statement::from_value(&v)), field);
    }
    let mut v = statement_value();
    v["subject"][0].as_object_mut().unwrap().remove("digest");
    assert_eq!(
        statement_field(Statement::from_value(&v)),
        "subject[0].digest"
    );
}

#[test]
fn absent_predicate_is_an_empty_object() {
    let mut v = statement_value();
    v.as_object_mut().unwrap().remove("predicate");
    assert_eq!(Statement::from_value(&v).unwrap().predicate, json!({}));
}

#[test]
fn statement_payload_must_be_json_without_duplicate_keys() {
    assert_eq!(statement_field(Statement::from_payload(b"not json")), "$");
    let dup = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"a","predicateType":"b","subject":[{"digest":{"x":"1"}}]}"#;
    let err = Statement::from_payload(dup).unwrap_err();
    assert!(
        err.to_string().contains("duplicate key `predicateType`"),
        "{err}"
    );
}
