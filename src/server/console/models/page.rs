//! One model's page (versions across environments, owners, approvals with expiry, gaps, the
//! evidence link) and its evidence pack download, over the same cached inventory as the list.

use super::*;

/// `GET /console/models/{name}`: the model's versions across environments, owners, approvals
/// with expiry, gaps and evidence. A model the ledger has not seen is a 404 naming it.
pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    ApiPath(name): ApiPath<String>,
) -> Result<Markup, PageError> {
    let worker = Arc::clone(&state);
    let model = name.clone();
    let loaded = blocking(move || {
        let state = worker;
        let reader = state.readers.checkout()?;
        let store = reader.store()?;
        let mut one = Inventory::default();
        let loaded = state.console.models.with(&state, store, |inner| {
            let (inv, _) = inner.inventory()?;
            let entry = inv.models.get(&model).ok_or_else(|| {
                PageError::not_found(format!(
                    "The ledger has no decision or deployment of a model named `{model}`."
                ))
            })?;
            one.models.insert(model.clone(), entry.clone());
            Ok(())
        })?;
        if let Loaded::Loading(done, total) = loaded {
            return Ok(Err((done, total)));
        }
        let now = state.clock.now();
        let found = findings(&one, &options(&state, now));
        let listed = listing(&one).into_iter().next().ok_or_else(|| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the listing lost the model",
            )
        })?;
        let entry = one.models.remove(&model).unwrap_or_default();
        Ok(Ok((listed, entry, found, now)))
    })
    .await?;
    let body = match loaded {
        Ok((listed, entry, found, now)) => model_body(&name, &listed, &entry, &found, now),
        Err((done, total)) => loading_notice(done, total),
    };
    Ok(layout(&viewer, Section::Models, &name, body))
}

