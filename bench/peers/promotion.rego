# The promotion rules of modelgate's reference bundle, translated from policies/*.cedar into
# Rego so that a Rego engine can be benchmarked against Cedar on the same rules. Cedar remains
# the source of truth: this translation is a benchmarking peer only, kept equal to the bundle by
# bench/tests/rego_agrees.rs, which runs every case of policies/tests/ through both.
#
# `input` is the policy input (src/policy/input.rs) exactly as serde_json serialises it:
# `requester`, `environment`, `model` and `context`. Cedar's `resource.<attr>` is
# `input.model.<attr>`, `context.<attr>` is `input.context.<attr>` and
# `context.environment.<attr>` is `input.environment.<attr>`; the aliases below keep the rule
# bodies close to the Cedar text. Every request is a promotion, so the Cedar scope
# `action == ModelGate::Action::"promote"` has no counterpart here.
#
# One file per Cedar file (common.rego, tier0.rego, tier1.rego, tier2.rego), one rule per Cedar
# policy, in the same order, each headed by the policy's `@id`:
# - an enforce-mode `permit` adds its id to `permits`,
# - an enforce-mode `forbid` adds its id to `forbids`,
# - a warn-mode `forbid` (`@mode("warn")`) adds its id to `warnings`.
# Shadow-mode policies (`@mode("shadow")`) would be left out: they never decide, and the
# reference bundle has none.
#
# Cedar fails closed when a policy cannot be evaluated; Rego treats a missing attribute as
# undefined instead. The input is always complete (every field of PolicyInput is serialised), so
# the difference cannot arise with the inputs this peer is given.
package modelgate.promotion

# Cedar's `resource`: the model version's facts.
resource := input.model

# Cedar's `context`, without the environment.
context := input.context

# Cedar's `context.environment`.
environment := input.environment

# Cedar's `x < low || x > high`, as two definitions (one per alternative).
outside(x, low, _) if x < low

outside(x, _, high) if x > high

# Enforce mode decides: allow iff at least one permit applies and no forbid applies.
default allow := false

allow if {
	count(permits) > 0
	count(forbids) == 0
}

# The decision, with the ids of the policies that applied, sorted.
decision := {
	"allow": allow,
	"forbids": sort(forbids),
	"permits": sort(permits),
	"warnings": sort(warnings),
}
