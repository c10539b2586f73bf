//! Reads one configuration file into a [`Layer`]: parses it (with the INI
//! fix-up as a fallback), checks every key against the key tree (unknown keys
//! are errors with a "did you mean" suggestion), rewrites camelCase
//! spellings to snake_case and records the line and column of every key.

use std::sync::Arc;

use toml_edit::{ImDocument, Item, TableLike, Value};

use crate::error::Issue;
use crate::layer::{Layer, Origin};
use crate::lenient;
use crate::schema::{self, Kind, Node};
use crate::suggest;

/// Byte offsets to 1-based line and column (in characters).
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    fn pos(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        (line, col)
    }
}

/// Parses and checks one file. Warnings (INI fix-ups) are appended to
/// `warnings` even when the file has errors.
pub(crate) fn file_layer(name: &str, text: &str, warnings: &mut Vec<String>) -> Result<Layer, Vec<Issue>> {
    if crate::resource::is_resource(name, text) {
        return crate::resource::resource_layer(name, text);
    }
    let name: Arc<str> = Arc::from(name);
    let (doc, text) = match ImDocument::parse(text.to_owned()) {
        Ok(doc) => (doc, text.to_owned()),
        Err(original) => {
            let fixed = lenient::fix_up(text).and_then(|f| ImDocument::parse(f.text.clone()).ok().map(|d| (d, f)));
            match fixed {
                Some((doc, f)) => {
                    warnings.extend(f.changes.iter().map(|(line, msg)| format!("{name}:{line}: {msg}")));
                    (doc, f.text)
                }
                None => {
                    let lines = Lines::new(text);
                    let loc = original.span().map_or_else(
                        || name.to_string(),
                        |s| {
                            let (l, c) = lines.pos(s.start);
                            format!("{name}:{l}:{c}")
                        },
                    );
                    let msg = original.message().trim().replace('\n', "; ");
                    return Err(vec![Issue::new(Some(loc), None, format!("invalid TOML: {msg}"))]);
                }
            }
        }
    };
    let mut walker = Walker { name: &name, lines: Lines::new(&text), layer: Layer::default(), issues: Vec::new() };
    let root_origin = Origin::file(&name, (1, 1), (1, 1));
    let table = walker.table(doc.as_table(), &schema::root(), "", &root_origin);
    walker.layer.table = table;
    walker.layer.set.sort_by_key(|(_, o)| (o.key.0, o.key.1));
    if walker.issues.is_empty() {
        Ok(walker.layer)
    } else {
        Err(walker.issues)
    }
}

struct Walker<'a> {
    name: &'a Arc<str>,
    lines: Lines<'a>,
    layer: Layer,
    issues: Vec<Issue>,
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// `sources.servers[0].x` -> `sources.servers`, for naming the table in messages.
fn display_table(path: &str, in_array: bool) -> String {
    if path.is_empty() {
        "at the top level".to_owned()
    } else if in_array {
        let base = path.rsplit_once('[').map_or(path, |(b, _)| b);
        format!("in [[{base}]]")
    } else {
        format!("in [{path}]")
    }
}

impl Walker<'_> {
    fn pos(&self, span: Option<std::ops::Range<usize>>, fallback: (usize, usize)) -> (usize, usize) {
        span.map_or(fallback, |s| self.lines.pos(s.start))
    }

    fn table(&mut self, t: &dyn TableLike, node: &Node, path: &str, here: &Origin) -> toml::Table {
        let mut out = toml::Table::new();
        let in_array = path.ends_with(']');
        for (k, item) in t.iter() {
            let key_pos = self.pos(t.key(k).and_then(|key| key.span()), here.key);
            let Some(canonical) = canonical_key(node, k) else {
                self.unknown(k, item, node, path, in_array, key_pos);
                continue;
            };
            let child_path = join(path, &canonical);
            if out.contains_key(&canonical) {
                self.issues.push(Issue::new(
                    Some(format!("{}:{}:{}", self.name, key_pos.0, key_pos.1)),
                    Some(&child_path),
                    format!("{child_path} is set twice (as `{k}` and as another spelling of it)"),
                ));
                continue;
            }
            let Some(child) = node.field(&canonical) else {
                continue;
            };
            let value_pos = self.pos(item.span(), key_pos);
            let origin = Origin::file(self.name, key_pos, value_pos);
            self.layer.origins.insert(child_path.clone(), origin.clone());
            let value = match (item, &child.kind) {
                (Item::Table(sub), Kind::Table(_)) => {
                    Some(toml::Value::Table(self.table(sub, child, &child_path, &origin)))
                }
                (Item::Value(Value::InlineTable(sub)), Kind::Table(_)) => {
                    Some(toml::Value::Table(self.table(sub, child, &child_path, &origin)))
                }
                (Item::ArrayOfTables(arr), Kind::TableArray(elem)) => {
                    self.layer.set.push((child_path.clone(), origin.clone()));
                    let mut values = Vec::new();
                    for (i, sub) in arr.iter().enumerate() {
                        let p = format!("{child_path}[{i}]");
                        let pos = self.pos(sub.span(), key_pos);
                        let o = Origin::file(self.name, pos, pos);
                        self.layer.origins.insert(p.clone(), o.clone());
                        values.push(toml::Value::Table(self.table(sub, elem, &p, &o)));
                    }
                    Some(toml::Value::Array(values))
                }
                (Item::Value(Value::Array(arr)), Kind::TableArray(elem)) => {
                    self.layer.set.push((child_path.clone(), origin.clone()));
                    let mut values = Vec::new();
                    for (i, v) in arr.iter().enumerate() {
                        let p = format!("{child_path}[{i}]");
                        let pos = self.pos(v.span(), value_pos);
                        let o = Origin::file(self.name, pos, pos);
                        self.layer.origins.insert(p.clone(), o.clone());
                        match v {
                            Value::InlineTable(sub) => {
                                values.push(toml::Value::Table(self.table(sub, elem, &p, &o)));
                            }
                            other => values.push(convert_value(other)),
                        }
                    }
                    Some(toml::Value::Array(values))
                }
                (other, _) => {
                    self.layer.set.push((child_path.clone(), origin.clone()));
                    self.record_inner(other, &child_path, value_pos);
                    convert_item(other)
                }
            };
            if let Some(v) = value {
                out.insert(canonical, v);
            }
        }
        out
    }

    /// Origins of array elements inside a plain value, so that errors about
    /// `network.listen_address[1]` point at the element.
    fn record_inner(&mut self, item: &Item, path: &str, fallback: (usize, usize)) {
        if let Item::Value(Value::Array(arr)) = item {
            for (i, v) in arr.iter().enumerate() {
                let pos = self.pos(v.span(), fallback);
                self.layer.origins.insert(format!("{path}[{i}]"), Origin::file(self.name, pos, pos));
            }
        }
    }

    fn unknown(&mut self, k: &str, item: &Item, node: &Node, path: &str, in_array: bool, pos: (usize, usize)) {
        let is_section = path.is_empty() && matches!(item, Item::Table(_) | Item::ArrayOfTables(_));
        let message = unknown_key_message(k, node, is_section, &display_table(path, in_array));
        let key_path = join(path, k);
        self.issues.push(Issue::new(Some(format!("{}:{}:{}", self.name, pos.0, pos.1)), Some(&key_path), message));
    }
}

