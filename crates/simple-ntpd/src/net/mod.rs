//! Network plumbing for the serving path: UDP sockets with kernel receive
//! timestamps and packet info ([`udp`]), and the listen-socket setup
//! ([`listen`]).

pub mod batch;
pub mod listen;
pub mod udp;
