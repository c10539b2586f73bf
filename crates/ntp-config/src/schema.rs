//! The key tree of the configuration, read from the schemars schema of
//! [`Config`]: every valid key path, its type, range, default and doc text.
//! Unknown-key checks, environment variable names, range validation, error
//! wording and the reference document all come from this one tree, so the
//! structs in `model.rs` are the only list of keys.

use std::sync::{Arc, Mutex, Weak};

use schemars::schema::{InstanceType, Schema, SchemaObject, SingleOrVec};
use serde_json::Value;

use crate::model::Config;

/// One key (or table) of the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The doc comment text.
    pub description: String,
    /// The default value, when the key has one.
    pub default: Option<Value>,
    /// The key must be present (only inside arrays of tables).
    pub required: bool,
    /// The key may be left unset (an `Option`).
    pub optional: bool,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A table with its keys, in declaration order.
    Table(Vec<(String, Node)>),
    /// An array of tables; the node describes one element (a `Table`).
    TableArray(Box<Node>),
    /// A value.
    Leaf(Leaf),
}

#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub ty: LeafType,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Allowed values of a string enumeration, with the doc of each.
    pub choices: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafType {
    String,
    Integer,
    Number,
    Boolean,
    StringList,
    IntegerList,
    StringOrList,
    /// A table of string values with free keys (e.g. a Kubernetes node selector).
    StringMap,
    Other,
}

impl Node {
    /// The keys of a table node (empty for other nodes).
    pub fn fields(&self) -> &[(String, Node)] {
        match &self.kind {
            Kind::Table(f) => f,
            _ => &[],
        }
    }

    pub fn field(&self, name: &str) -> Option<&Node> {
        self.fields().iter().find(|(n, _)| n == name).map(|(_, n)| n)
    }

    #[cfg(test)]
    pub fn leaf(&self) -> Option<&Leaf> {
        match &self.kind {
            Kind::Leaf(l) => Some(l),
            _ => None,
        }
    }

    /// A short human description of the accepted values, e.g. `an integer 1..=15`.
    pub fn expected(&self) -> String {
        match &self.kind {
            Kind::Table(_) => "a table".to_owned(),
            Kind::TableArray(_) => "a list of tables".to_owned(),
            Kind::Leaf(l) => match l.ty {
                LeafType::Integer => format!("an integer{}", range_suffix(l.min, l.max)),
                LeafType::Number => format!("a number{}", range_suffix(l.min, l.max)),
                LeafType::Boolean => "a boolean (true or false)".to_owned(),
                LeafType::String if !l.choices.is_empty() => format!(
                    "one of {}",
                    l.choices.iter().map(|(c, _)| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
                ),
                LeafType::String => "a string".to_owned(),
                LeafType::StringList => "a list of strings".to_owned(),
                LeafType::IntegerList => "a list of integers".to_owned(),
                LeafType::StringOrList => "a string or a list of strings".to_owned(),
                LeafType::StringMap => "a table of strings".to_owned(),
                LeafType::Other => "a value of the documented type".to_owned(),
            },
        }
    }
}

/// ` 1..=15`, ` >= 0`, ...; empty when unbounded.
pub(crate) fn range_text(min: Option<f64>, max: Option<f64>) -> Option<String> {
    match (min, max) {
        (Some(a), Some(b)) => Some(format!("{}..={}", num(a), num(b))),
        (Some(a), None) => Some(format!(">= {}", num(a))),
        (None, Some(b)) => Some(format!("<= {}", num(b))),
        (None, None) => None,
    }
}

fn range_suffix(min: Option<f64>, max: Option<f64>) -> String {
    range_text(min, max).map(|r| format!(" {r}")).unwrap_or_default()
}

/// Formats a bound without a needless `.0`.
pub(crate) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The key tree while someone holds it.
static SHARED: Mutex<Weak<Node>> = Mutex::new(Weak::new());

/// True while a key tree is built and held (see [`root`]).
pub(crate) fn is_built() -> bool {
    SHARED.lock().unwrap_or_else(|e| e.into_inner()).strong_count() > 0
}

/// The root of the key tree (the `Config` table).
///
/// The tree (≈ 60 kB of strings, defaults and doc text) is needed only while
/// a configuration is read, checked or documented, so it is not kept for the
/// life of the process: it is built on first use and shared by everyone
/// holding it at the time (a load holds it from start to end, see
/// [`crate::load`]), then freed with the last holder. A daemon idling
/// between reloads does not carry it; a reload builds it again (a few
/// milliseconds).
pub(crate) fn root() -> Arc<Node> {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(root) = shared.upgrade() {
        return root;
    }
    let schema = schemars::schema_for!(Config);
    let root = Arc::new(build(&schema.schema, &schema.definitions, 0));
    *shared = Arc::downgrade(&root);
    root
}

/// A path split into key names and array positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Key(&'a str),
    Index,
}

/// Splits `sources.servers[0].minpoll` (or `sources.servers[].minpoll`).
pub(crate) fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        out.extend(rest.matches('[').map(|_| Segment::Index));
    }
    out
}

