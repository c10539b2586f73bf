//! The host's network interfaces as the server sees them, so that each VLAN
//! gets its own policy (`[[vlan_config]]`): which interface a request came
//! in on (the kernel says, in IP_PKTINFO / IPV6_PKTINFO), whether that
//! interface is served, under which access rules and rate limits, which
//! counters it adds to, and what it broadcasts.
//!
//! - [`scan`]: reading the interfaces (index, name, addresses, broadcast).
//! - [`slots`]: stable, bounded counter slots per interface name.
//! - [`table`]: the compiled VLAN policies joined with the interfaces —
//!   the immutable [`InterfaceTable`] the workers read.
//! - [`watch`]: follows interface changes (netlink) and republishes the
//!   table, with a log line per change.
//!
//! The table is published like the security policy: an atomically swapped
//! snapshot ([`InterfaceCell`]), loaded once per batch by each worker.

pub mod scan;
pub mod slots;
pub mod table;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use ntp_proto::NtpTimestamp;
use tokio::sync::mpsc;

pub use slots::SlotNames;
pub use table::{InterfaceEntry, InterfaceTable, VlanPolicies, VlanPolicy};

/// A broadcast received for the broadcast client (`[[sources.broadcast]]`),
/// by a serving worker or the client's own socket.
#[derive(Debug)]
pub struct BroadcastIn {
    /// The interface it arrived on (kernel index).
    pub ifindex: u32,
    /// The server that sent it.
    pub from: SocketAddr,
    /// The datagram.
    pub data: Vec<u8>,
    /// Kernel receive time (system clock).
    pub rx_system: NtpTimestamp,
}

/// The shared, atomically replaced interface table, and where broadcasts
/// for the broadcast client go (set while the sync loop listens).
#[derive(Clone)]
pub struct InterfaceCell {
    table: Arc<ArcSwap<InterfaceTable>>,
    broadcasts: Arc<ArcSwapOption<mpsc::Sender<BroadcastIn>>>,
}

impl Default for InterfaceCell {
    fn default() -> Self {
        InterfaceCell::new(InterfaceTable::default())
    }
}

impl InterfaceCell {
    /// A cell holding `table`.
    pub fn new(table: InterfaceTable) -> Self {
        InterfaceCell { table: Arc::new(ArcSwap::from_pointee(table)), broadcasts: Arc::new(ArcSwapOption::empty()) }
    }

    /// Replaces the table.
    pub fn publish(&self, table: InterfaceTable) {
        self.table.store(Arc::new(table));
    }

    /// The current table.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<InterfaceTable>> {
        self.table.load()
    }

    /// Where broadcasts for the broadcast client go (`None`: nowhere).
    pub fn set_broadcast_sink(&self, sink: Option<mpsc::Sender<BroadcastIn>>) {
        self.broadcasts.store(sink.map(Arc::new));
    }

    /// Hands a broadcast to the broadcast client; false when none listens
    /// or it is busy (the broadcast is lost, like an overflowing socket's).
    pub fn forward_broadcast(&self, b: BroadcastIn) -> bool {
        self.broadcasts.load().as_ref().is_some_and(|tx| tx.try_send(b).is_ok())
    }
}
