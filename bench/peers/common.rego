# Translation of policies/common.cedar for benchmarking (see promotion.rego); Cedar remains the
# source of truth.
package modelgate.promotion

# common.permit-promotion: a promotion is allowed unless some forbid applies.
permits contains "common.permit-promotion"

# common.metadata-verified: the metadata comes in an envelope signed by a trusted key.
forbids contains "common.metadata-verified" if {
	not resource.metadata_verified
}

# common.identity-matches: the verified metadata names the model and version promoted.
forbids contains "common.identity-matches" if {
	not resource.identity_matches
}

# common.artifact-digest-matches: the signed subject digest is the deployed artifact's.
forbids contains "common.artifact-digest-matches" if {
	not resource.artifact_digest_matches
}

# common.tier-valid: only risk tiers 0, 1 and 2 exist.
forbids contains "common.tier-valid" if {
	outside(resource.tier, 0, 2)
}

# common.environment-frozen: while frozen, only a rollback to a version allowed there before.
forbids contains "common.environment-frozen" if {
	environment.frozen
	not rollback_to_previously_allowed
}

# Cedar's `context.rollback && context.previously_allowed`.
rollback_to_previously_allowed if {
	context.rollback
	context.previously_allowed
}
