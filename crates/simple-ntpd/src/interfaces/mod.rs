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

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use slots::SlotNames;
pub use table::{InterfaceEntry, InterfaceTable, VlanPolicies, VlanPolicy};

/// The shared, atomically replaced interface table.
#[derive(Clone)]
pub struct InterfaceCell(Arc<ArcSwap<InterfaceTable>>);

impl Default for InterfaceCell {
    fn default() -> Self {
        InterfaceCell::new(InterfaceTable::default())
    }
}

impl InterfaceCell {
    /// A cell holding `table`.
    pub fn new(table: InterfaceTable) -> Self {
        InterfaceCell(Arc::new(ArcSwap::from_pointee(table)))
    }

    /// Replaces the table.
    pub fn publish(&self, table: InterfaceTable) {
        self.0.store(Arc::new(table));
    }

    /// The current table.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<InterfaceTable>> {
        self.0.load()
    }
}
