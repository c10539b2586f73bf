//! The renderer as a pure function: seed 002's example renders as written
//! (no key material in the ConfigMap, the default NTS Secret mounted),
//! `spec.enabled: false` renders no workload, NTPClients become access
//! rules, and the objects agree with the kustomize manifests of
//! deploy/kubernetes (the serving-tier Deployment, HPA, PDB and Service, the
//! node-clock DaemonSet, and the configuration the pods load).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::PathBuf;

use ntp_operator::render::{render, render_file, RenderError, Rendered};
use ntp_operator::{NtpClient, NtpService};
use serde_json::{json, Value};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

fn service(name: &str, spec: Value) -> NtpService {
    let mut s = NtpService::new("ntp", name, spec);
    s.metadata.uid = Some("5f2c6a9e-0000-4000-8000-000000000001".to_owned());
    s
}

fn seed_002() -> NtpService {
    let mut s: NtpService = serde_json::from_value(yaml(&read("examples/seed002/ntpservice.yaml"))).unwrap();
    s.metadata.namespace = Some("network".to_owned());
    s.metadata.uid = Some("5f2c6a9e-0000-4000-8000-000000000002".to_owned());
    s
}

fn object<'a>(r: &'a Rendered, kind: &str) -> &'a Value {
    &r.objects.iter().find(|o| o.api.kind == kind).unwrap_or_else(|| panic!("no {kind} in {:?}", r.ids())).value
}

fn config_toml(r: &Rendered) -> String {
    object(r, "ConfigMap")["data"]["simple-ntpd.toml"].as_str().unwrap().to_owned()
}

