//! The MLflow REST shapes the sync reads (MLflow 3.x, `/api/2.0/mlflow`).
//!
//! [`RegisteredModel`] and [`ModelVersion`] are what `registered-models/search` and
//! `model-versions/search` list; [`Page`] is one page of either with its `next_page_token`.
//! Aliases come in two shapes: a registered model lists `aliases: [{alias, version}]`
//! ([`ModelAlias`]), a model version lists `aliases: ["name", …]` (and `model-versions/search`
//! leaves them out altogether, so the registered model's list is the one to trust). Tags are
//! `[{key, value}]` ([`Tag`]).
//!
//! MLflow leaves out empty lists and unset fields, so those default; fields the sync does not
//! use are ignored, so a newer server still parses. What the sync relies on — a name, a version
//! string, tag keys, alias names — is required, and a response without it is refused with the
//! URL it came from ([`parse_page`]).

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use super::MlflowError;

/// One `{key, value}` tag.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tag {
    /// The tag key (`gov.tier`, `mlflow.source.name`, …).
    pub key: String,
    /// Its value (MLflow leaves out an empty one).
    #[serde(default)]
    pub value: String,
}

/// A registered model's alias: `{alias, version}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelAlias {
    /// The alias (`champion`, `production`, …).
    pub alias: String,
    /// The version it names.
    pub version: String,
}

/// A registered model as `registered-models/search` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredModel {
    /// Its name.
    pub name: String,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "millis")]
    pub creation_timestamp: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "millis")]
    pub last_updated_timestamp: Option<i64>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Model-level tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its aliases and the versions they name.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

/// A model version as `model-versions/search` (or `/get`) returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version, a string of digits in MLflow.
    pub version: String,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "millis")]
    pub creation_timestamp: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "millis")]
    pub last_updated_timestamp: Option<i64>,
    /// The legacy stage (`None`, `Staging`, `Production`, `Archived`).
    #[serde(default)]
    pub current_stage: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the model's files are (`models:/m-…`, `s3://…`).
    #[serde(default)]
    pub source: Option<String>,
    /// The training run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// `READY`, `PENDING_REGISTRATION`, `FAILED_REGISTRATION`.
    #[serde(default)]
    pub status: Option<String>,
    /// Version tags; `gov.*` ones point at governance material.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Alias names (absent from search results).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// One page of a search: its items and the token of the next page (`None` on the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// `next_page_token`; `None` (or an empty token) ends the listing.
    pub next_page_token: Option<String>,
}

/// Which list a search response carries.
pub trait Listed: DeserializeOwned {
    /// The field holding the list.
    const FIELD: &'static str;
}

impl Listed for RegisteredModel {
    const FIELD: &'static str = "registered_models";
}

impl Listed for ModelVersion {
    const FIELD: &'static str = "model_versions";
}

/// Parses one search response read from `url`: the list under `T::FIELD` (absent: empty) and
/// `next_page_token`. Anything else than a JSON object with those shapes is
/// [`MlflowError::Malformed`].
pub fn parse_page<T: Listed>(url: &str, bytes: &[u8]) -> Result<Page<T>, MlflowError> {
    let bad = |problem: String| MlflowError::Malformed {
        url: url.to_owned(),
        problem,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(bad("not a JSON object".to_owned()));
    };
    let items = match object.get(T::FIELD) {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, item)| {
                T::deserialize(item).map_err(|e| bad(format!("`{}[{i}]`: {e}", T::FIELD)))
            })
            .collect::<Result<Vec<T>, MlflowError>>()?,
        Some(_) => return Err(bad(format!("`{}` is not a list", T::FIELD))),
    };
    let next_page_token = match object.get("next_page_token") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(t)) if t.is_empty() => None,
        Some(serde_json::Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(bad("`next_page_token` is not a string".to_owned())),
    };
    Ok(Page {
        items,
        next_page_token,
    })
}

