//! The NTPService Kubernetes resource (seed 002) as a configuration file: a
//! YAML (or JSON) document with `apiVersion: ntp.fos1.io/v1alpha1`,
//! `kind: NTPService`, `metadata` and a `spec` in the resource's camelCase
//! spelling. Its `spec` becomes the same [`Layer`] a TOML file gives: keys
//! checked against the key tree (unknown keys are errors with a suggestion),
//! camelCase renamed to snake_case, the line and column of every key kept
//! for later errors. `metadata` and `status` are not configuration and are
//! ignored.

use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

use crate::document::{canonical_key, join, unknown_key_message};
use crate::error::{ConfigError, Issue};
use crate::layer::{Layer, Origin};
use crate::schema::{self, Kind, Node};

/// The API group of the NTPService and NTPClient resources.
pub const GROUP: &str = "ntp.fos1.io";
/// Their API version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of the resources: `ntp.fos1.io/v1alpha1`.
pub const API_VERSION: &str = "ntp.fos1.io/v1alpha1";
/// `kind` of the resource a configuration file may be.
pub const KIND: &str = "NTPService";

/// Whether a file is read as a resource document rather than TOML: its name
/// ends in `.yaml`, `.yml` or `.json`, or its first line that is not blank
/// or a comment is `---`, starts with `{`, or is a YAML mapping key such as
/// `apiVersion:` (none of which a TOML file can start with).
pub(crate) fn is_resource(name: &str, text: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if [".yaml", ".yml", ".json"].iter().any(|ext| lower.ends_with(ext)) {
        return true;
    }
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')) else {
        return false;
    };
    let yaml_key = first.split_once(':').is_some_and(|(key, rest)| {
        key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && (rest.is_empty() || rest.starts_with([' ', '\t']))
    });
    first.starts_with("---") || first.starts_with('{') || yaml_key
}

/// The `spec` of an NTPService document as a canonical (snake_case) TOML
/// table: exactly the keys it sets. Errors name the line and column.
pub fn spec_table(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    let _schema = crate::schema::root(); // one key tree for the whole document
    resource_layer(name, text).map(|l| l.table).map_err(ConfigError::new)
}

/// Reads an NTPService document into a layer.
pub(crate) fn resource_layer(name: &str, text: &str) -> Result<Layer, Vec<Issue>> {
    let name: Arc<str> = Arc::from(name);
    let at = |line: usize, col: usize| format!("{name}:{line}:{col}");
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| {
        let m = e.marker();
        vec![Issue::new(Some(at(m.line(), m.col() + 1)), None, format!("invalid YAML: {}", e.info()))]
    })?;
    let docs: Vec<&MarkedYamlOwned> = docs.iter().filter(|d| !d.data.is_null()).collect();
    let doc = match docs.as_slice() {
        [] => return Err(vec![Issue::new(Some(name.to_string()), None, "the document is empty".to_owned())]),
        [one] => *one,
        [_, second, ..] => {
            let (l, c) = pos(second);
            return Err(vec![Issue::new(
                Some(at(l, c)),
                None,
                format!("{} YAML documents: a configuration file holds one {KIND} resource", docs.len()),
            )]);
        }
    };
    let YamlDataOwned::Mapping(top) = &doc.data else {
        let (l, c) = pos(doc);
        return Err(vec![Issue::new(Some(at(l, c)), None, format!("expected an {KIND} resource (a mapping)"))]);
    };
    let mut issues = Vec::new();
    let mut spec = None;
    let mut seen_kind = false;
    let mut seen_version = false;
    for (k, v) in top {
        let (l, c) = pos(k);
        let text_value = scalar_text(v);
        match k.data.as_str() {
            Some("apiVersion") => {
                seen_version = true;
                if text_value.as_deref() != Some(API_VERSION) {
                    let (l, c) = pos(v);
                    issues.push(Issue::new(
                        Some(at(l, c)),
                        None,
                        format!("apiVersion must be `{API_VERSION}`, got `{}`", text_value.unwrap_or_default()),
                    ));
                }
            }
            Some("kind") => {
                seen_kind = true;
                if text_value.as_deref() != Some(KIND) {
                    let (l, c) = pos(v);
                    issues.push(Issue::new(
                        Some(at(l, c)),
                        None,
                        format!(
                            "kind must be `{KIND}`, got `{}` (only an {KIND} resource is a configuration)",
                            text_value.unwrap_or_default()
                        ),
                    ));
                }
            }
            Some("metadata" | "status") => {}
            Some("spec") => spec = Some(v),
            other => issues.push(Issue::new(
                Some(at(l, c)),
                None,
                format!(
                    "unknown top-level key `{}` of an {KIND} resource (expected apiVersion, kind, metadata, spec)",
                    other.unwrap_or("?")
                ),
            )),
        }
    }
    for (seen, key) in [(seen_version, "apiVersion"), (seen_kind, "kind")] {
        if !seen {
            issues.push(Issue::new(Some(at(1, 1)), None, format!("an {KIND} resource needs `{key}`")));
        }
    }
    let mut walker = Walker { name: &name, layer: Layer { resource: true, ..Layer::default() }, issues };
    match spec {
        Some(s) if s.data.is_null() => {}
        Some(s) => match &s.data {
            YamlDataOwned::Mapping(m) => {
                let table = walker.mapping(m, &schema::root(), "");
                walker.layer.table = table;
            }
            _ => {
                let (l, c) = pos(s);
                walker.issues.push(Issue::new(Some(at(l, c)), Some("spec"), "spec must be a mapping".to_owned()));
            }
        },
        None => {}
    }
    walker.layer.set.sort_by_key(|(_, o)| (o.key.0, o.key.1));
    if walker.issues.is_empty() {
        Ok(walker.layer)
    } else {
        Err(walker.issues)
    }
}

