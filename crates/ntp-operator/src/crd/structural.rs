//! Turns a schemars (OpenAPI 3) schema into a structural schema, the only
//! kind a CustomResourceDefinition accepts: every node has a `type`; no
//! `$ref`, `anyOf` or `oneOf`; `additionalProperties` only for maps;
//! property names in the resource's camelCase; integer formats become
//! ranges. Defaults are kept for values, not for whole objects (the API
//! server would otherwise write every table of defaults into every stored
//! resource).

use serde_json::{Map, Value};

/// Keys whose schema default is left out because writing it would change
/// what the resource means: `ntpServer.stratum` is one setting with
/// `server.stratum`, and a default written next to the other spelling would
/// conflict with it.
const NO_DEFAULT: &[&str] = &["ntp_server.stratum"];

/// Integer formats with the range they imply; CRDs know only int32 and int64.
const INTEGER_FORMATS: &[(&str, f64, f64)] = &[
    ("int8", i8::MIN as f64, i8::MAX as f64),
    ("uint8", 0.0, u8::MAX as f64),
    ("int16", i16::MIN as f64, i16::MAX as f64),
    ("uint16", 0.0, u16::MAX as f64),
    ("int32", i32::MIN as f64, i32::MAX as f64),
    ("uint32", 0.0, u32::MAX as f64),
    ("uint", 0.0, f64::INFINITY),
    ("uint64", 0.0, f64::INFINITY),
];

/// Why a schema cannot be made structural.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct NotStructural {
    /// The dotted path of the node.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The structural form of `schema`; `path` is its dotted key path (empty
/// for the root), used for [`NO_DEFAULT`] and errors.
pub fn structural(schema: &Value, path: &str) -> Result<Value, NotStructural> {
    let fail = |message: &str| NotStructural { path: path.to_owned(), message: message.to_owned() };
    let node = schema.as_object().ok_or_else(|| fail("not a schema object"))?;
    if node.contains_key("$ref") {
        return Err(fail("a $ref (a recursive type) cannot be inlined"));
    }
    let mut out = Map::new();
    if let Some(alts) = node.get("oneOf").or_else(|| node.get("anyOf")).and_then(Value::as_array) {
        out = alternatives(alts, path)?;
    }
    for (k, v) in node {
        match k.as_str() {
            "description" | "nullable" | "minLength" | "maxLength" | "pattern" | "minItems" | "maxItems" => {
                out.insert(k.clone(), v.clone());
            }
            "type" | "enum" | "minimum" | "maximum" => {
                out.insert(k.clone(), v.clone());
            }
            "format" => {}
            "default" => {
                if keeps_default(v, path) {
                    out.insert(k.clone(), camel_keys(v));
                }
            }
            "properties" => {
                let mut props = Map::new();
                for (name, child) in v.as_object().into_iter().flatten() {
                    let child_path = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                    props.insert(ntp_config::camel_case(name), structural(child, &child_path)?);
                }
                out.insert("properties".to_owned(), Value::Object(props));
            }
            "required" => {
                let names: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|n| Value::String(ntp_config::camel_case(n)))
                    .collect();
                out.insert("required".to_owned(), Value::Array(names));
            }
            "items" => {
                out.insert("items".to_owned(), structural(v, &format!("{path}[]"))?);
            }
            "additionalProperties" => {
                let is_map = !node.contains_key("properties") && v.is_object();
                if is_map {
                    out.insert(k.clone(), structural(v, &format!("{path}.*"))?);
                }
            }
            "oneOf" | "anyOf" | "$schema" | "title" | "definitions" | "examples" | "readOnly" | "writeOnly" => {}
            other => return Err(fail(&format!("unexpected schema keyword `{other}`"))),
        }
    }
    integer_format(node, &mut out);
    if !out.contains_key("type") {
        return Err(fail("no type"));
    }
    Ok(Value::Object(out))
}

