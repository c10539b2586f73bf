//! The Kubernetes side of simple-ntpd (seed 002): the `NTPService` and
//! `NTPClient` resources, their CustomResourceDefinitions generated from the
//! configuration model, the renderer that turns a resource into the objects
//! that run it, and the controller (`simple-ntpd operator`) that applies
//! them and reports back.
//!
//! ```text
//! crd/          the CRDs: ntp-config's schema made structural, camelCase, printer columns
//! resource.rs   the resource types as the API server stores them, and their status
//! render/       resource (+ its NTPClients) -> ConfigMap, Secret, workload, Service, ... (pure)
//! controller/   watch, server-side apply, prune, status from the pods' /api/v1/status, events
//! yaml.rs       YAML streams for `simple-ntpd crd` and `simple-ntpd operator render`
//! ```
//!
//! Nothing here runs unless one of those subcommands is called: the daemon's
//! start-up path never touches this crate.

#![forbid(unsafe_code)]

pub mod controller;
pub mod crd;
pub mod render;
pub mod resource;
pub mod yaml;

pub use render::{render, render_file, Rendered};
pub use resource::{NtpClient, NtpService, NtpServiceStatus};

/// The field manager of every server-side apply, and the `managed-by` label.
pub const MANAGER: &str = "simple-ntpd-operator";