/// 1-based line and column of a node.
fn pos(node: &MarkedYamlOwned) -> (usize, usize) {
    let m = node.span.start;
    (m.line(), m.col() + 1)
}

fn scalar_text(node: &MarkedYamlOwned) -> Option<String> {
    match &node.data {
        YamlDataOwned::Value(ScalarOwned::String(s)) => Some(s.clone()),
        YamlDataOwned::Value(ScalarOwned::Integer(i)) => Some(i.to_string()),
        YamlDataOwned::Value(ScalarOwned::FloatingPoint(f)) => Some(f.to_string()),
        YamlDataOwned::Value(ScalarOwned::Boolean(b)) => Some(b.to_string()),
        YamlDataOwned::Tagged(_, inner) => scalar_text(inner),
        _ => None,
    }
}

/// The node itself, without a tag.
fn untagged(node: &MarkedYamlOwned) -> &MarkedYamlOwned {
    match &node.data {
        YamlDataOwned::Tagged(_, inner) => untagged(inner),
        _ => node,
    }
}

/// `spec`, `spec.security.nts`, `spec.sources.servers[0]`: where a key is, in
/// the resource's terms.
fn display(path: &str) -> String {
    if path.is_empty() {
        "in spec".to_owned()
    } else {
        format!("in spec.{path}")
    }
}

struct Walker<'a> {
    name: &'a Arc<str>,
    layer: Layer,
    issues: Vec<Issue>,
}

