//! RFC 8785 canonical JSON (placeholder until the module lands).
