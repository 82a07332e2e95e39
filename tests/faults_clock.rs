//! A clock that steps backwards (an NTP correction, a VM restored from a snapshot): decisions
//! made with `FixedClock`s that jump back and forth stay ordered by index, each record carries
//! the time it was decided at (honestly earlier than its predecessor's when the clock went
//! back), and verification passes with and without checkpoints, because it checks the time's
//! form, never its order (`docs/ledger.md`, "Faults").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use modelgate::clock::{rfc3339, FixedClock};
use modelgate::engine::audit;
use modelgate::ledger::{parse_record, verify_store, verify_store_against, RecordKind, Store};
use time::Duration;

/// Offsets from NOW, in seconds, at which the clock reads for successive decisions.
const STEPS: [i64; 7] = [0, -3_600, -3_599, 600, -7_200, -7_200, 1];

#[test]
fn decisions_with_a_clock_stepping_backwards_keep_index_order_honest_times_and_verify() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("credit-risk-scorer", "2.1.0", 0);
    let bytes = serde_json::to_vec(&request(
        "credit-risk-scorer",
        "2.1.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap();
    let first = f.size();
    let mut answered = Vec::new();
    for (i, offset) in STEPS.iter().enumerate() {
        let at = now() + Duration::seconds(*offset);
        let engine = f.ws.engine(Arc::new(FixedClock(at))).unwrap();
        let d = engine.decide(&mut f.store, &bytes).unwrap();
        assert!(d.is_allow(), "step {i}");
        assert_eq!(d.body.time, rfc3339(at), "the answer carries its own time");
        answered.push((d.ledger.index, rfc3339(at)));
        if i == 3 {
            // A checkpoint in the middle: the records after it go back in time again.
            audit::checkpoint(
                &mut f.store,
                &f.ws.note_signer().unwrap(),
                &f.ws.config().origin,
            )
            .unwrap();
        }
    }

    let indices: Vec<u64> = answered.iter().map(|(i, _)| *i).collect();
    let expected: Vec<u64> = (first..first + STEPS.len() as u64).collect();
    assert_eq!(indices, expected, "consecutive indices, in decision order");
    let mut went_back = 0;
    let mut previous: Option<String> = None;
    for (index, time) in &answered {
        let record = parse_record(&f.store.record(*index).unwrap().unwrap().bytes).unwrap();
        assert_eq!(record.kind, RecordKind::Decision);
        assert_eq!(
            &record.time, time,
            "record {index} keeps the time it was given"
        );
        assert_eq!(record.body["time"].as_str(), Some(time.as_str()));
        if previous.as_ref().is_some_and(|p| time < p) {
            went_back += 1;
        }
        previous = Some(time.clone());
    }
    assert_eq!(
        went_back, 2,
        "two records are earlier than their predecessor"
    );

    let plain = verify_store(&f.store).unwrap();
    assert!(plain.failure.is_none(), "{:?}", plain.failure);
    let verifier = f.ws.note_verifier().unwrap();
    let signed = verify_store_against(&f.store, &verifier, &[]).unwrap();
    assert!(signed.failure.is_none(), "{:?}", signed.failure);
    assert_eq!(signed.stored_checkpoints.len(), 1);
    assert_eq!(signed.size, f.size());
}
