//! Network plumbing: UDP sockets with kernel receive timestamps and packet
//! info ([`udp`], [`batch`]), kernel transmit timestamps from the error
//! queue ([`tx_timestamp`]), and the listen-socket setup ([`listen`]).

pub mod batch;
pub mod listen;
pub mod tx_timestamp;
pub mod udp;