#[test]
fn seed_002_renders_as_written() {
    let r = render(&seed_002(), &[]).unwrap();
    assert_eq!(
        r.ids(),
        [
            "ServiceAccount/main-ntp",
            "Secret/main-ntp-secrets",
            "ConfigMap/main-ntp-config",
            "Service/main-ntp",
            "DaemonSet/main-ntp"
        ]
    );
    // Key material only in the Secret, handed to the daemon as a variable.
    let toml = config_toml(&r);
    assert!(!toml.contains("AVerySecureKeyString"), "{toml}");
    assert!(!toml.contains("authentication.keys") && !toml.contains("keys ="), "{toml}");
    let secret = object(&r, "Secret");
    let keys = secret["data"]["authentication-keys"].as_str().unwrap();
    let decoded = String::from_utf8(base64_decode(keys)).unwrap();
    assert_eq!(decoded, "[{ id = 1, type = \"SHA256\", value = \"AVerySecureKeyString\" }]");
    assert_eq!(r.config.security.authentication.keys.len(), 1, "the pods load the key from the variable");
    // NTS from the documented default Secret, the drift file on the node.
    let pod = &object(&r, "DaemonSet")["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().unwrap();
    let nts = volumes.iter().find(|v| v["name"] == "nts-certificate").unwrap();
    assert_eq!(nts["secret"]["secretName"], "main-ntp-nts-tls");
    assert_eq!(r.nts_secret.as_deref(), Some("main-ntp-nts-tls"));
    let c = &pod["containers"][0];
    let mounts: Vec<(&str, &str)> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap()))
        .collect();
    assert_eq!(
        mounts,
        [("config", "/etc/simple-ntpd"), ("state", "/var/lib/chrony"), ("nts-certificate", "/etc/simple-ntpd-nts")]
    );
    assert_eq!(
        r.config.security.nts.certificate_chain.as_deref(),
        Some(std::path::Path::new("/etc/simple-ntpd-nts/tls.crt"))
    );
    assert_eq!(c["securityContext"]["capabilities"]["add"], json!(["SYS_TIME", "NET_BIND_SERVICE"]));
    assert_eq!(pod["hostNetwork"], json!(true));
    let ports: Vec<&str> = c["ports"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(ports, ["ntp", "nts-ke", "metrics"]);
    assert_eq!(r.config.ntp_server.stratum, 2);
    // Per-VLAN policies go to the daemon as written: nothing to warn about.
    assert_eq!(r.warnings, Vec::<String>::new());
    // Owned by the resource, so deleting it deletes them.
    for o in &r.objects {
        let owner = &o.value["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "NTPService", "{}", o.id());
        assert_eq!(owner["controller"], json!(true));
        assert_eq!(owner["uid"], "5f2c6a9e-0000-4000-8000-000000000002");
        assert_eq!(o.value["metadata"]["namespace"], "network");
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | alphabet.iter().position(|a| *a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn disabled_renders_no_workload() {
    let mut s = seed_002();
    s.spec["enabled"] = json!(false);
    let r = render(&s, &[]).unwrap();
    assert!(!r.enabled);
    assert_eq!(r.ids(), ["ServiceAccount/main-ntp", "Secret/main-ntp-secrets", "ConfigMap/main-ntp-config"]);
}

#[test]
fn a_serving_tier_gets_a_deployment_autoscaler_and_budget() {
    let spec = json!({"kubernetes": {"workload": "Deployment", "replicas": 3, "maxReplicas": 6, "serviceType": "LoadBalancer",
        "resources": {"limits": {"memory": "128Mi"}}}});
    let r = render(&service("tier", spec), &[]).unwrap();
    assert_eq!(
        r.ids(),
        [
            "ServiceAccount/tier",
            "ConfigMap/tier-config",
            "Service/tier",
            "Deployment/tier",
            "HorizontalPodAutoscaler/tier",
            "PodDisruptionBudget/tier"
        ]
    );
    let d = object(&r, "Deployment");
    assert!(d["spec"].get("replicas").is_none(), "the autoscaler owns the replica count");
    let hpa = object(&r, "HorizontalPodAutoscaler");
    assert_eq!((hpa["spec"]["minReplicas"].clone(), hpa["spec"]["maxReplicas"].clone()), (json!(3), json!(6)));
    assert_eq!(object(&r, "Service")["spec"]["externalTrafficPolicy"], "Local");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["memory"], "128Mi");
    assert_eq!(c["resources"]["limits"]["cpu"], "1");
    assert_eq!(r.config.clock.discipline, ntp_config::ClockDiscipline::Virtual);
    // Without an autoscaler: a fixed count, still a budget.
    let r = render(&service("fixed", json!({"kubernetes": {"workload": "Deployment", "replicas": 3}})), &[]).unwrap();
    assert_eq!(object(&r, "Deployment")["spec"]["replicas"], json!(3));
    assert!(r.ids().contains(&"PodDisruptionBudget/fixed".to_owned()));
    assert!(!r.ids().iter().any(|i| i.starts_with("HorizontalPodAutoscaler")));
}

#[test]
fn ntp_clients_become_access_rules() {
    let client = |name: &str, spec: Value| -> NtpClient {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ntp"}, "spec": spec})).unwrap()
    };
    let clients = [
        client("iot", json!({"serviceRef": "svc", "networks": ["192.168.20.0/24"], "requireAuthentication": true})),
        client(
            "guests",
            json!({"serviceRef": "svc", "networks": ["192.168.30.0/24", "2001:db8:30::/48"], "permission": "deny"}),
        ),
        client("elsewhere", json!({"serviceRef": "other", "networks": ["10.9.0.0/16"]})),
    ];
    let spec = json!({"security": {"access": [{"network": "192.168.0.0/16", "permission": "allow"}]}});
    let r = render(&service("svc", spec), &clients).unwrap();
    let access: Vec<String> =
        r.config.security.access.iter().map(|a| format!("{} {:?}", a.network, a.permission)).collect();
    assert_eq!(
        access,
        ["192.168.0.0/16 Allow", "192.168.30.0/24 Deny", "2001:db8:30::/48 Deny", "192.168.20.0/24 Allow"]
    );
    assert_eq!(r.config.security.authentication.require_for.len(), 1);
    let bad = [client("broken", json!({"serviceRef": "svc", "networks": ["not-a-network"]}))];
    let e = render(&service("svc", json!({})), &bad).unwrap_err();
    assert!(matches!(&e, RenderError::Client { name, .. } if name == "broken"), "{e}");
}

#[test]
fn spec_errors_are_clear_with_and_without_a_file() {
    let e = render(&service("bad", json!({"server": {"stratum": "two"}})), &[]).unwrap_err();
    assert_eq!(e.to_string(), "server.stratum: invalid type: string \"two\", expected an integer 1..=15");
    let text = "apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nmetadata:\n  name: bad\nspec:\n  server:\n    stratum: \"two\"\n";
    let e = render_file("bad.yaml", text, Some("ntp")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad.yaml:7:14: server.stratum: invalid type: string \"two\", expected an integer 1..=15"
    );
    let e =
        render(&service("bad", json!({"security": {"authentication": {"keyFile": "/etc/keys"}}})), &[]).unwrap_err();
    assert!(e.to_string().contains("list the keys under spec.security.authentication.keys"), "{e}");
    let long = "a".repeat(60);
    assert!(matches!(render(&service(&long, json!({})), &[]), Err(RenderError::Name(_))));
    let two = format!(
        "{text}---\napiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nmetadata:\n  name: b2\nspec:\n  nope: 1\n"
    );
    let e = render_file("two.yaml", &two.replace("\"two\"", "2"), None).unwrap_err();
    assert_eq!(e.to_string(), "two.yaml:14:3: unknown key `nope` in spec");
}

#[test]
fn cert_manager_certificate_and_configuration_hash() {
    let spec = json!({"security": {"nts": {"enabled": true}},
        "kubernetes": {"nts": {"certManager": {"issuerName": "letsencrypt", "issuerKind": "ClusterIssuer", "dnsNames": ["ntp.example.net"]}}}});
    let r = render(&service("nts", spec.clone()), &[]).unwrap();
    let cert = object(&r, "Certificate");
    assert_eq!(cert["apiVersion"], "cert-manager.io/v1");
    assert_eq!(cert["spec"]["secretName"], "nts-nts-tls");
    assert_eq!(cert["spec"]["issuerRef"]["kind"], "ClusterIssuer");
    let hash = |r: &Rendered| {
        object(r, "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["ntp.fos1.io/config-hash"].clone()
    };
    let again = render(&service("nts", spec.clone()), &[]).unwrap();
    assert_eq!(hash(&r), hash(&again), "rendering is deterministic");
    let mut changed = spec;
    changed["server"] = json!({"stratum": 3});
    assert_ne!(hash(&r), hash(&render(&service("nts", changed), &[]).unwrap()), "a change rolls the pods");
}

// ----------------------------------------------------------------- agreement

/// The serving tier's core configuration as an NTPService spec.
fn base_spec() -> Value {
    json!({
        "network": {"listenAddress": ["0.0.0.0", "::"], "listenPort": 123},
        "sources": {"pools": [{"name": "pool.ntp.org", "servers": 4, "iburst": true}]},
        "security": {"ratelimit": {"enabled": true, "interval": 3, "burst": 8, "leak": 2}},
        "monitoring": {"listen": "[::]:9559", "allow": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]},
        "logging": {"level": "INFO"},
    })
}

/// What differs by design between the operator's objects and the
/// kustomize manifests: names (the resource's instead of `simple-ntpd`), the
/// `instance` and `managed-by` labels, one configuration file instead of
/// core + environment, and the configuration hash that rolls the pods.
fn normalise(v: &mut Value, name: &str) {
    match v {
        Value::Object(o) => {
            o.remove("app.kubernetes.io/instance");
            o.remove("app.kubernetes.io/managed-by");
            o.remove("ntp.fos1.io/config-hash");
            o.remove("namespace");
            o.remove("ownerReferences");
            if o.get("name") == Some(&json!("SIMPLE_NTPD_CONFIG")) {
                o.insert("value".to_owned(), json!("<configuration files>"));
            }
            for (_, child) in o.iter_mut() {
                normalise(child, name);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| normalise(c, name)),
        Value::String(s) => {
            for (ours, theirs) in [
                (format!("{name}-config"), "simple-ntpd-config".to_owned()),
                (format!("{name}-monitoring"), "simple-ntpd-monitoring".to_owned()),
                (name.to_owned(), "simple-ntpd".to_owned()),
            ] {
                if *s == ours {
                    *s = theirs;
                }
            }
        }
        _ => {}
    }
}

fn load(files: &[&str]) -> ntp_config::Config {
    let files: Vec<(String, String)> = files.iter().map(|f| ((*f).to_owned(), read(f))).collect();
    ntp_config::load_from_strs(&files, Vec::new(), &Default::default()).unwrap().config
}

#[test]
fn the_serving_tier_agrees_with_the_kustomize_base_and_component() {
    let mut spec = base_spec();
    spec["clock"] = json!({"discipline": "virtual"});
    spec["kubernetes"] =
        json!({"workload": "Deployment", "replicas": 2, "maxReplicas": 10, "serviceType": "LoadBalancer"});
    let r = render(&service("edge-ntp", spec), &[]).unwrap();
    for (kind, file, patch) in [
        ("Deployment", "deploy/kubernetes/base/deployment.yaml", None),
        ("HorizontalPodAutoscaler", "deploy/kubernetes/components/serving-tier/hpa.yaml", None),
        ("PodDisruptionBudget", "deploy/kubernetes/components/serving-tier/pdb.yaml", None),
        (
            "Service",
            "deploy/kubernetes/base/service.yaml",
            Some("deploy/kubernetes/components/serving-tier/service-loadbalancer.yaml"),
        ),
    ] {
        let mut ours = object(&r, kind).clone();
        let mut theirs = yaml(&read(file));
        if let Some(p) = patch {
            for (k, v) in yaml(&read(p))["spec"].as_object().unwrap() {
                theirs["spec"][k] = v.clone();
            }
        }
        normalise(&mut ours, "edge-ntp");
        normalise(&mut theirs, "edge-ntp");
        assert_eq!(ours["spec"], theirs["spec"], "{kind} differs from {file}");
        assert_eq!(ours["metadata"]["labels"]["app.kubernetes.io/component"], json!("server"));
    }
    // The configuration the pods load is the one the kustomize pods load.
    let kustomize = load(&["deploy/kubernetes/config/simple-ntpd.toml", "deploy/kubernetes/config/environment.toml"]);
    let mut ours = r.config.clone();
    ours.kubernetes = kustomize.kubernetes.clone();
    assert_eq!(ours, kustomize);
}

#[test]
fn the_node_clock_agrees_with_the_kustomize_overlay() {
    let r = render(&service("node-ntp", base_spec()), &[]).unwrap();
    let mut ours = object(&r, "DaemonSet").clone();
    let mut theirs = yaml(&read("deploy/kubernetes/overlays/node-clock/daemonset.yaml"));
    normalise(&mut ours, "node-ntp");
    normalise(&mut theirs, "node-ntp");
    assert_eq!(ours["spec"], theirs["spec"], "the DaemonSet differs from the node-clock overlay's");
    assert_eq!(ours["metadata"]["name"], theirs["metadata"]["name"].as_str().map(|_| json!("simple-ntpd")).unwrap());
    let kustomize =
        load(&["deploy/kubernetes/config/simple-ntpd.toml", "deploy/kubernetes/overlays/node-clock/environment.toml"]);
    let mut ours = r.config.clone();
    ours.kubernetes = kustomize.kubernetes.clone();
    assert_eq!(ours, kustomize);
}
