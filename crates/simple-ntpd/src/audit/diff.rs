//! What changed between two configurations, key by key, for the audit log.
//! Changes are found on the real values (so a new secret counts as a change)
//! and shown with the redacted ones (`Config::redacted`), so no secret is
//! ever written. Tables are walked down to their keys; a list (and a list
//! of tables such as `sources.servers`) is one value.

use std::collections::BTreeMap;

use ntp_config::Config;
use serde_json::{json, Value};

/// One changed key.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Dotted key path.
    pub key: String,
    /// The value before (redacted; `null` when unset).
    pub from: Value,
    /// The value after (redacted; `null` when unset).
    pub to: Value,
}

impl Change {
    /// `{"key": …, "from": …, "to": …}`.
    pub fn to_json(&self) -> Value {
        json!({ "key": self.key, "from": self.from, "to": self.to })
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn keys_of(c: &Config) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    // A configuration always serializes; an empty map would only hide changes.
    if let Ok(v) = serde_json::to_value(c) {
        flatten("", &v, &mut out);
    }
    out
}

/// Every key whose value differs between `old` and `new`, in key order.
pub fn changes(old: &Config, new: &Config) -> Vec<Change> {
    let (raw_old, raw_new) = (keys_of(old), keys_of(new));
    let (shown_old, shown_new) = (keys_of(&old.redacted()), keys_of(&new.redacted()));
    let mut keys: Vec<&String> = raw_old.keys().chain(raw_new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| raw_old.get(*k) != raw_new.get(*k))
        .map(|k| Change {
            key: k.clone(),
            from: shown_old.get(k).cloned().unwrap_or(Value::Null),
            to: shown_new.get(k).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_changed_keys_with_redacted_secrets() {
        let old = Config::default();
        let mut new = old.clone();
        new.ntp_server.stratum = 4;
        new.monitoring.token = Some("s3cret-token".into());
        let c = changes(&old, &new);
        let keys: Vec<&str> = c.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["monitoring.token", "ntp_server.stratum"]);
        assert_eq!(c[1].from, json!(10));
        assert_eq!(c[1].to, json!(4));
        assert_eq!(c[0].from, Value::Null);
        assert_eq!(c[0].to, json!(ntp_config::REDACTED));
        // A new secret of the same length is a change, shown redacted on both sides.
        let mut newer = new.clone();
        newer.monitoring.token = Some("s3cret-other".into());
        let c = changes(&new, &newer);
        assert_eq!(c.len(), 1);
        assert_eq!((&c[0].from, &c[0].to), (&json!(ntp_config::REDACTED), &json!(ntp_config::REDACTED)));
        let text = serde_json::to_string(&c.iter().map(Change::to_json).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(changes(&newer, &newer).is_empty());
    }
}