/// The key of the key tree that `k` names in `node`: itself, or its
/// snake_case form when written in camelCase.
pub(crate) fn canonical_key(node: &Node, k: &str) -> Option<String> {
    if node.field(k).is_some() {
        Some(k.to_owned())
    } else {
        let snake = suggest::snake_case(k);
        node.field(&snake).is_some().then_some(snake)
    }
}

/// `unknown key `k` in [table] (did you mean ...)`; `table` says where, e.g.
/// `in [network]`.
pub(crate) fn unknown_key_message(k: &str, node: &Node, is_section: bool, table: &str) -> String {
    let candidates = node.fields().iter().map(|(n, _)| n.as_str());
    let hint = match suggest::did_you_mean(k, candidates) {
        Some(s) if is_section => format!(" (did you mean `[{s}]`?)"),
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => suggest::elsewhere(k).map(|p| format!(" (`{k}` belongs in {p})")).unwrap_or_default(),
    };
    if is_section {
        format!("unknown section `[{k}]`{hint}")
    } else {
        format!("unknown key `{k}` {table}{hint}")
    }
}

/// Converts a parsed item without checking it against the key tree.
fn convert_item(item: &Item) -> Option<toml::Value> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(convert_value(v)),
        Item::Table(t) => Some(convert_table(t)),
        Item::ArrayOfTables(a) => Some(toml::Value::Array(a.iter().map(|t| convert_table(t)).collect())),
    }
}

fn convert_table(t: &dyn TableLike) -> toml::Value {
    toml::Value::Table(t.iter().filter_map(|(k, v)| convert_item(v).map(|v| (k.to_owned(), v))).collect())
}

fn convert_value(v: &Value) -> toml::Value {
    match v {
        Value::String(s) => toml::Value::String(s.value().clone()),
        Value::Integer(i) => toml::Value::Integer(*i.value()),
        Value::Float(f) => toml::Value::Float(*f.value()),
        Value::Boolean(b) => toml::Value::Boolean(*b.value()),
        Value::Datetime(d) => toml::Value::Datetime(*d.value()),
        Value::Array(a) => toml::Value::Array(a.iter().map(convert_value).collect()),
        Value::InlineTable(t) => convert_table(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let l = Lines::new("ab\ncdé\n\nx");
        assert_eq!(l.pos(0), (1, 1));
        assert_eq!(l.pos(3), (2, 1));
        assert_eq!(l.pos(5), (2, 3));
        assert_eq!(l.pos(8), (3, 1));
        assert_eq!(l.pos(9), (4, 1));
    }

    #[test]
    fn unknown_key_with_suggestion_and_position() {
        let mut w = Vec::new();
        let err = file_layer("x.toml", "[network]\n\nlisten_adress = \"::\"\n", &mut w).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "x.toml:3:1: unknown key `listen_adress` in [network] (did you mean `listen_address`?)"
        );
    }

    #[test]
    fn camel_case_is_renamed_and_located() {
        let mut w = Vec::new();
        let l = file_layer("c.toml", "[monitoring]\nsourcesMinimum = 3\n", &mut w).unwrap();
        assert_eq!(l.table["monitoring"]["sources_minimum"], toml::Value::Integer(3));
        let o = l.locate("monitoring.sources_minimum").unwrap();
        assert_eq!(o.at_value(), "c.toml:2:18");
        assert_eq!(l.set[0].0, "monitoring.sources_minimum");
    }

    #[test]
    fn syntax_error_is_located() {
        let mut w = Vec::new();
        let err = file_layer("s.toml", "[network\nlisten_port = 1\n", &mut w).unwrap_err();
        assert!(err[0].to_string().starts_with("s.toml:1:"), "{}", err[0]);
    }
}
