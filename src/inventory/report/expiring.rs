//! What expires within the report's horizon: approvals and waivers of live allows, validations
//! falling due, trusted keys reaching the end of their validity.

use time::OffsetDateTime;

use super::{days, plus, time, Expiring, ReportOptions};
use crate::attest::TrustStore;
use crate::clock::rfc3339;
use crate::inventory::fold::Inventory;

/// Approvals and waivers of the latest allow of every live version, validations falling due,
/// and trusted keys whose validity ends, within the horizon after `as_of`; soonest first.
pub(super) fn expiring(
    inv: &Inventory,
    trust: &TrustStore,
    options: &ReportOptions,
) -> Vec<Expiring> {
    let end = plus(options.as_of, days(options.expiring_days));
    let within = |t: OffsetDateTime| t > options.as_of && t <= end;
    let mut out = Vec::new();
    for (model, entry) in inv.models.iter().filter(|(_, e)| e.retired.is_none()) {
        for (version, v) in entry.versions.iter().filter(|(_, v)| v.retired.is_none()) {
            let item = |what: String, at: OffsetDateTime| Expiring {
                model: Some(model.clone()),
                version: Some(version.clone()),
                what,
                expires_at: rfc3339(at),
            };
            let latest_per_env = v
                .environments
                .iter()
                .filter_map(|(env, e)| Some((env, e.last_allow.as_ref()?)));
            for (env, d) in latest_per_env {
                for (role, who, expires) in &d.approvals {
                    if let Some(t) = time(expires).filter(|t| within(*t)) {
                        out.push(item(format!("{role} approval by {who} for {env}"), t));
                    }
                }
                for (ticket, expires) in &d.waivers {
                    if let Some(t) = time(expires).filter(|t| within(*t)) {
                        out.push(item(format!("waiver {ticket} for {env}"), t));
                    }
                }
            }
            if let (Some(f), Some(facts_time)) = (&v.facts, &v.facts_time) {
                if f.validation_next_due_days >= 0 {
                    if let Some(t) = time(facts_time)
                        .map(|t| plus(t, days(f.validation_next_due_days)))
                        .filter(|t| within(*t))
                    {
                        out.push(item("validation due".to_owned(), t));
                    }
                }
            }
        }
    }
    for k in trust.keys().filter(|k| k.revoked.is_none()) {
        if let Some(t) = k.not_after.filter(|t| within(*t)) {
            out.push(Expiring {
                model: None,
                version: None,
                what: format!(
                    "key {} of {}",
                    k.key_id.chars().take(16).collect::<String>(),
                    k.principal
                ),
                expires_at: rfc3339(t),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.expires_at, &a.model, &a.version, &a.what).cmp(&(
            &b.expires_at,
            &b.model,
            &b.version,
            &b.what,
        ))
    });
    out
}
