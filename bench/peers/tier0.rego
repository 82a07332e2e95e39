# Translation of policies/tier0.cedar for benchmarking (see promotion.rego); Cedar remains the
# source of truth. Tier-0 rules apply to tier-0 versions promoted to production.
package modelgate.promotion

# tier0.roles-named: developer and validator are named (`developer == "" || validator == ""`).
forbids contains "tier0.roles-named" if {
	resource.tier == 0
	environment.production
	"" in {resource.developer, resource.validator}
}

# tier0.owner-not-developer: the owner did not build the model.
forbids contains "tier0.owner-not-developer" if {
	resource.tier == 0
	environment.production
	resource.owner != ""
	resource.owner == resource.developer
}

# tier0.validator-not-developer: the validator did not build the model.
forbids contains "tier0.validator-not-developer" if {
	resource.tier == 0
	environment.production
	resource.validator != ""
	resource.validator == resource.developer
}

# tier0.validator-not-owner: the validator is not the model's owner.
forbids contains "tier0.validator-not-owner" if {
	resource.tier == 0
	environment.production
	resource.validator != ""
	resource.validator == resource.owner
}

# tier0.no-developer-approval: the developer's own approval does not count.
forbids contains "tier0.no-developer-approval" if {
	resource.tier == 0
	environment.production
	context.developer_approved
}

# tier0.no-dual-role-approver: one person does not fill two approval roles.
forbids contains "tier0.no-dual-role-approver" if {
	resource.tier == 0
	environment.production
	context.approver_holds_two_roles
}

# tier0.validator-approval: the validator signs off.
forbids contains "tier0.validator-approval" if {
	resource.tier == 0
	environment.production
	not "validator" in context.approved_roles
}

# tier0.risk-officer-approval: the risk officer signs off.
forbids contains "tier0.risk-officer-approval" if {
	resource.tier == 0
	environment.production
	not "risk-officer" in context.approved_roles
}

# tier0.business-owner-approval: a model that decides automatically needs a named business
# owner who approved it.
forbids contains "tier0.business-owner-approval" if {
	resource.tier == 0
	environment.production
	resource.automated_decisions
	business_owner_missing
}

# Cedar's `resource.business_owner == "" || !context.approved_roles.contains("business-owner")`,
# as two definitions (one per alternative).
business_owner_missing if resource.business_owner == ""

business_owner_missing if not "business-owner" in context.approved_roles

# tier0.approval-ttl: approvals are valid for at most 90 days.
forbids contains "tier0.approval-ttl" if {
	resource.tier == 0
	environment.production
	context.max_approval_ttl_days > 90
}

# tier0.validation-independent: validation is independent of development.
forbids contains "tier0.validation-independent" if {
	resource.tier == 0
	environment.production
	not resource.validation_independent
}

# tier0.no-open-high-findings: high-severity validation findings are closed first.
forbids contains "tier0.no-open-high-findings" if {
	resource.tier == 0
	environment.production
	resource.open_high_findings > 0
}

# tier0.validation-current: the next validation is scheduled and due within 12 months.
forbids contains "tier0.validation-current" if {
	resource.tier == 0
	environment.production
	outside(resource.validation_next_due_days, 0, 365)
}

# tier0.validation-due-soon (@mode("warn")): the next validation falls due within 30 days.
warnings contains "tier0.validation-due-soon" if {
	resource.tier == 0
	environment.production
	resource.validation_next_due_days >= 0
	resource.validation_next_due_days <= 30
}

# tier0.fairness-gaps: every protected attribute has a passing fairness metric.
forbids contains "tier0.fairness-gaps" if {
	resource.tier == 0
	environment.production
	count(resource.fairness_gaps) > 0
}

# tier0.fairness-empty-justified: listing no protected attribute is justified.
forbids contains "tier0.fairness-empty-justified" if {
	resource.tier == 0
	environment.production
	resource.protected_attributes == 0
	not resource.fairness_empty_justified
}

# tier0.explainability: how outputs are explained and who oversees them is stated.
forbids contains "tier0.explainability" if {
	resource.tier == 0
	environment.production
	not resource.has_explainability
}

# tier0.risk-assessment: a risk assessment exists.
forbids contains "tier0.risk-assessment" if {
	resource.tier == 0
	environment.production
	not resource.has_risk_assessment
}

# tier0.impact-assessment: an impact assessment exists.
forbids contains "tier0.impact-assessment" if {
	resource.tier == 0
	environment.production
	not resource.has_impact_assessment
}

# tier0.reproducibility: training is attested as reproducible.
forbids contains "tier0.reproducibility" if {
	resource.tier == 0
	environment.production
	not resource.reproducibility_attested
}

# tier0.performance-threshold: monitoring has a performance threshold.
forbids contains "tier0.performance-threshold" if {
	resource.tier == 0
	environment.production
	not resource.has_performance_threshold
}

# tier0.technical-docs: technical documentation and instructions for use are published.
forbids contains "tier0.technical-docs" if {
	resource.tier == 0
	environment.production
	not resource.has_technical_docs
}

# tier0.evaluation-report: the evaluation report is pinned by digest.
forbids contains "tier0.evaluation-report" if {
	resource.tier == 0
	environment.production
	not resource.has_evaluation_report_digest
}

# tier0.datasheets-legal-basis: every dataset has a datasheet and a recorded legal basis.
forbids contains "tier0.datasheets-legal-basis" if {
	resource.tier == 0
	environment.production
	not resource.all_datasets_have_datasheet_and_legal_basis
}
