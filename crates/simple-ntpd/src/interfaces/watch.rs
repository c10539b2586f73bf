//! Following the host's interfaces while the daemon runs: a netlink socket
//! subscribed to link and address changes wakes a task that reads the
//! interfaces again, logs each change on one line, and publishes a new
//! [`InterfaceTable`]. A reload hands it new VLAN policies the same way.
//! Without netlink (a sandbox that refuses the socket) the interfaces are
//! read again every [`POLL_WITHOUT_NETLINK`] instead, with a warning.

use std::time::Duration;

use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::scan::{self, HostInterface};
use super::table::{InterfaceTable, VlanPolicies};
use super::{InterfaceCell, SlotNames};
use crate::security::ratelimit::RateParams;

/// How long changes are gathered before the interfaces are read again (an
/// address change often comes as several messages).
const SETTLE: Duration = Duration::from_millis(50);

/// How often interfaces are read when netlink cannot be used.
pub const POLL_WITHOUT_NETLINK: Duration = Duration::from_secs(10);

/// The policies the table is built with.
#[derive(Clone, Debug, Default)]
pub struct TableInputs {
    /// The VLAN policies.
    pub vlans: VlanPolicies,
    /// `[security]`'s rate limits (for the limiter's table size).
    pub global_rate: Option<RateParams>,
    /// The interfaces broadcast clients listen on.
    pub broadcast_clients: Vec<String>,
}

/// Reads the interfaces and publishes the first table at once (before the
/// workers start), logging what was found; returns the scan.
pub fn publish_initial(cell: &InterfaceCell, slots: &SlotNames, inputs: &TableInputs) -> Vec<HostInterface> {
    let host = scan::scan().unwrap_or_else(|e| {
        warn!(error = %e, "cannot read the network interfaces; per-VLAN policies apply once they can be read");
        Vec::new()
    });
    let table =
        InterfaceTable::build(&host, &inputs.vlans, slots, inputs.global_rate.as_ref(), &inputs.broadcast_clients);
    log_vlans(&table, None);
    cell.publish(table);
    host
}

/// The running watcher.
pub struct InterfaceWatch {
    inputs: mpsc::UnboundedSender<TableInputs>,
    task: JoinHandle<()>,
}

impl InterfaceWatch {
    /// Starts following changes from `host` (the initial scan) on.
    pub fn start(cell: InterfaceCell, slots: SlotNames, host: Vec<HostInterface>, inputs: TableInputs) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(cell, slots, host, inputs, rx));
        InterfaceWatch { inputs: tx, task }
    }

    /// New VLAN policies (a reload): the table is rebuilt with them.
    pub fn set_inputs(&self, inputs: TableInputs) {
        let _ = self.inputs.send(inputs);
    }

    /// Stops following.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn subscribe() -> std::io::Result<TokioSocket> {
    let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
    let groups = (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
    socket.socket_mut().bind(&SocketAddr::new(0, groups))?;
    Ok(socket)
}

async fn run(
    cell: InterfaceCell,
    slots: SlotNames,
    mut host: Vec<HostInterface>,
    mut inputs: TableInputs,
    mut rx: mpsc::UnboundedReceiver<TableInputs>,
) {
    let socket = match subscribe() {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot follow interface changes through netlink; reading the interfaces every {} s instead", POLL_WITHOUT_NETLINK.as_secs());
            None
        }
    };
    let mut dirty = false;
    loop {
        let settle = tokio::time::sleep(if dirty { SETTLE } else { POLL_WITHOUT_NETLINK });
        tokio::select! {
            msg = next_message(socket.as_ref()) => {
                // Any link or address message (or an overrun: ENOBUFS) means: read again.
                if let Err(e) = msg {
                    tracing::debug!(error = %e, "netlink receive");
                }
                dirty = true;
            }
            new = rx.recv() => match new {
                Some(new) => {
                    inputs = new;
                    rebuild(&cell, &slots, &mut host, &inputs, true);
                }
                None => return,
            },
            _ = settle => {
                if dirty || socket.is_none() {
                    dirty = false;
                    rebuild(&cell, &slots, &mut host, &inputs, false);
                }
            }
        }
    }
}

/// Reads the interfaces again, logs changes and publishes the table.
fn rebuild(cell: &InterfaceCell, slots: &SlotNames, host: &mut Vec<HostInterface>, inputs: &TableInputs, reload: bool) {
    let new = match scan::scan() {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "cannot read the network interfaces; keeping the last known ones");
            return;
        }
    };
    for line in scan::changes(host, &new) {
        info!("{line}");
    }
    if !reload && new == *host {
        return;
    }
    let old = cell.load();
    let table =
        InterfaceTable::build(&new, &inputs.vlans, slots, inputs.global_rate.as_ref(), &inputs.broadcast_clients);
    log_vlans(&table, Some(&old));
    cell.publish(table);
    *host = new;
}

/// Logs, once per change, configured VLANs whose interface is missing or
/// came back.
fn log_vlans(table: &InterfaceTable, old: Option<&InterfaceTable>) {
    let was_missing = |vlan: &str| old.is_some_and(|o| o.missing().iter().any(|p| p.vlan == vlan));
    for p in table.missing() {
        if !was_missing(&p.vlan) {
            warn!(vlan = %p.vlan, interface = %p.interface, "the interface of a configured VLAN does not exist (yet); its policy applies when it appears");
        }
    }
    let summary = |e: &super::InterfaceEntry| {
        e.policy.as_ref().map(|p| (p.vlan.clone(), e.host.index, p.enabled, p.clients_only, p.broadcast.is_some()))
    };
    for e in table.entries() {
        let Some(now) = summary(e) else { continue };
        let before = old.and_then(|o| o.entries().iter().find_map(|x| summary(x).filter(|s| s.0 == now.0)));
        if before.as_ref() != Some(&now) {
            info!(
                vlan = %now.0,
                interface = %e.name(),
                index = now.1,
                served = now.2,
                clients_only = now.3,
                broadcast = now.4,
                "VLAN policy in force"
            );
        }
    }
}

/// The next netlink message; never, without a socket.
async fn next_message(socket: Option<&TokioSocket>) -> std::io::Result<()> {
    match socket {
        Some(s) => s.recv_from_full().await.map(|_| ()),
        None => std::future::pending().await,
    }
}
