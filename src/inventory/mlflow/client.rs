//! Talking to an MLflow tracking server: the [`Registry`] trait the sync and the write-back use,
//! and [`MlflowClient`], its blocking HTTP implementation (ureq with rustls).
//!
//! [`MlflowClient`] sends `GET …/registered-models/search` and `GET …/model-versions/search`
//! with `max_results` and `page_token`, and `POST …/model-versions/set-tag`, with an optional
//! bearer token, one overall timeout per request, no redirects (a redirect would carry the token
//! elsewhere, so it is reported as the status it is) and a cap on the size of an answer. Every
//! failure names the URL: [`MlflowError::Transport`] for the connection, [`MlflowError::Status`]
//! for a non-2xx answer with MLflow's `error_code` and `message`, [`MlflowError::Malformed`] for
//! an answer that does not parse.

use std::time::Duration;

use super::wire::{parse_page, ModelVersion, Page, RegisteredModel};
use super::MlflowError;

/// What the sync reads from and the write-back writes to: an MLflow model registry.
pub trait Registry {
    /// The registry's base URL, as recorded in the ledger (no credentials).
    fn url(&self) -> &str;

    /// One page of `registered-models/search`, from `page_token` (`None`: the first page).
    fn registered_models(
        &self,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>, MlflowError>;

    /// One page of `model-versions/search`, from `page_token` (`None`: the first page).
    fn model_versions(&self, page_token: Option<&str>) -> Result<Page<ModelVersion>, MlflowError>;

    /// `model-versions/set-tag`: sets tag `key` to `value` on `model` `version`.
    fn set_version_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError>;
}

/// How [`MlflowClient`] talks to the server.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// The longest one request may take, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// `max_results` per search page (MLflow caps registered-model pages at 1000).
    pub page_size: u32,
    /// The largest answer accepted, bytes.
    pub max_response_bytes: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            token: None,
            timeout: Duration::from_secs(30),
            page_size: 1000,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("page_size", &self.page_size)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// A blocking client of one MLflow tracking server's REST API.
pub struct MlflowClient {
    base: String,
    agent: ureq::Agent,
    options: ClientOptions,
}

impl std::fmt::Debug for MlflowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowClient")
            .field("base", &self.base)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The longest base URL accepted (it is written into every sync record).
const MAX_URL_CHARS: usize = 2048;

/// Checks and normalises a tracking server URL: `http` or `https`, a host, no credentials
/// (those go in the token), no query or fragment, no trailing slash.
pub fn normalise_url(url: &str) -> Result<String, MlflowError> {
    let trimmed = url.trim();
    // An error shows the URL without what could be a password.
    let shown = match trimmed.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => trimmed.to_owned(),
            }
        }
        _ => trimmed.to_owned(),
    };
    let bad = |problem: &str| MlflowError::Url {
        url: shown.clone(),
        problem: problem.to_owned(),
    };
    if trimmed.len() > MAX_URL_CHARS {
        return Err(bad("longer than 2048 characters"));
    }
    if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains spaces or control characters"));
    }
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(bad("not an http:// or https:// URL"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("not an http:// or https:// URL"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "carries credentials: pass a token with --token or MODELGATE_MLFLOW_TOKEN instead",
        ));
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(bad("has a query or fragment: give the server's base URL"));
    }
    Ok(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    ))
}

impl MlflowClient {
    /// A client of the tracking server at `url` (its base URL, e.g. `http://mlflow:5000`).
    pub fn new(url: &str, options: ClientOptions) -> Result<MlflowClient, MlflowError> {
        let base = normalise_url(url)?;
        if options.page_size == 0 {
            return Err(MlflowError::Config(
                "the page size must be at least 1".into(),
            ));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("modelgate/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(MlflowClient {
            base,
            agent: config.into(),
            options,
        })
    }

    /// The URL of `endpoint` under `/api/2.0/mlflow/`.
    fn endpoint(&self, endpoint: &str) -> String {
        format!("{}/api/2.0/mlflow/{endpoint}", self.base)
    }