fn model_body(
    name: &str,
    listed: &ModelListing,
    entry: &ModelEntry,
    found: &[Finding],
    now: OffsetDateTime,
) -> Markup {
    let latest = latest_version(entry);
    let latest_listing = latest.and_then(|(v, _)| listed.versions.iter().find(|l| &l.version == v));
    // Rows newest first.
    let mut versions: Vec<&VersionListing> = listed.versions.iter().collect();
    versions.sort_by_key(|l| std::cmp::Reverse(entry.versions.get(&l.version).map_or(0, activity)));
    let environments: BTreeSet<&String> = listed
        .versions
        .iter()
        .flat_map(|v| v.latest.keys().chain(v.deployments.keys()))
        .collect();
    html! {
        @if let Some((at, time, reason)) = &listed.retired {
            p.notice role="status" {
                "Retired at " (time) " (record " (at) "): " (reason)
            }
        }
        @if listed.versions.iter().any(|v| v.shadow) {
            p.error role="alert" {
                "Shadow deployment: a version of this model is deployed without verified, signed metadata."
            }
        }
        section {
            h2 { "Versions across environments" }
            table.timeline {
                caption { "Versions across environments" }
                thead { tr {
                    th scope="col" { "Version" }
                    th scope="col" { "Tier" }
                    th scope="col" .num { "Decisions" }
                    @for env in &environments { th scope="col" { (env) } }
                } }
                tbody {
                    @for v in &versions {
                        tr {
                            th scope="row" {
                                span.mono { (v.version) }
                                @if v.shadow { " " span.flag.shadow { "shadow" } }
                                @if v.retired.is_some() { " " span.flag.retired { "retired" } }
                            }
                            td { (v.tier.map_or_else(|| "unknown".to_owned(), |t| t.to_string())) }
                            td.num { (v.decisions) }
                            @for env in &environments {
                                td { (cell(listed, v, env)) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Owners" }
            (owners(latest_listing))
        }
        section {
            h2 { "Approvals" }
            (approvals(&versions, now))
        }
        section {
            h2 { "Gaps" }
            (gaps(latest, found))
        }
        section {
            h2 { "Evidence" }
            p {
                a.button href=(model_path(name, "/evidence")) download { "Download evidence pack" }
            }
            p {
                "The signed evidence pack of every decision about this model: the same pack "
                code { "modelgate evidence build --model " (name) }
                " writes. Verify it offline with "
                code { "modelgate evidence verify FILE --vkey \"$(modelgate audit vkey)\"" }
                "."
            }
        }
    }
}

/// One timeline cell: the latest decision in `env` and the deployment reported there.
fn cell(listed: &ModelListing, v: &VersionListing, env: &str) -> Markup {
    let current = listed.current.get(env).is_some_and(|c| c == &v.version);
    html! {
        @if let Some((outcome, index, time)) = v.latest.get(env) {
            span.outcome.(outcome) { (outcome) } " "
            a href={ "/console/decisions/" (index) } { "decision " (index) }
            br;
            span.muted { (time) }
        }
        @if let Some((source, index, time)) = v.deployments.get(env) {
            @if v.latest.contains_key(env) { br; }
            "Deployed (reported by " (source) ", record " (index) ") "
            span.muted { (time) }
        }
        @if current {
            br;
            strong.current { "current" }
        }
    }
}

fn owners(latest: Option<&VersionListing>) -> Markup {
    let Some(v) = latest else {
        return html! { p role="status" { "No version is recorded." } };
    };
    let Some(owners) = &v.owners else {
        return html! {
            p role="status" {
                "Version " span.mono { (v.version) } " has no decision, so no metadata names its owners."
            }
        };
    };
    let named = |key: &str| owners.get(key).filter(|s| !s.trim().is_empty()).cloned();
    html! {
        p { "As the metadata of version " span.mono { (v.version) } " (the latest) names them." }
        dl.facts {
            @for (key, label) in [
                ("owner", "Owner"),
                ("developer", "Developer"),
                ("validator", "Validator"),
                ("business_owner", "Business owner"),
            ] {
                dt { (label) }
                dd {
                    @match named(key) {
                        Some(who) => (who),
                        None => span.muted { "not named" },
                    }
                }
            }
        }
    }
}

fn approvals(versions: &[&VersionListing], now: OffsetDateTime) -> Markup {
    let rows: Vec<_> = versions
        .iter()
        .flat_map(|v| v.approvals.iter().map(move |a| (v.version.as_str(), a)))
        .collect();
    if rows.is_empty() {
        return html! { p role="status" { "No deploying allow counted an approval." } };
    }
    html! {
        table.approvals {
            (table_head("Approvals of the latest deploying allow per environment", &["Version", "Environment", "Role", "Approver", "Expires", "Status"]))
            tbody {
                @for (version, (env, role, who, expires)) in &rows {
                    tr {
                        td.mono { (version) }
                        td { (env) }
                        td { (role) }
                        td { (who) }
                        td { (expires) }
                        td { (expiry(expires, now)) }
                    }
                }
            }
        }
    }
}

/// "expired", "expires in N days" (within 30 days) or "current".
fn expiry(expires: &str, now: OffsetDateTime) -> Markup {
    let Ok(at) = parse_rfc3339(expires) else {
        return html! { span.warn { "unreadable expiry" } };
    };
    if at <= now {
        return html! { strong.bad.expired { "expired" } };
    }
    let days = (at - now).whole_days();
    if days < EXPIRING_DAYS {
        html! { strong.warn.expiring { "expires in " (days) (if days == 1 { " day" } else { " days" }) } }
    } else {
        html! { span.ok { "current" } }
    }
}

fn gaps(latest: Option<(&String, &VersionEntry)>, found: &[Finding]) -> Markup {
    html! {
        @match latest {
            None => p role="status" { "No version is recorded." },
            Some((version, v)) => {
                @match &v.facts {
                    None => p.error role="alert" {
                        "Version " span.mono { (version) } " has no decision: no verified metadata, "
                        "so none of the completeness criteria can be shown to hold."
                    },
                    Some(facts) => {
                        @let criteria = facts.criteria(v.tier.unwrap_or(0));
                        @let open: Vec<_> = criteria.iter().filter(|(_, c)| !c.complete).collect();
                        @if open.is_empty() {
                            p.notice role="status" {
                                "Every completeness criterion holds for version " span.mono { (version) } "."
                            }
                        } @else {
                            p { "Criteria not met by version " span.mono { (version) } " (the latest):" }
                            ul.gaps {
                                @for (criterion, c) in &open {
                                    li {
                                        strong { (criterion_label(criterion)) } ": missing "
                                        (c.missing.iter().map(|p| describe(p)).collect::<Vec<_>>().join(", "))
                                        "."
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !found.is_empty() {
            table.findings {
                (table_head("Findings of the inventory report as of now", &["Version", "Environment", "Kind", "What is missing"]))
                tbody {
                    @for f in found {
                        tr {
                            td.mono { (f.version) }
                            td { (f.environment.as_deref().unwrap_or("")) }
                            td { (f.kind) }
                            td { (if f.detail.starts_with("/model/") { describe(&f.detail) } else { f.detail.clone() }) }
                        }
                    }
                }
            }
        }
    }
}

fn criterion_label(name: &str) -> &str {
    match name {
        "inventory" => "Inventory",
        "documentation" => "Documentation",
        "drift" => "Drift monitoring",
        "reproducibility" => "Reproducible training",
        other => other,
    }
}

/// A completeness item's JSON pointer in words, with the pointer in brackets.
fn describe(pointer: &str) -> String {
    let words = match pointer {
        "/model/metadata_verified" => "verified, signed metadata",
        "/model/identity_matches" => "metadata naming this model and artifact",
        "/model/has_registry_ref" => "a registry reference",
        "/model/owner" => "an owner",
        "/model/developer" => "a developer",
        "/model/validator" => "a validator",
        "/model/business_owner" => "a business owner",
        "/model/code_commit_clean" => "a clean code commit",
        "/model/training_datasets" => "a training dataset",
        "/model/all_datasets_have_digest" => "a digest for every dataset",
        "/model/has_model_card" => "a model card",
        "/model/has_purpose" => "a stated purpose",
        "/model/has_out_of_scope_uses" => "out-of-scope uses",
        "/model/has_limitations" => "limitations",
        "/model/has_technical_docs" => "technical documentation",
        "/model/has_evaluation_report_digest" => "an evaluation report digest",
        "/model/has_explainability" => "explainability documentation",
        "/model/has_risk_assessment" => "a risk assessment",
        "/model/has_impact_assessment" => "an impact assessment",
        "/model/has_drift_monitoring" => "drift monitoring",
        "/model/has_performance_threshold" => "a performance threshold",
        "/model/has_environment_digest" => "an environment digest",
        "/model/reproducibility_attested" => "a reproducibility attestation",
        other => return other.to_owned(),
    };
    format!("{words} ({pointer})")
}

/// `GET /console/models/{name}/evidence`: the model's whole evidence pack, the same bytes as
/// `GET /v1/models/{name}/evidence` and `modelgate evidence build --model NAME`.
pub async fn evidence(
    State(state): State<Arc<AppState>>,
    _viewer: Viewer,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, PageError> {
    let scope = Scope::new(&name, None, None, None).map_err(evidence_error)?;
    let bytes = blocking(move || {
        // The scope was checked above: an `Invalid` from the build is the workspace failing.
        let build = |e: EvidenceError| match e {
            EvidenceError::Invalid(m) => PageError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
            other => evidence_error(other),
        };
        let pack = state.ws.evidence_pack(&scope).map_err(build)?;
        pack.to_tar_gz().map_err(build)
    })
    .await?;
    Ok(crate::server::evidence::pack_response(&name, bytes)?)
}

fn evidence_error(e: EvidenceError) -> PageError {
    match e {
        EvidenceError::Invalid(m) => PageError::invalid(m),
        EvidenceError::NothingInScope(m) => PageError::not_found(m),
        EvidenceError::Inconsistent(_) => PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e}; run `modelgate audit verify`"),
        ),
        other => PageError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}
