//! The panic policy: a panic anywhere — the sync task, a serving thread,
//! the API — ends the process with a non-zero status, so its supervisor
//! (systemd, Docker, Kubernetes) restarts it. Without it a panicking tokio
//! task is swallowed and the daemon goes on serving its last snapshot as if
//! healthy. Release builds abort on panic (`panic = "abort"` in the
//! workspace profile); [`install`] makes every build do the same, after
//! saying why.

/// Installs the hook: the standard panic message (with location) on
/// standard error and an error in the log, then `abort`.
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        tracing::error!(panic = %info, "a part of simple-ntpd panicked; ending the process so that it is restarted");
        std::process::abort();
    }));
}