    fn authorise<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.options.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// `GET endpoint?query…`: the answer's bytes when it is a 2xx.
    fn get(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> Result<(String, Vec<u8>), MlflowError> {
        let url = self.endpoint(endpoint);
        let mut request = self
            .authorise(self.agent.get(&url))
            .header("Accept", "application/json");
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        let answer = request.call();
        let bytes = self.read(&url, answer)?;
        Ok((url, bytes))
    }

    /// `POST endpoint` with a JSON body: the answer's bytes when it is a 2xx.
    fn post(&self, endpoint: &str, body: &serde_json::Value) -> Result<Vec<u8>, MlflowError> {
        let url = self.endpoint(endpoint);
        let payload = serde_json::to_vec(body).map_err(|e| MlflowError::Config(e.to_string()))?;
        let answer = self
            .authorise(self.agent.post(&url))
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send(&payload[..]);
        self.read(&url, answer)
    }

    fn read(
        &self,
        url: &str,
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, MlflowError> {
        let transport = |e: ureq::Error| MlflowError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let mut response = answer.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.options.max_response_bytes)
            .read_to_vec();
        if !(200..300).contains(&status) {
            let message = bytes.map(|b| error_message(&b)).unwrap_or_default();
            return Err(MlflowError::Status {
                url: url.to_owned(),
                status,
                message,
            });
        }
        bytes.map_err(transport)
    }

    fn search<T: super::wire::Listed>(
        &self,
        endpoint: &str,
        page_token: Option<&str>,
    ) -> Result<Page<T>, MlflowError> {
        let size = self.options.page_size.to_string();
        let mut query = vec![("max_results", size.as_str())];
        if let Some(token) = page_token {
            query.push(("page_token", token));
        }
        let (url, bytes) = self.get(endpoint, &query)?;
        parse_page(&url, &bytes)
    }
}

impl Registry for MlflowClient {
    fn url(&self) -> &str {
        &self.base
    }

    fn registered_models(
        &self,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>, MlflowError> {
        self.search("registered-models/search", page_token)
    }

    fn model_versions(&self, page_token: Option<&str>) -> Result<Page<ModelVersion>, MlflowError> {
        self.search("model-versions/search", page_token)
    }

    fn set_version_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        let body =
            serde_json::json!({"name": model, "version": version, "key": key, "value": value});
        self.post("model-versions/set-tag", &body).map(|_| ())
    }
}

/// The message of an MLflow error answer (`{"error_code", "message"}`), or the start of the body.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let text = match (field("error_code"), field("message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message,
        (Some(code), None) => code,
        (None, None) => String::from_utf8_lossy(body).into_owned(),
    };
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    clean.trim().to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Base URLs are normalised; credentials, queries and other schemes are refused, so a
    /// password never lands in a ledger record.
    #[test]
    fn urls_are_normalised_and_credentials_refused() {
        assert_eq!(
            normalise_url("HTTP://mlflow:5000/").unwrap(),
            "http://mlflow:5000"
        );
        assert_eq!(
            normalise_url(" https://example.com/mlflow// ").unwrap(),
            "https://example.com/mlflow"
        );
        for (url, problem) in [
            ("mlflow:5000", "not an http"),
            ("ftp://mlflow", "not an http"),
            ("http://", "no host"),
            ("http:///x", "no host"),
            ("http://user:pw@mlflow:5000", "credentials"),
            ("http://mlflow:5000/?x=1", "query"),
            ("http://ml flow", "spaces"),
        ] {
            let err = normalise_url(url).unwrap_err().to_string();
            assert!(err.contains(problem), "{url}: {err}");
            if !url.contains('@') {
                assert!(err.contains(&format!("`{url}`")), "{err}");
            }
        }
        let err = normalise_url("http://user:pw@mlflow:5000/x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`http://***@mlflow:5000/x`") && !err.contains("pw"),
            "{err}"
        );
        let long = format!("http://h/{}", "a".repeat(3000));
        assert!(normalise_url(&long).is_err());
    }

    /// MLflow's error JSON becomes `CODE: message`; other bodies are cut and cleaned.
    #[test]
    fn error_answers_are_summarised() {
        assert_eq!(
            error_message(br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no model"}"#),
            "RESOURCE_DOES_NOT_EXIST: no model"
        );
        assert_eq!(error_message(b"bad\ngateway"), "bad gateway");
        assert_eq!(error_message(&[b'x'; 1000]).len(), 300);
    }

    /// The token never shows in debug output.
    #[test]
    fn the_token_is_redacted_in_debug_output() {
        let client = MlflowClient::new(
            "http://mlflow:5000",
            ClientOptions {
                token: Some("sekrit-token".into()),
                ..ClientOptions::default()
            },
        )
        .unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("sekrit-token"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    /// A server that is not there is a transport error naming the URL.
    #[test]
    fn an_unreachable_server_is_an_error_naming_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = MlflowClient::new(
            &format!("http://127.0.0.1:{port}"),
            ClientOptions {
                timeout: Duration::from_secs(5),
                ..ClientOptions::default()
            },
        )
        .unwrap();
        let err = client.registered_models(None).unwrap_err();
        assert!(matches!(err, MlflowError::Transport { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!(
                "http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/search"
            )),
            "{err}"
        );
    }
}
