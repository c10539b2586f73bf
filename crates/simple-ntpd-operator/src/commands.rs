//! What each command does: print the CRDs, render resources offline, or run
//! the controller — the thin command-line side of the ntp-operator crate.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use ntp_operator::controller::pods::HttpProbe;
use ntp_operator::{crd, yaml};

use crate::cli::{Cli, Command};

/// `crd`: the CustomResourceDefinitions as a YAML stream.
fn crd() -> ExitCode {
    match crd::stream() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Render { file, namespace }) => render(&file, namespace.as_deref()),
        Some(Command::Crd) => crd(),
        Some(Command::Version) => {
            println!("simple-ntpd-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        None => controller(cli.namespace, &cli.log_level),
    }
}

fn render(file: &std::path::Path, namespace: Option<&str>) -> ExitCode {
    let name = file.display().to_string();
    let text = if name == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        std::fs::read_to_string(file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {name}: {e}");
            return ExitCode::from(1);
        }
    };
    let rendered = match ntp_operator::render_file(&name, &text, namespace) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = Vec::new();
    for r in &rendered {
        for w in &r.warnings {
            eprintln!("warning: NTPService {}: {w}", r.name);
        }
        match r.to_yaml() {
            Ok(y) => out.push(y),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    print!("{}", yaml::stream(out.iter().map(String::as_str)));
    ExitCode::SUCCESS
}

fn controller(namespace: Option<String>, level: &str) -> ExitCode {
    let logging = ntp_config::LoggingConfig {
        level: match level.parse() {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: --log-level: {e}");
                return ExitCode::from(2);
            }
        },
        ..ntp_config::LoggingConfig::default()
    };
    let _log = match simple_ntpd::logging::init(&logging) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("simple-ntpd operator: {e:#}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the event loop: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let client = kube_client().await?;
        ntp_operator::controller::run(client, namespace, Arc::new(HttpProbe::default()))
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

async fn kube_client() -> Result<ntp_operator::controller::KubeClient, String> {
    ntp_operator::controller::KubeClient::try_default().await.map_err(|e| {
        format!(
            "no Kubernetes API: {e} (in a pod it uses its service account; elsewhere $KUBECONFIG or ~/.kube/config)"
        )
    })
}