/// The node at a dotted path below `root`; array positions may be written `[n]` or `[]`.
pub(crate) fn node_at<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for seg in segments(path) {
        node = match (seg, &node.kind) {
            (Segment::Key(k), Kind::Table(_)) => node.field(k)?,
            (Segment::Index, Kind::TableArray(elem)) => elem,
            _ => return None,
        };
    }
    Some(node)
}

/// Every node below the root in declaration order, with its path (array
/// elements written `name[]`) and whether it lies inside an array of tables.
pub(crate) fn all_nodes(root: &Node) -> Vec<(String, &Node, bool)> {
    fn rec<'a>(node: &'a Node, prefix: &str, in_array: bool, out: &mut Vec<(String, &'a Node, bool)>) {
        for (name, child) in node.fields() {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            out.push((path.clone(), child, in_array));
            match &child.kind {
                Kind::Table(_) => rec(child, &path, in_array, out),
                Kind::TableArray(elem) => rec(elem, &format!("{path}[]"), true, out),
                Kind::Leaf(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    rec(root, "", false, &mut out);
    out
}

const MAX_DEPTH: usize = 32;

type Defs = schemars::Map<String, Schema>;

fn build(s: &SchemaObject, defs: &Defs, depth: usize) -> Node {
    let description = describe(s);
    let default = s.metadata.as_ref().and_then(|m| m.default.clone());
    let wrap = |inner: Node| Node {
        description: if description.is_empty() { inner.description.clone() } else { description.clone() },
        default: default.clone().or_else(|| inner.default.clone()),
        ..inner
    };
    if depth > MAX_DEPTH {
        return other(description, default);
    }
    let sub = s.subschemas.as_deref();
    if let Some([one]) = sub.and_then(|x| x.all_of.as_deref()) {
        return wrap(build(&one.clone().into_object(), defs, depth + 1));
    }
    if let Some(r) = &s.reference {
        let name = r.rsplit('/').next().unwrap_or_default();
        return match defs.get(name) {
            Some(target) => wrap(build(&target.clone().into_object(), defs, depth + 1)),
            None => other(description, default),
        };
    }
    if let Some(any) = sub.and_then(|x| x.any_of.as_deref()) {
        let objects: Vec<SchemaObject> = any.iter().map(|a| a.clone().into_object()).collect();
        let is_null =
            |o: &SchemaObject| matches!(&o.instance_type, Some(SingleOrVec::Single(t)) if **t == InstanceType::Null);
        let alts: Vec<&SchemaObject> = objects.iter().filter(|o| !is_null(o)).collect();
        if alts.len() == 1 && alts.len() < objects.len() {
            let mut n = wrap(build(alts[0], defs, depth + 1));
            n.optional = true;
            return n;
        }
        let kinds: Vec<LeafType> = alts
            .iter()
            .map(|a| match build(a, defs, depth + 1).kind {
                Kind::Leaf(l) => l.ty,
                _ => LeafType::Other,
            })
            .collect();
        let ty = if kinds.contains(&LeafType::String) && kinds.contains(&LeafType::StringList) {
            LeafType::StringOrList
        } else {
            LeafType::Other
        };
        return leaf(description, default, ty, None, None, Vec::new());
    }
    if let Some(one) = sub.and_then(|x| x.one_of.as_deref()) {
        let mut choices = Vec::new();
        for alt in one {
            let alt = alt.clone().into_object();
            let Some(values) = &alt.enum_values else {
                return other(description, default);
            };
            let doc = describe(&alt);
            for v in values {
                choices.push((v.as_str().unwrap_or_default().to_owned(), doc.clone()));
            }
        }
        return leaf(description, default, LeafType::String, None, None, choices);
    }
    let (ty, optional) = match &s.instance_type {
        Some(SingleOrVec::Single(t)) => (Some(**t), false),
        Some(SingleOrVec::Vec(ts)) => {
            let non_null: Vec<InstanceType> = ts.iter().copied().filter(|t| *t != InstanceType::Null).collect();
            match non_null.as_slice() {
                [t] => (Some(*t), non_null.len() < ts.len()),
                _ => (None, false),
            }
        }
        None => (None, false),
    };
    let mut node = match ty {
        Some(InstanceType::Object) if is_string_map(s) => {
            leaf(description, default, LeafType::StringMap, None, None, vec![])
        }
        Some(InstanceType::Object) => {
            let fields = s
                .object
                .as_deref()
                .map(|o| {
                    o.properties
                        .iter()
                        .map(|(k, v)| {
                            let mut n = build(&v.clone().into_object(), defs, depth + 1);
                            n.required = o.required.contains(k);
                            (k.clone(), n)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Node { description, default, required: false, optional: false, kind: Kind::Table(fields) }
        }
        Some(InstanceType::Array) => {
            let item = match s.array.as_deref().and_then(|a| a.items.as_ref()) {
                Some(SingleOrVec::Single(i)) => Some(build(&i.clone().into_object(), defs, depth + 1)),
                _ => None,
            };
            match item {
                Some(n) if matches!(n.kind, Kind::Table(_)) => {
                    Node { description, default, required: false, optional: false, kind: Kind::TableArray(Box::new(n)) }
                }
                Some(Node { kind: Kind::Leaf(Leaf { ty: LeafType::String, .. }), .. }) => {
                    leaf(description, default, LeafType::StringList, None, None, vec![])
                }
                Some(Node { kind: Kind::Leaf(Leaf { ty: LeafType::Integer, .. }), .. }) => {
                    leaf(description, default, LeafType::IntegerList, None, None, vec![])
                }
                _ => other(description, default),
            }
        }
        Some(InstanceType::String) => {
            let choices = s
                .enum_values
                .iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|v| (v.to_owned(), String::new()))
                .collect();
            leaf(description, default, LeafType::String, None, None, choices)
        }
        Some(t @ (InstanceType::Integer | InstanceType::Number)) => {
            let (fmin, fmax) = format_bounds(s.format.as_deref());
            let emin = s.number.as_deref().and_then(|n| n.minimum);
            let emax = s.number.as_deref().and_then(|n| n.maximum);
            let min = match (emin, fmin) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let max = match (emax, fmax) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let t = if t == InstanceType::Integer { LeafType::Integer } else { LeafType::Number };
            leaf(description, default, t, min, max, vec![])
        }
        Some(InstanceType::Boolean) => leaf(description, default, LeafType::Boolean, None, None, vec![]),
        _ => other(description, default),
    };
    node.optional = optional;
    node
}

/// An object with no declared properties whose values are all strings.
fn is_string_map(s: &SchemaObject) -> bool {
    let Some(o) = s.object.as_deref() else {
        return false;
    };
    let values_are_strings = match o.additional_properties.as_deref() {
        Some(Schema::Object(v)) => {
            matches!(&v.instance_type, Some(SingleOrVec::Single(t)) if **t == InstanceType::String)
        }
        _ => false,
    };
    o.properties.is_empty() && values_are_strings
}

fn describe(s: &SchemaObject) -> String {
    let Some(m) = s.metadata.as_deref() else {
        return String::new();
    };
    match (m.title.as_deref(), m.description.as_deref()) {
        (Some(t), Some(d)) => format!("{t}\n\n{d}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => String::new(),
    }
}

fn leaf(
    description: String,
    default: Option<Value>,
    ty: LeafType,
    min: Option<f64>,
    max: Option<f64>,
    choices: Vec<(String, String)>,
) -> Node {
    Node { description, default, required: false, optional: false, kind: Kind::Leaf(Leaf { ty, min, max, choices }) }
}

fn other(description: String, default: Option<Value>) -> Node {
    leaf(description, default, LeafType::Other, None, None, vec![])
}

fn format_bounds(format: Option<&str>) -> (Option<f64>, Option<f64>) {
    match format {
        Some("uint8") => (Some(0.0), Some(u8::MAX as f64)),
        Some("uint16") => (Some(0.0), Some(u16::MAX as f64)),
        Some("uint32") => (Some(0.0), Some(u32::MAX as f64)),
        Some("uint64" | "uint") => (Some(0.0), None),
        Some("int8") => (Some(i8::MIN as f64), Some(i8::MAX as f64)),
        Some("int16") => (Some(i16::MIN as f64), Some(i16::MAX as f64)),
        Some("int32") => (Some(i32::MIN as f64), Some(i32::MAX as f64)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_has_the_documented_shape() {
        let root = root();
        let node_at = |path| node_at(&root, path);
        let port = node_at("network.listen_port").unwrap();
        assert_eq!(port.expected(), "an integer 0..=65535");
        assert_eq!(port.default, Some(Value::from(123)));
        let stratum = node_at("ntp_server.stratum").unwrap();
        assert_eq!(stratum.expected(), "an integer 1..=15");
        assert_eq!(node_at("network.listen_address").unwrap().leaf().unwrap().ty, LeafType::StringOrList);
        assert!(matches!(node_at("sources.servers").unwrap().kind, Kind::TableArray(_)));
        let minpoll = node_at("sources.servers[3].minpoll").unwrap();
        assert_eq!(minpoll.expected(), "an integer 0..=17");
        assert!(node_at("sources.servers[].address").unwrap().required);
        assert!(node_at("server.stratum").unwrap().optional);
        assert_eq!(node_at("logging.output").unwrap().expected(), "one of \"console\", \"file\"");
        assert_eq!(node_at("logging.level").unwrap().leaf().unwrap().choices.len(), 8);
        assert!(node_at("network.nope").is_none());
        for (path, node, _) in all_nodes(&root) {
            assert!(!node.description.is_empty(), "{path} has no doc comment");
            if let Kind::Leaf(l) = &node.kind {
                assert_ne!(l.ty, LeafType::Other, "{path} has an unrecognised type");
            }
        }
    }
}