impl Walker<'_> {
    fn origin(&self, key: &MarkedYamlOwned, value: &MarkedYamlOwned) -> Origin {
        Origin::file(self.name, pos(key), pos(value))
    }

    fn issue(&mut self, at: (usize, usize), path: &str, message: String) {
        let location = format!("{}:{}:{}", self.name, at.0, at.1);
        self.issues.push(Issue::new(Some(location), (!path.is_empty()).then_some(path), message));
    }

    fn mapping(
        &mut self,
        map: &saphyr::AnnotatedMappingOwned<MarkedYamlOwned>,
        node: &Node,
        path: &str,
    ) -> toml::Table {
        let mut out = toml::Table::new();
        for (k, v) in map {
            let v = untagged(v);
            let Some(key) = scalar_text(k) else {
                self.issue(pos(k), path, format!("keys must be strings {}", display(path)));
                continue;
            };
            let Some(canonical) = canonical_key(node, &key) else {
                let message = unknown_key_message(&key, node, false, &display(path));
                self.issue(pos(k), &join(path, &key), message);
                continue;
            };
            let child_path = join(path, &canonical);
            if out.contains_key(&canonical) {
                self.issue(
                    pos(k),
                    &child_path,
                    format!("{child_path} is set twice (as `{key}` and as another spelling of it)"),
                );
                continue;
            }
            let Some(child) = node.field(&canonical) else {
                continue;
            };
            if v.data.is_null() {
                // `key: null` or `key:` leaves the key unset, as Kubernetes does.
                continue;
            }
            let origin = self.origin(k, v);
            self.layer.origins.insert(child_path.clone(), origin.clone());
            let value = match (&v.data, &child.kind) {
                (YamlDataOwned::Mapping(m), Kind::Table(_)) => {
                    Some(toml::Value::Table(self.mapping(m, child, &child_path)))
                }
                (YamlDataOwned::Sequence(items), Kind::TableArray(elem)) => {
                    self.layer.set.push((child_path.clone(), origin));
                    let mut values = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let item = untagged(item);
                        let p = format!("{child_path}[{i}]");
                        self.layer.origins.insert(p.clone(), Origin::file(self.name, pos(item), pos(item)));
                        match &item.data {
                            YamlDataOwned::Mapping(m) => values.push(toml::Value::Table(self.mapping(m, elem, &p))),
                            _ => {
                                if let Some(v) = self.value(item, &p) {
                                    values.push(v);
                                }
                            }
                        }
                    }
                    Some(toml::Value::Array(values))
                }
                _ => {
                    self.layer.set.push((child_path.clone(), origin));
                    if let YamlDataOwned::Sequence(items) = &v.data {
                        for (i, item) in items.iter().enumerate() {
                            let o = Origin::file(self.name, pos(item), pos(item));
                            self.layer.origins.insert(format!("{child_path}[{i}]"), o);
                        }
                    }
                    self.value(v, &child_path)
                }
            };
            if let Some(value) = value {
                out.insert(canonical, value);
            }
        }
        out
    }

    /// A YAML value as TOML, without checking it against the key tree (the
    /// deserializer checks types and names the line through the origins).
    fn value(&mut self, node: &MarkedYamlOwned, path: &str) -> Option<toml::Value> {
        let node = untagged(node);
        match &node.data {
            YamlDataOwned::Value(ScalarOwned::String(s)) => Some(toml::Value::String(s.clone())),
            YamlDataOwned::Value(ScalarOwned::Integer(i)) => Some(toml::Value::Integer(*i)),
            YamlDataOwned::Value(ScalarOwned::FloatingPoint(f)) => Some(toml::Value::Float(f.into_inner())),
            YamlDataOwned::Value(ScalarOwned::Boolean(b)) => Some(toml::Value::Boolean(*b)),
            YamlDataOwned::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.value(item, &format!("{path}[{i}]"))?);
                }
                Some(toml::Value::Array(out))
            }
            YamlDataOwned::Mapping(m) => {
                let mut out = toml::Table::new();
                for (k, v) in m {
                    let key = scalar_text(k).unwrap_or_default();
                    out.insert(key.clone(), self.value(v, &join(path, &key))?);
                }
                Some(toml::Value::Table(out))
            }
            YamlDataOwned::Value(ScalarOwned::Null) => {
                self.issue(
                    pos(node),
                    path,
                    format!("{path}: null is only allowed as a whole key's value (meaning unset)"),
                );
                None
            }
            _ => {
                self.issue(pos(node), path, format!("{path}: not a value this configuration can hold"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert!(is_resource("a.yaml", ""));
        assert!(is_resource("a.YML", ""));
        assert!(is_resource("x", "# c\n\napiVersion: ntp.fos1.io/v1alpha1\n"));
        assert!(is_resource("x", "{\"kind\": \"NTPService\"}"));
        assert!(!is_resource("x.toml", "[network]\n"));
        assert!(!is_resource("x.conf", "# apiVersion: no\nstratum = 2\n"));
        assert!(is_resource("x", "metadata:\n  name: a\n"));
        assert!(!is_resource("x", "listen_address = \"[::1]:123\"\n"));
        assert!(!is_resource("x", "[ntp_server]\nstratum: 2\n"));
    }

    fn layer(text: &str) -> Result<Layer, String> {
        resource_layer("r.yaml", text).map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn spec_becomes_a_located_layer() {
        let l = layer(
            "apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nmetadata:\n  name: x\nspec:\n  monitoring:\n    sourcesMinimum: 3\n  sources:\n    servers:\n      - address: 192.0.2.1\n        minpoll: 4\n",
        )
        .unwrap();
        assert_eq!(l.table["monitoring"]["sources_minimum"], toml::Value::Integer(3));
        assert_eq!(l.locate("monitoring.sources_minimum").unwrap().at_value(), "r.yaml:7:21");
        assert_eq!(l.locate("sources.servers[0].minpoll").unwrap().at_value(), "r.yaml:11:18");
        assert_eq!(l.table["sources"]["servers"][0]["address"], toml::Value::String("192.0.2.1".into()));
    }

    #[test]
    fn unknown_keys_wrong_kinds_and_syntax_are_located() {
        let e =
            layer("apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nspec:\n  server:\n    stratm: 2\n").unwrap_err();
        assert_eq!(e, "r.yaml:5:5: unknown key `stratm` in spec.server (did you mean `stratum`?)");
        let e = layer("apiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert!(e.contains("r.yaml:1:13: apiVersion must be `ntp.fos1.io/v1alpha1`, got `v1`"), "{e}");
        assert!(e.contains("r.yaml:2:7: kind must be `NTPService`, got `ConfigMap`"), "{e}");
        let e = layer("kind: NTPService\nspec:\n  server: [1\n").unwrap_err();
        assert!(e.starts_with("r.yaml:"), "{e}");
        assert!(e.contains("invalid YAML"), "{e}");
        let e = layer("apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nspec:\n  a: 1\n  a: 2\n").unwrap_err();
        assert!(e.contains("invalid YAML") && e.contains("duplicated key"), "{e}");
        let e = layer("apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\n---\nkind: NTPService\n").unwrap_err();
        assert_eq!(e, "r.yaml:4:1: 2 YAML documents: a configuration file holds one NTPService resource");
    }

    #[test]
    fn null_means_unset_and_status_is_ignored() {
        let l = layer(
            "apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nspec:\n  server:\n    driftfile:\nstatus:\n  stratum: 2\n",
        )
        .unwrap();
        assert!(l.get("server.driftfile").is_none());
        assert!(l.set.is_empty());
    }
}
