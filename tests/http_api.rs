//! The HTTP API through `server::router` (no socket): every route × every role, the pipeline,
//! auditor and admin flows, limits, the shared error shape of every 4xx/5xx (checked on every
//! answer by the harness in `http_support`), and `GET /openapi.json` against the route table and
//! the official OpenAPI 3.1 schema. The groups live in `tests/http_support/api/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

#[path = "http_support/api/admin.rs"]
mod admin;
#[path = "http_support/api/auditor.rs"]
mod auditor;
#[path = "http_support/api/openapi_doc.rs"]
mod openapi_doc;
#[path = "http_support/api/pipeline.rs"]
mod pipeline;
#[path = "http_support/api/roles.rs"]
mod roles;
