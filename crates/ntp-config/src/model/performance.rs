//! Threads, batches, buffers and packet size limits: `[performance]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Threads and packet size limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PerformanceConfig {
    /// How many threads answer requests; 0 means one per available CPU core.
    #[serde(alias = "workerThreads")]
    #[schemars(range(max = 1024))]
    pub worker_threads: usize,
    /// The largest request, in bytes, that is accepted; bigger datagrams are dropped and counted.
    #[serde(alias = "maxPacketSize")]
    #[schemars(range(min = 48, max = 65507))]
    pub max_packet_size: usize,
    /// How many datagrams a worker takes from the kernel per system call (recvmmsg).
    #[serde(alias = "recvBatch")]
    #[schemars(range(min = 1, max = 256))]
    pub recv_batch: usize,
    /// Send the replies of each receive batch in chunks, one sendmmsg call each, every reply stamped with the time it is predicted to reach the kernel: one clock read per chunk plus the delay of the reply's position, calibrated continuously from the kernel's transmit timestamps of sampled replies; a chunk is only as long as those predictions stay within 2 µs. On by default: transmit timestamps within about 1 µs of the kernel's, either way, and fewer system calls. false: each reply is stamped immediately before its own send, so its timestamp is early by the cost of that send (about 1 µs).
    #[serde(alias = "batchSend")]
    pub batch_send: bool,
    /// CPU cores to pin worker threads to, used round-robin (worker i runs on cpu_affinity[i % len]); empty = no pinning.
    #[serde(alias = "cpuAffinity")]
    pub cpu_affinity: Vec<usize>,
    /// Socket receive buffer per worker, in bytes (SO_RCVBUF; as root, SO_RCVBUFFORCE lifts the net.core.rmem_max cap). Larger absorbs longer bursts but, under overload, makes requests wait (256 KiB holds about 2 ms of traffic at 250k requests/s); an NTP reply that waited is worth less than a dropped request.
    #[serde(alias = "socketReceiveBuffer")]
    #[schemars(range(min = 4096, max = 1073741824))]
    pub socket_receive_buffer: usize,
    /// Socket send buffer per worker, in bytes (SO_SNDBUF; SO_SNDBUFFORCE as root).
    #[serde(alias = "socketSendBuffer")]
    #[schemars(range(min = 4096, max = 1073741824))]
    pub socket_send_buffer: usize,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        Self {
            worker_threads: 0,
            max_packet_size: 2048,
            recv_batch: 32,
            batch_send: true,
            cpu_affinity: Vec::new(),
            socket_receive_buffer: 256 << 10,
            socket_send_buffer: 1 << 20,
        }
    }
}
