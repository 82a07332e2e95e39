# Translation of policies/tier2.cedar for benchmarking (see promotion.rego); Cedar remains the
# source of truth. Tier-2 rules are the baseline for every version; some hold in every
# environment, the others in production only.
package modelgate.promotion

# tier2.registry-ref: the version is registered.
forbids contains "tier2.registry-ref" if {
	resource.tier <= 2
	not resource.has_registry_ref
}

# tier2.owner: someone is accountable for the model.
forbids contains "tier2.owner" if {
	resource.tier <= 2
	resource.owner == ""
}

# tier2.code-commit-clean: what runs traces to a committed, clean source tree.
forbids contains "tier2.code-commit-clean" if {
	resource.tier <= 2
	not resource.code_commit_clean
}

# tier2.purpose: production use needs a stated purpose.
forbids contains "tier2.purpose" if {
	resource.tier <= 2
	environment.production
	not resource.has_purpose
}

# tier2.training-data: at least one training dataset with uri and snapshot.
forbids contains "tier2.training-data" if {
	resource.tier <= 2
	environment.production
	resource.training_datasets < 1
}

# tier2.metric-threshold: at least one evaluation metric carries a threshold.
forbids contains "tier2.metric-threshold" if {
	resource.tier <= 2
	environment.production
	resource.metrics_with_threshold < 1
}

# tier2.metrics-passed: every metric with a threshold meets it.
forbids contains "tier2.metrics-passed" if {
	resource.tier <= 2
	environment.production
	count(resource.failed_metrics) > 0
}

# tier2.owner-approval: the owner signs off every production promotion.
forbids contains "tier2.owner-approval" if {
	resource.tier <= 2
	environment.production
	not "owner" in context.approved_roles
}

# tier2.approval-ttl: approvals are valid for at most 365 days at any tier.
forbids contains "tier2.approval-ttl" if {
	resource.tier <= 2
	environment.production
	context.max_approval_ttl_days > 365
}
