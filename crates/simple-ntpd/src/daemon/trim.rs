//! When the daemon hands its start-up pages back ([`crate::program_pages`]):
//! a few seconds after it starts serving and after each reload, once the
//! one-off work is done.
//!
//! No warm-up request follows: one sent to itself would show in the
//! server's counters and client list. The first request after a release
//! reads the serving path's few pages back from the program file, as the
//! first request after a cold boot does.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::debug;

use crate::program_pages::{self, Region};

/// How long after start (or a reload) the one-off work is over: sockets,
/// TLS, the first source exchanges and the API's first requests.
pub const SETTLE: Duration = Duration::from_secs(2);

/// The program's mappings, captured at start before privileges are
/// dropped (see [`program_pages::capture`]); empty when `/proc` could not
/// be read, and then nothing is released.
pub fn capture() -> Arc<[Region]> {
    match program_pages::capture() {
        Ok(r) => r.into(),
        Err(e) => {
            debug!("cannot read this program's mappings, start-up pages stay resident: {e}");
            Arc::from([])
        }
    }
}

/// Releases `regions` after [`SETTLE`]; replaces (aborts) a release still
/// pending in `pending`.
pub fn schedule(pending: &mut Option<JoinHandle<()>>, regions: &Arc<[Region]>) {
    if let Some(old) = pending.take() {
        old.abort();
    }
    if regions.is_empty() {
        return;
    }
    let regions = Arc::clone(regions);
    *pending = Some(tokio::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        match tokio::task::spawn_blocking(move || program_pages::release(&regions)).await {
            Ok(r) => debug!(bytes = r.bytes, refused = r.refused, "start-up pages handed back"),
            Err(e) => debug!("start-up page release did not run: {e}"),
        }
    }));
}
