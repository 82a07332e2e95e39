//! The reference promotion rules written in Rego, evaluated in process by `regorus`.
