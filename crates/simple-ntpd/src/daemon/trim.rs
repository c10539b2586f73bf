//! When the daemon hands its start-up pages back ([`crate::program_pages`]):
//! a few seconds after it starts serving and after each reload, once the
//! one-off work is done.
//!
//! No warm-up request follows: one sent to itself would show in the
//! server's counters and client list. The first request after a release
//! reads the serving path's few pages back from the program file, as the
//! first request after a cold boot does.

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::debug;

use crate::program_pages;

/// How long after start (or a reload) the one-off work is over: sockets,
/// TLS, the first source exchanges and the API's first requests.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Releases the start-up pages after [`SETTLE`]; replaces (aborts) a
/// release still pending in `pending`.
pub fn schedule(pending: &mut Option<JoinHandle<()>>) {
    if let Some(old) = pending.take() {
        old.abort();
    }
    *pending = Some(tokio::spawn(async {
        tokio::time::sleep(SETTLE).await;
        match tokio::task::spawn_blocking(program_pages::release).await {
            Ok(Ok(r)) => debug!(bytes = r.bytes, refused = r.refused, "start-up pages handed back"),
            Ok(Err(e)) => debug!("cannot hand start-up pages back: {e}"),
            Err(e) => debug!("start-up page release did not run: {e}"),
        }
    }));
}
