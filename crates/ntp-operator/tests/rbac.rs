//! deploy/kubernetes/operator/rbac.yaml grants what the controller does and
//! no more: apply (create, patch) and prune (delete) every kind the renderer
//! produces, read the resources and write only their status, list pods,
//! publish events; no wildcard, no access to Secrets beyond get and the
//! writes of the keys Secret, never `list`/`watch` on Secrets.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use ntp_operator::render::render;
use ntp_operator::NtpService;
use serde_json::{json, Value};

fn rules() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/kubernetes/operator/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let role = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .find(|d| d["kind"] == "ClusterRole")
        .unwrap();
    role["rules"].as_array().unwrap().clone()
}

fn allows(rules: &[Value], group: &str, resource: &str, verb: &str) -> bool {
    let has = |list: &Value, item: &str| list.as_array().unwrap().iter().any(|v| v == item);
    rules.iter().any(|r| has(&r["apiGroups"], group) && has(&r["resources"], resource) && has(&r["verbs"], verb))
}

fn rendered_kinds() -> Vec<(String, String)> {
    let seed: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed002/ntpservice.yaml"))
            .unwrap(),
    )
    .unwrap();
    let seed: NtpService = serde_json::from_value(seed).unwrap();
    let serving = NtpService::new(
        "ntp",
        "edge",
        json!({
            "security": {"nts": {"enabled": true}},
            "kubernetes": {"workload": "Deployment", "replicas": 2, "maxReplicas": 4,
                           "nts": {"certManager": {"issuerName": "ca", "dnsNames": ["ntp.example.net"]}}},
        }),
    );
    let mut kinds = Vec::new();
    for s in [seed, serving] {
        for o in render(&s, &[]).unwrap().objects {
            kinds.push((o.api.group.clone(), o.api.plural.clone()));
        }
    }
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn the_role_covers_every_rendered_kind_and_the_controller_calls() {
    let rules = rules();
    let kinds = rendered_kinds();
    assert!(kinds.len() >= 9, "{kinds:?}");
    for (group, plural) in &kinds {
        for verb in ["get", "create", "patch", "delete"] {
            assert!(allows(&rules, group, plural, verb), "rbac.yaml lacks {verb} on {group}/{plural}");
        }
    }
    for (group, resource, verb) in [
        ("ntp.fos1.io", "ntpservices", "watch"),
        ("ntp.fos1.io", "ntpclients", "list"),
        ("ntp.fos1.io", "ntpservices/status", "patch"),
        ("", "pods", "list"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
    ] {
        assert!(allows(&rules, group, resource, verb), "rbac.yaml lacks {verb} on {group}/{resource}");
    }
}

#[test]
fn the_role_is_least_privilege() {
    let rules = rules();
    for r in &rules {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(!r[field].as_array().unwrap().iter().any(|v| v == "*"), "wildcard in {r}");
        }
    }
    for verb in ["list", "watch"] {
        assert!(!allows(&rules, "", "secrets", verb), "the operator may not {verb} Secrets");
    }
    for verb in ["create", "patch", "update", "delete"] {
        assert!(!allows(&rules, "ntp.fos1.io", "ntpservices", verb), "the operator may not {verb} NTPServices");
    }
    assert!(!allows(&rules, "", "pods", "get") && !allows(&rules, "", "pods/exec", "create"));
}
