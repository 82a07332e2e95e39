//! Freezes: an environment closed to promotions during an incident, as ledger records.
//!
//! [`freeze`] appends a `freeze` record (environment, reason, optional end), [`unfreeze`] an
//! `unfreeze` record; both refuse unknown environments. [`FreezeState::load`] folds those
//! records into the freezes in force at a given time: an environment is frozen from its latest
//! `freeze` record until a later `unfreeze` record or the freeze's `until`, whichever comes
//! first.
//!
//! The engine does not deny by itself: it hands the policies two facts,
//! `context.environment.frozen` and `context.previously_allowed` (this model version was allowed
//! in this environment by an earlier decision, looked up with
//! [`crate::ledger::Store::decisions_for_model`] and re-checked from the record bytes), and the
//! reference bundle's `common.environment-frozen` forbids promotions to a frozen environment
//! unless they are rollbacks to a previously allowed version. The freeze in force is recorded in
//! every decision made under it ([`FreezeRef`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{EngineConfig, EngineError};
use crate::clock::{parse_rfc3339, rfc3339, Clock};
use crate::ledger::{
    leaf_hash, parse_record, Record, RecordDraft, RecordKind, SealedRecord, Store,
};

/// Longest freeze reason kept.
pub const MAX_REASON_CHARS: usize = 1024;

/// The body of a `freeze` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    /// The frozen environment.
    pub environment: String,
    /// Why (the incident).
    pub reason: String,
    /// When the freeze lifts by itself, RFC 3339 UTC; absent: until an `unfreeze`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// The body of an `unfreeze` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeBody {
    /// The environment opened again.
    pub environment: String,
}

/// The freeze a decision was made under, as recorded in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeRef {
    /// Index of the `freeze` record in force.
    pub record: u64,
    /// Its reason.
    pub reason: String,
    /// Its end, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Checks a `freeze` or `unfreeze` record's body against its format.
pub fn parse_body(record: &Record) -> Result<(), String> {
    let fail = |e: serde_json::Error| e.to_string();
    match record.kind {
        RecordKind::Freeze => {
            let body: FreezeBody = serde_json::from_value(record.body.clone()).map_err(fail)?;
            if let Some(until) = &body.until {
                parse_rfc3339(until).map_err(|e| format!("`until`: {e}"))?;
            }
            Ok(())
        }
        RecordKind::Unfreeze => serde_json::from_value::<UnfreezeBody>(record.body.clone())
            .map(|_| ())
            .map_err(fail),
        other => Err(format!("a `{other}` record is not a freeze or unfreeze")),
    }
}

/// The freezes in force at one moment, by environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreezeState {
    active: BTreeMap<String, FreezeRef>,
}

impl FreezeState {
    /// Folds the `freeze` and `unfreeze` records of `store` into the freezes in force at `now`.
    pub fn load(store: &dyn Store, now: OffsetDateTime) -> Result<FreezeState, EngineError> {
        Ok(FreezeState::fold(store)?.in_force(now))
    }

    /// The freezes of this state that have not ended by `now`.
    pub fn in_force(&self, now: OffsetDateTime) -> FreezeState {
        let mut active = self.active.clone();
        // A freeze whose end has passed is over; an unreadable end keeps it in force.
        active.retain(|_, f: &mut FreezeRef| {
            f.until
                .as_deref()
                .is_none_or(|until| parse_rfc3339(until).map_or(true, |t| t > now))
        });
        FreezeState { active }
    }

    /// Folds the `freeze` and `unfreeze` records of `store`, without regard to their ends.
    pub fn fold(store: &dyn Store) -> Result<FreezeState, EngineError> {
        let mut events: Vec<(u64, Record)> = Vec::new();
        for kind in [RecordKind::Freeze, RecordKind::Unfreeze] {
            for stored in store.records_of_kind(kind)? {
                if leaf_hash(&stored.bytes) != stored.leaf_hash {
                    return Err(EngineError::Internal(format!(
                        "freeze record {} does not hash to its stored leaf hash: run `modelgate audit verify`",
                        stored.index
                    )));
                }
                events.push((stored.index, parse_record(&stored.bytes)?));
            }
        }
        events.sort_by_key(|(index, _)| *index);
        let mut active = BTreeMap::new();
        for (index, record) in events {
            let malformed = |e: String| {
                EngineError::Internal(format!("freeze record {index} is malformed: {e}"))
            };
            match record.kind {
                RecordKind::Freeze => {
                    let body: FreezeBody = serde_json::from_value(record.body)
                        .map_err(|e| malformed(e.to_string()))?;
                    active.insert(
                        body.environment,
                        FreezeRef {
                            record: index,
                            reason: body.reason,
                            until: body.until,
                        },
                    );
                }
                _ => {
                    let body: UnfreezeBody = serde_json::from_value(record.body)
                        .map_err(|e| malformed(e.to_string()))?;
                    active.remove(&body.environment);
                }
            }
        }
        Ok(FreezeState { active })
    }

