//! Verification steps over the ledger material of a pack: every record's inclusion proof
//! against `checkpoint`, and the consistency of earlier checkpoints with it.

use std::collections::BTreeMap;

use super::Run;
use crate::attest::NoteVerifier;
use crate::evidence::contents::{parse_index, Contents};
use crate::evidence::paths;
use crate::ledger::{
    open_checkpoint, parse_consistency_proof, verify_consistency, verify_inclusion,
    verify_tlog_proof, Checkpoint, TlogProof,
};

pub(super) fn check_inclusion(
    files: &BTreeMap<String, Vec<u8>>,
    c: &Contents,
    note: &str,
    verifier: &NoteVerifier,
    run: &mut Run,
) {
    let mut failures = Vec::new();
    for (index, r) in &c.records {
        let path = paths::proof(*index);
        let Some(text) = files
            .get(&path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
        else {
            failures.push(format!("{path}: missing for {}", paths::record(*index)));
            continue;
        };
        let result = TlogProof::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                if p.index != *index {
                    return Err(format!("the proof is for index {}", p.index));
                }
                if p.checkpoint != note {
                    return Err(
                        "the proof is against a different checkpoint than `checkpoint`".into(),
                    );
                }
                verify_tlog_proof(
                    &text,
                    &r.bytes,
                    std::slice::from_ref(verifier),
                    verifier.name(),
                    |leaf, i, size, proof, root| {
                        verify_inclusion(leaf, i, size, proof, root).is_ok()
                    },
                )
                .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            failures.push(format!("{path}: record {index}: {e}"));
        }
    }
    for path in files.keys().filter(|p| p.starts_with("proofs/")) {
        let index = path
            .strip_prefix("proofs/")
            .and_then(|n| n.strip_suffix(".tlog-proof"))
            .and_then(parse_index);
        if index.is_none_or(|i| !c.records.contains_key(&i)) {
            failures.push(format!("{path}: no record in the pack for this proof"));
        }
    }
    run.step("inclusion", failures, || {
        format!(
            "all {} records are included in the checkpointed tree (RFC 6962 inclusion proofs)",
            c.records.len()
        )
    });
}

pub(super) fn check_consistency(
    files: &BTreeMap<String, Vec<u8>>,
    cp: &Checkpoint,
    verifier: &NoteVerifier,
    run: &mut Run,
) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, bytes) in files
        .range("consistency/".to_owned()..)
        .take_while(|(p, _)| p.starts_with("consistency/"))
    {
        let sizes = path
            .strip_prefix("consistency/")
            .and_then(|n| n.split_once('-'))
            .and_then(|(o, n)| Some((parse_index(o)?, parse_index(n)?)));
        let Some((old, new)) = sizes else {
            failures.push(format!("{path}: consistency files are named <old>-<new>"));
            continue;
        };
        let result = (|| {
            if new != cp.size {
                return Err(format!(
                    "the proof ends at size {new}, the checkpoint has {}",
                    cp.size
                ));
            }
            let old_note = files
                .get(&paths::old_checkpoint(old))
                .ok_or(format!("{} is missing", paths::old_checkpoint(old)))?;
            let old_cp = open_checkpoint(
                &String::from_utf8_lossy(old_note),
                std::slice::from_ref(verifier),
                Some(verifier.name()),
            )
            .map_err(|e| format!("{}: {e}", paths::old_checkpoint(old)))?;
            if old_cp.size != old {
                return Err(format!(
                    "{} is for size {}",
                    paths::old_checkpoint(old),
                    old_cp.size
                ));
            }
            let proof = parse_consistency_proof(&String::from_utf8_lossy(bytes))
                .map_err(|e| e.to_string())?;
            verify_consistency(old, new, &old_cp.root, &cp.root, &proof).map_err(|e| {
                format!("the tree of size {old} is not a prefix of the checkpoint's: {e}")
            })
        })();
        match result {
            Ok(()) => checked += 1,
            Err(e) => failures.push(format!("{path}: {e}")),
        }
    }
    for path in files.keys().filter(|p| p.starts_with("checkpoints/")) {
        let old = path.strip_prefix("checkpoints/").and_then(parse_index);
        if old.is_none_or(|o| !files.contains_key(&paths::consistency(o, cp.size))) {
            failures.push(format!(
                "{path}: no consistency proof from it to the checkpoint"
            ));
        }
    }
    run.step("consistency", failures, || {
        format!("{checked} earlier checkpoint(s) verify and are consistent with the checkpoint")
    });
}