/// `oneOf` of string enumerations (one enum), or `anyOf` of a value and a
/// list of it (the list: the resource spells it as a list).
fn alternatives(alts: &[Value], path: &str) -> Result<Map<String, Value>, NotStructural> {
    let fail = |message: String| NotStructural { path: path.to_owned(), message };
    let is_string_enum =
        |a: &Value| a.get("type") == Some(&Value::from("string")) && a.get("enum").is_some_and(Value::is_array);
    if alts.iter().all(is_string_enum) {
        let values: Vec<Value> = alts.iter().filter_map(|a| a.get("enum")?.as_array().cloned()).flatten().collect();
        let mut out = Map::new();
        out.insert("type".to_owned(), Value::from("string"));
        out.insert("enum".to_owned(), Value::Array(values));
        return Ok(out);
    }
    let list = alts.iter().find(|a| a.get("type") == Some(&Value::from("array")));
    match list {
        Some(list) => structural(list, path)?
            .as_object()
            .cloned()
            .ok_or_else(|| fail("the list alternative is not an object".to_owned())),
        None => Err(fail(format!("alternatives without a structural form: {}", Value::from(alts.to_vec())))),
    }
}

/// Leaf defaults only, never `null`, and not for [`NO_DEFAULT`] keys.
fn keeps_default(v: &Value, path: &str) -> bool {
    !v.is_null() && !v.is_object() && !NO_DEFAULT.contains(&path)
}

/// Object keys inside a default value in camelCase.
fn camel_keys(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (ntp_config::camel_case(k), camel_keys(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(camel_keys).collect()),
        other => other.clone(),
    }
}

/// Integer formats as `minimum`/`maximum` (narrowed, never widened), and
/// whole-number bounds written as integers.
fn integer_format(node: &Map<String, Value>, out: &mut Map<String, Value>) {
    let Some(format) = node.get("format").and_then(Value::as_str) else {
        return;
    };
    if format == "double" || format == "float" {
        return;
    }
    let Some((_, lo, hi)) = INTEGER_FORMATS.iter().find(|(f, _, _)| *f == format) else {
        return;
    };
    let min = out.get("minimum").and_then(Value::as_f64).map_or(*lo, |m| m.max(*lo));
    let max = out.get("maximum").and_then(Value::as_f64).map_or(*hi, |m| m.min(*hi));
    out.insert("minimum".to_owned(), Value::from(min as i64));
    if max.is_finite() {
        out.insert("maximum".to_owned(), Value::from(max as i64));
    }
    if format == "int32" {
        out.insert("format".to_owned(), Value::from("int32"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enums_lists_maps_and_ranges() {
        let enum_ = json!({"description": "d", "default": "auto", "oneOf": [
            {"description": "a", "type": "string", "enum": ["auto"]},
            {"description": "b", "type": "string", "enum": ["system"]}]});
        assert_eq!(
            structural(&enum_, "clock.discipline").unwrap(),
            json!({"type": "string", "enum": ["auto", "system"], "description": "d", "default": "auto"})
        );
        let one_or_many = json!({"default": ["0.0.0.0"], "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]});
        assert_eq!(
            structural(&one_or_many, "x").unwrap(),
            json!({"type": "array", "items": {"type": "string"}, "default": ["0.0.0.0"]})
        );
        let table = json!({"type": "object", "default": {"listen_port": 123}, "additionalProperties": false,
            "required": ["listen_port"],
            "properties": {"listen_port": {"type": "integer", "format": "uint16", "default": 123}}});
        assert_eq!(
            structural(&table, "network").unwrap(),
            json!({"type": "object", "required": ["listenPort"], "properties": {
                "listenPort": {"type": "integer", "minimum": 0, "maximum": 65535, "default": 123}}})
        );
        let narrowed = json!({"type": "integer", "format": "uint8", "minimum": 1.0, "maximum": 15.0, "nullable": true});
        assert_eq!(
            structural(&narrowed, "server.stratum").unwrap(),
            json!({"type": "integer", "minimum": 1, "maximum": 15, "nullable": true})
        );
        let map = json!({"type": "object", "additionalProperties": {"type": "string"}, "default": {}});
        assert_eq!(
            structural(&map, "m").unwrap(),
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        );
        assert_eq!(
            structural(&json!({"type": "integer", "default": 10}), "ntp_server.stratum").unwrap(),
            json!({"type": "integer"})
        );
        assert!(structural(&json!({"description": "untyped"}), "u").is_err());
        assert!(structural(&json!({"$ref": "#/x"}), "r").is_err());
    }
}