/// Epoch milliseconds as a JSON number or, as proto3 JSON writes 64-bit integers, a string of
/// digits.
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Millis {
        Number(i64),
        Text(String),
    }
    match Option::<Millis>::deserialize(d)? {
        None => Ok(None),
        Some(Millis::Number(n)) => Ok(Some(n)),
        Some(Millis::Text(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{s}` is not a timestamp in milliseconds"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const RM_SEARCH: &str = include_str!("../../../tests/fixtures/mlflow/rm_search.json");
    const MV_SEARCH: &str = include_str!("../../../tests/fixtures/mlflow/mv_search.json");
    const MV_GET: &str = include_str!("../../../tests/fixtures/mlflow/mv_get.json");
    const URL: &str = "http://mlflow.test/api/2.0/mlflow/registered-models/search";

    /// The recorded `registered-models/search` answer of MLflow 3.17.2 parses with its
    /// model-level tags and its `{alias, version}` aliases.
    #[test]
    fn recorded_registered_models_parse_with_tags_and_alias_objects() {
        let page = parse_page::<RegisteredModel>(URL, RM_SEARCH.as_bytes()).unwrap();
        assert_eq!(page.next_page_token, None);
        assert_eq!(page.items.len(), 1);
        let m = &page.items[0];
        assert_eq!(m.name, "credit-risk-scorer");
        assert_eq!(m.creation_timestamp, Some(1_795_772_836_936));
        assert_eq!(
            m.description.as_deref(),
            Some("PD model for consumer lending")
        );
        assert_eq!(
            m.tags,
            vec![Tag {
                key: "gov.business_unit".into(),
                value: "retail-lending".into()
            }]
        );
        assert_eq!(
            m.aliases,
            vec![ModelAlias {
                alias: "champion".into(),
                version: "1".into()
            }]
        );
    }

    /// The recorded `model-versions/search` answer parses; it carries no aliases (MLflow leaves
    /// them out of search results), which is why the sync takes them from the registered model.
    #[test]
    fn recorded_model_versions_parse_and_search_results_carry_no_aliases() {
        let page = parse_page::<ModelVersion>(URL, MV_SEARCH.as_bytes()).unwrap();
        assert_eq!(page.items.len(), 1);
        let v = &page.items[0];
        assert_eq!(
            (v.name.as_str(), v.version.as_str()),
            ("credit-risk-scorer", "1")
        );
        assert_eq!(v.status.as_deref(), Some("READY"));
        assert_eq!(
            v.run_id.as_deref(),
            Some("1cbe632f344b440b84b6f690917f2567")
        );
        assert_eq!(v.tags.len(), 5);
        assert!(v.tags.iter().all(|t| t.key.starts_with("gov.")));
        assert!(v.aliases.is_empty());
    }

    /// The other alias shape: `model-versions/get` lists alias names as strings.
    #[test]
    fn a_recorded_model_version_lists_alias_names_as_strings() {
        let value: serde_json::Value = serde_json::from_str(MV_GET).unwrap();
        let v = ModelVersion::deserialize(&value["model_version"]).unwrap();
        assert_eq!(v.aliases, vec!["champion".to_owned()]);
    }

    /// An empty registry answers `{}`; a token marks another page; an empty token ends.
    #[test]
    fn empty_lists_are_left_out_and_tokens_chain_pages() {
        let page = parse_page::<RegisteredModel>(URL, b"{}").unwrap();
        assert!(page.items.is_empty() && page.next_page_token.is_none());
        let page =
            parse_page::<ModelVersion>(URL, br#"{"model_versions":[],"next_page_token":"abc"}"#)
                .unwrap();
        assert_eq!(page.next_page_token.as_deref(), Some("abc"));
        let page = parse_page::<ModelVersion>(URL, br#"{"next_page_token":""}"#).unwrap();
        assert_eq!(page.next_page_token, None);
    }

    /// Timestamps written as proto3 JSON strings read the same as numbers; other strings fail.
    #[test]
    fn timestamps_may_be_numbers_or_digit_strings() {
        let page = parse_page::<ModelVersion>(
            URL,
            br#"{"model_versions":[{"name":"m","version":"2","creation_timestamp":"17"}]}"#,
        )
        .unwrap();
        assert_eq!(page.items[0].creation_timestamp, Some(17));
        let err = parse_page::<ModelVersion>(
            URL,
            br#"{"model_versions":[{"name":"m","version":"2","creation_timestamp":"soon"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`soon`"), "{err}");
    }

    /// A malformed answer is an error naming the URL and what is wrong, never a partial page.
    #[test]
    fn malformed_answers_are_refused_with_the_url_and_the_problem() {
        for (body, expected) in [
            (&b"<html>login</html>"[..], "not JSON"),
            (b"[]", "not a JSON object"),
            (
                br#"{"registered_models":{}}"#,
                "`registered_models` is not a list",
            ),
            (
                br#"{"registered_models":[{"description":"x"}]}"#,
                "`registered_models[0]`",
            ),
            (
                br#"{"registered_models":[],"next_page_token":7}"#,
                "`next_page_token`",
            ),
            (
                br#"{"registered_models":[{"name":"m","tags":[{"value":"v"}]}]}"#,
                "missing field `key`",
            ),
            (
                br#"{"registered_models":[{"name":"m","aliases":[{"alias":"a","version":1}]}]}"#,
                "registered_models[0]",
            ),
        ] {
            let err = parse_page::<RegisteredModel>(URL, body).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(URL), "{text}");
            assert!(text.contains(expected), "`{expected}` not in {text}");
        }
        let err =
            parse_page::<ModelVersion>(URL, br#"{"model_versions":[{"name":"m","version":3}]}"#)
                .unwrap_err();
        assert!(err.to_string().contains("model_versions[0]"), "{err}");
    }
}
