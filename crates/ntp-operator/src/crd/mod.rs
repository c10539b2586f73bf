//! The CustomResourceDefinitions `ntpservices.ntp.fos1.io` and
//! `ntpclients.ntp.fos1.io`, generated from the configuration model: the
//! NTPService `spec` is ntp-config's `Config` schema and the NTPClient `spec`
//! its `ClientGroup` schema, both made structural ([`structural`]); nothing
//! here lists a configuration key by hand. `deploy/kubernetes/crd/*.yaml` is
//! this output (a test keeps it so).

pub mod structural;

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::resource::NtpServiceStatus;
use structural::{structural, NotStructural};

/// The OpenAPI 3 schema of `T` with every subschema inlined.
fn openapi_schema<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::openapi3().with(|s| s.inline_subschemas = true);
    let root = SchemaGenerator::new(settings).into_root_schema_for::<T>();
    serde_json::to_value(root.schema).unwrap_or(Value::Null)
}

/// The structural schema of the NTPService `spec`: the whole configuration.
pub fn service_spec_schema() -> Result<Value, NotStructural> {
    let mut spec = structural(&openapi_schema::<ntp_config::Config>(), "")?;
    spec["description"] = Value::from(
        "The simple-ntpd configuration (docs/configuration.md), keys in camelCase: `spec.monitoring.sourcesMinimum` is the TOML key `monitoring.sources_minimum`. `kubernetes` says how the operator runs it.",
    );
    Ok(spec)
}

/// The structural schema of the NTPClient `spec`.
pub fn client_spec_schema() -> Result<Value, NotStructural> {
    structural(&openapi_schema::<ntp_config::ClientGroup>(), "")
}

/// The structural schema of the NTPService `status`.
pub fn status_schema() -> Result<Value, NotStructural> {
    structural(&openapi_schema::<NtpServiceStatus>(), "")
}

fn object_schema(description: &str, spec: Value, status: Option<Value>) -> Value {
    let mut properties = json!({
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    });
    if let Some(status) = status {
        properties["status"] = status;
    }
    json!({"type": "object", "description": description, "required": ["spec"], "properties": properties})
}

fn column(
    name: &str,
    type_: &str,
    path: &str,
    description: &str,
    priority: Option<i32>,
) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.to_owned(),
        type_: type_.to_owned(),
        json_path: path.to_owned(),
        description: Some(description.to_owned()),
        priority,
        format: None,
    }
}

fn definition(
    kind: &str,
    plural: &str,
    short: &str,
    schema: Value,
    columns: Vec<CustomResourceColumnDefinition>,
    status: bool,
) -> Result<CustomResourceDefinition, NotStructural> {
    let props: JSONSchemaProps = serde_json::from_value(schema)
        .map_err(|e| NotStructural { path: kind.to_owned(), message: format!("not a JSONSchemaProps: {e}") })?;
    Ok(CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{plural}.{}", ntp_config::GROUP)),
            labels: Some(BTreeMap::from([("app.kubernetes.io/name".to_owned(), "simple-ntpd".to_owned())])),
            ..ObjectMeta::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: ntp_config::GROUP.to_owned(),
            names: CustomResourceDefinitionNames {
                kind: kind.to_owned(),
                list_kind: Some(format!("{kind}List")),
                plural: plural.to_owned(),
                singular: Some(kind.to_ascii_lowercase()),
                short_names: Some(vec![short.to_owned()]),
                categories: Some(vec!["ntp".to_owned()]),
            },
            scope: "Namespaced".to_owned(),
            versions: vec![CustomResourceDefinitionVersion {
                name: ntp_config::VERSION.to_owned(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation { open_api_v3_schema: Some(props) }),
                subresources: status.then(|| CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(json!({}))),
                    scale: None,
                }),
                additional_printer_columns: Some(columns),
                ..CustomResourceDefinitionVersion::default()
            }],
            ..CustomResourceDefinitionSpec::default()
        },
        status: None,
    })
}

/// `ntpservices.ntp.fos1.io`.
pub fn ntpservices() -> Result<CustomResourceDefinition, NotStructural> {
    let schema = object_schema(
        "A time service that simple-ntpd's operator runs: the configuration in spec, the state of its pods in status.",
        service_spec_schema()?,
        Some(status_schema()?),
    );
    let columns = vec![
        column("Stratum", "integer", ".status.stratum", "The highest stratum a synchronised pod serves.", None),
        column("Synchronised", "string", ".status.synchronised", "Synchronised pods of all pods.", None),
        column("Sources", "integer", ".status.sources", "The fewest selectable sources of a synchronised pod.", None),
        column("Offset", "number", ".status.offsetSeconds", "The largest clock offset of a pod, in seconds.", Some(1)),
        column(
            "Ready",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
            "Every pod serves synchronised time.",
            Some(1),
        ),
        column("Age", "date", ".metadata.creationTimestamp", "Since the resource was created.", None),
    ];
    definition("NTPService", "ntpservices", "ntp", schema, columns, true)
}

/// `ntpclients.ntp.fos1.io`.
pub fn ntpclients() -> Result<CustomResourceDefinition, NotStructural> {
    let schema = object_schema(
        "A group of NTP clients with its own policy, folded into the access rules of the NTPService it names.",
        client_spec_schema()?,
        None,
    );
    let columns = vec![
        column("Service", "string", ".spec.serviceRef", "The NTPService serving the group.", None),
        column("Permission", "string", ".spec.permission", "Served (allow) or ignored (deny).", None),
        column("Networks", "string", ".spec.networks", "The group's networks.", Some(1)),
        column("Age", "date", ".metadata.creationTimestamp", "Since the resource was created.", None),
    ];
    definition("NTPClient", "ntpclients", "ntpc", schema, columns, false)
}

/// Both definitions, as `(file name, definition)`.
pub fn all() -> Result<Vec<(&'static str, CustomResourceDefinition)>, NotStructural> {
    Ok(vec![("ntpservices.yaml", ntpservices()?), ("ntpclients.yaml", ntpclients()?)])
}

/// The first line of each generated file.
pub const HEADER: &str =
    "# Generated by `simple-ntpd crd` from the configuration model (crates/ntp-config); do not edit.\n";

/// The files of deploy/kubernetes/crd: `(file name, YAML text)`.
pub fn files() -> Result<Vec<(&'static str, String)>, String> {
    all()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|(file, c)| crate::yaml::document(c).map(|d| (*file, format!("{HEADER}{d}"))).map_err(|e| e.to_string()))
        .collect()
}

/// What `simple-ntpd crd` prints: the files as one stream.
pub fn stream() -> Result<String, String> {
    let files = files()?;
    Ok(crate::yaml::stream(files.iter().map(|(_, text)| text.as_str())))
}
