//! The CRDs: deploy/kubernetes/crd is the generated output, the schemas are
//! structural, every configuration key of the model is in the NTPService
//! schema (so it cannot be a hand-kept copy), and seed 002's example
//! validates against it while wrong types and ranges are refused.
//! `UPDATE_CRDS=1 cargo test -p ntp-operator --test crd` rewrites the files.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::PathBuf;

use serde_json::{json, Value};

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/crd")
}

fn seed_002() -> Value {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed002/ntpservice.yaml"),
    )
    .unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn schema(crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition) -> Value {
    serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()).unwrap()
}

#[test]
fn deploy_kubernetes_crd_is_the_generated_output() {
    let files = ntp_operator::crd::files().unwrap();
    assert_eq!(files.len(), 2);
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1");
    for (name, text) in files {
        let path = crd_dir().join(name);
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == text,
            "{} differs from the CRD generated from the configuration model; regenerate it with \
             `UPDATE_CRDS=1 cargo test -p ntp-operator --test crd` (or `simple-ntpd crd`)",
            path.display()
        );
    }
}

/// Every rule of a structural schema that a hand-written or careless
/// generated one breaks.
fn assert_structural(node: &Value, path: &str) {
    let o = node.as_object().unwrap_or_else(|| panic!("{path}: not an object"));
    assert!(o.contains_key("type"), "{path}: no type");
    for forbidden in ["$ref", "anyOf", "oneOf", "allOf", "not", "definitions", "$schema"] {
        assert!(!o.contains_key(forbidden), "{path}: {forbidden}");
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        assert!(!o.contains_key("additionalProperties"), "{path}: properties and additionalProperties");
        for (k, v) in props {
            assert!(!k.contains('_'), "{path}.{k}: not camelCase");
            assert_structural(v, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = o.get("items") {
        assert_structural(items, &format!("{path}[]"));
    }
    if let Some(map) = o.get("additionalProperties") {
        assert_structural(map, &format!("{path}.*"));
    }
    if let Some(d) = o.get("default") {
        assert!(!d.is_object() && !d.is_null(), "{path}: object or null default");
    }
}

#[test]
fn schemas_are_structural_with_types_ranges_enums_defaults() {
    for (name, crd) in ntp_operator::crd::all().unwrap() {
        let s = schema(&crd);
        assert_structural(&s, name);
        let v = &crd.spec.versions[0];
        assert!(v.served && v.storage);
        assert_eq!(crd.spec.scope, "Namespaced");
    }
    let crd = ntp_operator::crd::ntpservices().unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("ntpservices.ntp.fos1.io"));
    assert_eq!(crd.spec.names.short_names, Some(vec!["ntp".to_owned()]));
    let v = &crd.spec.versions[0];
    assert!(v.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<&str> = v.additional_printer_columns.as_ref().unwrap().iter().map(|c| c.name.as_str()).collect();
    for c in ["Stratum", "Synchronised", "Sources", "Age"] {
        assert!(columns.contains(&c), "{columns:?}");
    }
    let spec = &schema(&crd)["properties"]["spec"]["properties"];
    let pools = &spec["sources"]["properties"]["pools"]["items"]["properties"]["servers"];
    assert_eq!(
        (pools["minimum"].as_f64(), pools["maximum"].as_f64(), pools["default"].as_i64()),
        (Some(1.0), Some(16.0), Some(4))
    );
    assert_eq!(spec["clock"]["properties"]["discipline"]["enum"], json!(["auto", "system", "virtual", "none"]));
    assert_eq!(spec["network"]["properties"]["listenPort"]["maximum"].as_f64(), Some(65535.0));
    assert_eq!(
        spec["enabled"],
        json!({"type": "boolean", "default": true, "description": spec["enabled"]["description"]})
    );
    assert_eq!(spec["vlanConfig"]["items"]["required"], json!(["vlanRef"]));
    // One setting, two spellings: no default that would contradict server.stratum.
    assert!(spec["ntpServer"]["properties"]["stratum"].get("default").is_none());
    assert_eq!(schema(&crd)["required"], json!(["spec"]));
    let status = &schema(&crd)["properties"]["status"]["properties"];
    for field in ["observedGeneration", "conditions", "stratum", "synchronised", "sources", "offsetSeconds"] {
        assert!(status.get(field).is_some(), "status.{field}");
    }
}

/// Every key of ntp-config's schema, as camelCase paths.
fn model_keys(node: &Value, defs: &Value, prefix: &str, out: &mut Vec<String>) {
    let node = resolve(node, defs);
    let node = match node.get("items") {
        Some(items) => resolve(items, defs),
        None => node,
    };
    for (k, v) in node.get("properties").and_then(Value::as_object).into_iter().flatten() {
        let path = format!("{prefix}{}", ntp_config::camel_case(k));
        out.push(path.clone());
        model_keys(v, defs, &format!("{path}."), out);
    }
}

/// Follows `$ref`, single `allOf` wrappers and `Option`'s `anyOf [T, null]`.
fn resolve(node: &Value, defs: &Value) -> Value {
    if let Some(one) = node.get("allOf").and_then(|a| a.get(0)) {
        return resolve(one, defs);
    }
    if let Some(alts) = node.get("anyOf").and_then(Value::as_array) {
        let some: Vec<&Value> = alts.iter().filter(|a| a.get("type") != Some(&json!("null"))).collect();
        if let [one] = some.as_slice() {
            return resolve(one, defs);
        }
    }
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(&defs[r.rsplit('/').next().unwrap()], defs),
        None => node.clone(),
    }
}

fn crd_has(schema: &Value, path: &str) -> bool {
    let mut node = schema;
    for part in path.split('.') {
        if let Some(items) = node.get("items") {
            node = items;
        }
        match node.get("properties").and_then(|p| p.get(part)) {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

#[test]
fn every_configuration_key_is_in_the_ntpservice_schema() {
    let model = serde_json::to_value(ntp_config::json_schema()).unwrap();
    let mut keys = Vec::new();
    model_keys(&model, &model["definitions"], "", &mut keys);
    assert!(keys.len() > 100, "{}", keys.len());
    let spec = schema(&ntp_operator::crd::ntpservices().unwrap())["properties"]["spec"].clone();
    let missing: Vec<&String> = keys.iter().filter(|k| !crd_has(&spec, k)).collect();
    assert!(missing.is_empty(), "keys of the model missing in the CRD: {missing:?}");
    for k in
        ["sources.hardware.gps.refclock", "security.authentication.keys.type", "kubernetes.nts.certManager.dnsNames"]
    {
        assert!(keys.iter().any(|m| m == k), "{k}");
    }
}

#[test]
fn seed_002_validates_and_wrong_values_are_refused() {
    let crd = ntp_operator::crd::ntpservices().unwrap();
    let validator = jsonschema::validator_for(&schema(&crd)).unwrap();
    let seed = seed_002();
    let errors: Vec<String> = validator.iter_errors(&seed).map(|e| format!("{}: {e}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let refused = |pointer: &str, value: Value| {
        let mut bad = seed.clone();
        *bad.pointer_mut(pointer).unwrap() = value.clone();
        assert!(!validator.is_valid(&bad), "{pointer} = {value} was accepted");
    };
    refused("/spec/server/stratum", json!("two"));
    refused("/spec/server/stratum", json!(16));
    refused("/spec/sources/pools/0/servers", json!(17));
    refused("/spec/security/access/0/permission", json!("maybe"));
    refused("/spec/enabled", json!("yes"));
    let clients = ntp_operator::crd::ntpclients().unwrap();
    let validator = jsonschema::validator_for(&schema(&clients)).unwrap();
    let client = json!({"apiVersion": "ntp.fos1.io/v1alpha1", "kind": "NTPClient", "metadata": {"name": "iot"},
        "spec": {"serviceRef": "main-ntp", "networks": ["192.168.20.0/24"], "permission": "allow", "requireAuthentication": true}});
    assert!(validator.is_valid(&client));
    assert!(!validator.is_valid(&json!({"spec": {"networks": []}})), "serviceRef is required");
}