    /// The freeze in force on `environment`, if any.
    pub fn of(&self, environment: &str) -> Option<&FreezeRef> {
        self.active.get(environment)
    }

    /// Every freeze in force, by environment.
    pub fn all(&self) -> &BTreeMap<String, FreezeRef> {
        &self.active
    }
}

/// Whether an earlier decision (not a dry run) allowed `model` `version` into `environment`.
pub fn previously_allowed(
    store: &dyn Store,
    model: &str,
    version: &str,
    environment: &str,
) -> Result<bool, EngineError> {
    for stored in store.decisions_for_model(model)? {
        if leaf_hash(&stored.bytes) != stored.leaf_hash {
            continue;
        }
        let Ok(record) = parse_record(&stored.bytes) else {
            continue;
        };
        let body = &record.body;
        let text = |p: &str| body.pointer(p).and_then(|v| v.as_str());
        // A dry run never deployed anything: it is no rollback target.
        let dry_run = body.pointer("/request/dry_run").and_then(|v| v.as_bool()) == Some(true);
        if record.kind == RecordKind::Decision
            && !dry_run
            && text("/decision") == Some("allow")
            && text("/request/model") == Some(model)
            && text("/request/version") == Some(version)
            && text("/request/environment") == Some(environment)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn known_environment(config: &EngineConfig, environment: &str) -> Result<(), EngineError> {
    if config.environments.contains_key(environment) {
        return Ok(());
    }
    Err(EngineError::invalid(
        "/environment",
        format!(
            "unknown environment `{environment}` (configured: {})",
            config
                .environments
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Freezes `environment` until `until` (or until unfrozen) and records why.
pub fn freeze(
    store: &mut dyn Store,
    clock: &dyn Clock,
    config: &EngineConfig,
    environment: &str,
    reason: &str,
    until: Option<OffsetDateTime>,
) -> Result<SealedRecord, EngineError> {
    known_environment(config, environment)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(EngineError::invalid("/reason", "a freeze needs a reason"));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(EngineError::invalid(
            "/reason",
            format!("the reason is over {MAX_REASON_CHARS} characters"),
        ));
    }
    let now = clock.now();
    if let Some(until) = until {
        if until <= now {
            return Err(EngineError::invalid(
                "/until",
                format!("`{}` is not in the future", rfc3339(until)),
            ));
        }
    }
    let body = FreezeBody {
        environment: environment.to_owned(),
        reason: reason.to_owned(),
        until: until.map(rfc3339),
    };
    append(store, RecordKind::Freeze, now, &body)
}

/// Lifts the freeze on `environment`; refuses when it is not frozen.
pub fn unfreeze(
    store: &mut dyn Store,
    clock: &dyn Clock,
    config: &EngineConfig,
    environment: &str,
) -> Result<SealedRecord, EngineError> {
    known_environment(config, environment)?;
    let now = clock.now();
    if FreezeState::load(store, now)?.of(environment).is_none() {
        return Err(EngineError::invalid(
            "/environment",
            format!("environment `{environment}` is not frozen"),
        ));
    }
    let body = UnfreezeBody {
        environment: environment.to_owned(),
    };
    append(store, RecordKind::Unfreeze, now, &body)
}

fn append(
    store: &mut dyn Store,
    kind: RecordKind,
    time: OffsetDateTime,
    body: &impl Serialize,
) -> Result<SealedRecord, EngineError> {
    let body = serde_json::to_value(body).map_err(|e| EngineError::Internal(e.to_string()))?;
    store
        .append(&[RecordDraft { kind, time, body }])?
        .into_iter()
        .next()
        .ok_or_else(|| {
            EngineError::Internal("the ledger did not return the appended record".into())
        })
}
