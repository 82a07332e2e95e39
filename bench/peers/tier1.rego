# Translation of policies/tier1.cedar for benchmarking (see promotion.rego); Cedar remains the
# source of truth. Tier-1 rules apply to tier 1 and tier 0 versions promoted to production.
package modelgate.promotion

# tier1.model-card: the model card is published and pinned by digest.
forbids contains "tier1.model-card" if {
	resource.tier <= 1
	environment.production
	not resource.has_model_card
}

# tier1.dataset-digests: every training and evaluation dataset is pinned by digest.
forbids contains "tier1.dataset-digests" if {
	resource.tier <= 1
	environment.production
	not resource.all_datasets_have_digest
}

# tier1.environment-digest: the training environment is pinned by digest.
forbids contains "tier1.environment-digest" if {
	resource.tier <= 1
	environment.production
	not resource.has_environment_digest
}

# tier1.baseline: the baseline comparison passed (or a missing baseline is justified).
forbids contains "tier1.baseline" if {
	resource.tier <= 1
	environment.production
	not resource.baseline_ok
}

# tier1.out-of-scope-uses: users are told what the model must not be used for.
forbids contains "tier1.out-of-scope-uses" if {
	resource.tier <= 1
	environment.production
	not resource.has_out_of_scope_uses
}

# tier1.limitations: known limitations are written down.
forbids contains "tier1.limitations" if {
	resource.tier <= 1
	environment.production
	not resource.has_limitations
}

# tier1.drift-monitoring: drift is monitored and alerts reach someone.
forbids contains "tier1.drift-monitoring" if {
	resource.tier <= 1
	environment.production
	not resource.has_drift_monitoring
}

# tier1.second-approver: the owner plus a second, distinct principal.
forbids contains "tier1.second-approver" if {
	resource.tier <= 1
	environment.production
	context.approver_count < 2
}

# tier1.approval-ttl: approvals are valid for at most 180 days.
forbids contains "tier1.approval-ttl" if {
	resource.tier <= 1
	environment.production
	context.max_approval_ttl_days > 180
}

# tier1.validation-approved: validation approved this version.
forbids contains "tier1.validation-approved" if {
	resource.tier <= 1
	environment.production
	resource.validation_status != "approved"
}
