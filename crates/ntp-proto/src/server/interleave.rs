//! The server's memory for interleaved mode (RFC 9769, chrony's `xleave`):
//! per client, the receive timestamp of the last reply sent to it and, once
//! the kernel reported it, when that reply really left.
//!
//! A client in interleaved mode puts the server's previous receive
//! timestamp into the origin field of its next request (and its own
//! receive timestamp of that reply into the receive field, so the two
//! request fields differ). When the origin is the receive timestamp this
//! table holds *for that client's address*, the reply is interleaved: its
//! origin is the request's receive field and its transmit timestamp is the
//! kernel transmit timestamp of the previous reply, instead of a clock read
//! before the send. Every other request is answered in basic mode.
//!
//! Keyed by the client's address (an IPv4-mapped address counts as IPv4),
//! never by the timestamp alone: a request carrying another client's receive
//! timestamp in its origin field finds its own slot, where that timestamp
//! is not, and gets a basic reply — it learns nothing of other clients.
//!
//! One table serves every worker thread: SO_REUSEPORT spreads a client's
//! requests over the workers by source port, and chrony sends each request
//! from a new port. Each slot is a small seqlock of atomics: a reader that
//! races a writer sees no entry (a basic reply), a writer that races another
//! writer of the same slot skips its write (the client's next reply is
//! basic); nothing blocks. Clients whose requests carry no origin timestamp
//! (basic SNTP and NTP clients: ntpdig, ntplib, chrony without `xleave`)
//! never touch it, so the shared memory is written only for clients that
//! echo something.
//!
//! Fixed memory: `size` slots of 40 bytes taken zero-filled once (the
//! daemon allocates them so that the kernel backs pages only as clients land
//! in them: [`InterleaveTable::from_zeroed`]); a lookup probes a few slots
//! from a keyed hash (the caller's random seed, so collisions cannot be
//! aimed), and a new client takes the slot in its window with the oldest
//! receive timestamp. A flood of new addresses recycles slots; it cannot
//! grow memory. Nothing here allocates after construction.

use std::net::IpAddr;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::reply::PreparedReply;
use super::request::ClientRequest;
use crate::packet::Header;
use crate::timestamp::NtpTimestamp;

/// Slots probed per lookup.
const PROBE: usize = 4;

/// One client: a sequence number (odd while written), its key (two words),
/// the receive timestamp of the last reply (0 = empty slot), the transmit
/// timestamp of that reply (0 = not known yet).
pub type Slot = [AtomicU64; 5];
const SEQ: usize = 0;
const KEY_HI: usize = 1;
const KEY_LO: usize = 2;
const RX: usize = 3;
const TX: usize = 4;

/// A slot's fields as read: key hi, key lo, rx, tx.
type Fields = [u64; 4];

/// Where to record the transmit timestamp of a reply once it is known:
/// the slot and the receive timestamp the reply carried (a slot taken over
/// by another client or a newer reply in the meantime is left alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxHandle {
    slot: u32,
    rx: u64,
}

/// What the table says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interleave {
    /// Answer in basic mode; the client does not (yet) use interleaved mode.
    Basic,
    /// The client uses interleaved mode but the previous reply's transmit
    /// timestamp is not known: answer in basic mode, and learn this reply's.
    Pending,
    /// Answer in interleaved mode with this transmit timestamp (served
    /// time) of the previous reply.
    Previous(NtpTimestamp),
}

/// The table every worker shares.
pub struct InterleaveTable {
    slots: Box<[Slot]>,
    mask: usize,
    seed: u64,
}

impl InterleaveTable {
    /// A table of at least `size` slots (rounded up to a power of two),
    /// hashing with `seed` (random per process). Writes every slot once;
    /// the daemon uses [`InterleaveTable::from_zeroed`].
    pub fn new(size: usize, seed: u64) -> Self {
        let n = size.max(PROBE).next_power_of_two();
        Self::from_zeroed((0..n).map(|_| Slot::default()).collect(), seed)
    }

    /// A table over `slots` (all zero; a power of two of them, else the
    /// largest power of two below is used, at least [`PROBE`]).
    pub fn from_zeroed(slots: Box<[Slot]>, seed: u64) -> Self {
        let mut slots = slots;
        if slots.len() < PROBE {
            slots = (0..PROBE).map(|_| Slot::default()).collect();
        }
        let n = 1usize << (usize::BITS - 1 - slots.len().leading_zeros());
        InterleaveTable { slots, mask: n - 1, seed }
    }

    /// Number of slots in use (memory is 40 bytes each, whatever the traffic).
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// What to answer `client`, whose request carries `origin`, `receive`
    /// and `transmit` timestamps.
    #[inline]
    pub fn lookup(
        &self,
        client: IpAddr,
        origin: NtpTimestamp,
        receive: NtpTimestamp,
        transmit: NtpTimestamp,
    ) -> Interleave {
        // RFC 9769: an interleaved request has an origin (the server's last
        // receive timestamp) and a receive field that differs from its transmit.
        if origin.is_zero() || receive == transmit {
            return Interleave::Basic;
        }
        let key = key(client);
        let Some((_, slot)) = self.find(key) else { return Interleave::Basic };
        if slot[2] != origin.to_bits() {
            return Interleave::Basic;
        }
        match slot[3] {
            0 => Interleave::Pending,
            tx => Interleave::Previous(NtpTimestamp::from_bits(tx)),
        }
    }

    /// Remembers that `client` was answered with receive timestamp `rx`
    /// (its transmit timestamp still unknown); returns where to record it,
    /// or `None` when another worker was writing the slot at that moment.
    #[inline]
    pub fn record_reply(&self, client: IpAddr, rx: NtpTimestamp) -> Option<TxHandle> {
        let key = key(client);
        let i = self.find(key).map_or_else(|| self.victim(key), |(i, _)| i);
        let rx = rx.to_bits().max(1);
        self.write(i, |_| Some([key.0, key.1, rx, 0]))?;
        Some(TxHandle { slot: i as u32, rx })
    }

    /// The reply recorded as `handle` left at `tx` (served time). Ignored
    /// when the slot has moved on (another reply, another client).
    #[inline]
    pub fn record_transmit(&self, handle: TxHandle, tx: NtpTimestamp) {
        if (handle.slot as usize) <= self.mask {
            self.write(handle.slot as usize, |f| {
                (f[2] == handle.rx).then_some([f[0], f[1], f[2], tx.to_bits().max(1)])
            });
        }
    }

    /// Slot `i` as last written completely, or `None` while it is written.
    #[inline]
    fn read(&self, i: usize) -> Option<Fields> {
        let s = &self.slots[i];
        let before = s[SEQ].load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let f = [
            s[KEY_HI].load(Ordering::Relaxed),
            s[KEY_LO].load(Ordering::Relaxed),
            s[RX].load(Ordering::Relaxed),
            s[TX].load(Ordering::Relaxed),
        ];
        fence(Ordering::Acquire);
        (s[SEQ].load(Ordering::Relaxed) == before).then_some(f)
    }

    /// Replaces slot `i` with what `update` makes of its fields (nothing
    /// when it returns `None`); `None` when another writer holds the slot.
    #[inline]
    fn write(&self, i: usize, update: impl FnOnce(Fields) -> Option<Fields>) -> Option<()> {
        let s = &self.slots[i];
        let seq = s[SEQ].load(Ordering::Relaxed);
        if seq & 1 == 1 || s[SEQ].compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return None;
        }
        fence(Ordering::Release);
        let old = [
            s[KEY_HI].load(Ordering::Relaxed),
            s[KEY_LO].load(Ordering::Relaxed),
            s[RX].load(Ordering::Relaxed),
            s[TX].load(Ordering::Relaxed),
        ];
        let new = update(old);
        if let Some(f) = new {
            s[KEY_HI].store(f[0], Ordering::Relaxed);
            s[KEY_LO].store(f[1], Ordering::Relaxed);
            s[RX].store(f[2], Ordering::Relaxed);
            s[TX].store(f[3], Ordering::Relaxed);
        }
        s[SEQ].store(seq + 2, Ordering::Release);
        new.map(|_| ())
    }

    #[inline]
    fn window(&self, key: (u64, u64)) -> impl Iterator<Item = usize> + '_ {
        let start = self.hash(key);
        (0..PROBE).map(move |k| (start + k) & self.mask)
    }

    #[inline]
    fn find(&self, key: (u64, u64)) -> Option<(usize, Fields)> {
        self.window(key)
            .filter_map(|i| Some((i, self.read(i)?)))
            .find(|(_, f)| f[2] != 0 && f[0] == key.0 && f[1] == key.1)
    }

    /// The slot a new client takes: an empty one, else the one whose last
    /// reply is oldest.
    #[inline]
    fn victim(&self, key: (u64, u64)) -> usize {
        let age = |i: usize| self.slots[i][RX].load(Ordering::Relaxed);
        let mut best = self.hash(key) & self.mask;
        for i in self.window(key) {
            if age(i) < age(best) {
                best = i;
            }
        }
        best
    }

    #[inline]
    fn hash(&self, key: (u64, u64)) -> usize {
        let mut h = key.1 ^ key.0.rotate_left(31) ^ self.seed;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        (h ^ (h >> 33)) as usize
    }
}

/// Turns the basic reply `decide` wrote into `out` for `request` (from
/// `client`, received at `rx`, the reply's receive timestamp) into what the
/// table says: interleaved (origin = the request's receive field, transmit
/// = the previous reply's) when it can, and asking for this reply's kernel
/// transmit timestamp whenever the client uses interleaved mode. A request
/// without an origin timestamp is a basic client's: the table is not touched.
pub(super) fn apply(
    table: &InterleaveTable,
    request: &ClientRequest<'_>,
    client: IpAddr,
    rx: NtpTimestamp,
    out: &mut [u8],
    reply: PreparedReply,
) -> PreparedReply {
    if request.header.origin_time.is_zero() {
        return reply;
    }
    let transmit = NtpTimestamp::from_be_bytes(request.transmit_bytes);
    let mode = table.lookup(client, request.header.origin_time, request.header.receive_time, transmit);
    let handle = table.record_reply(client, rx);
    let reply = match (mode, handle) {
        (Interleave::Basic, _) | (_, None) => reply,
        (Interleave::Pending, Some(h)) => reply.stamped(h),
        (Interleave::Previous(tx), Some(h)) => reply.interleaved(tx).stamped(h),
    };
    if reply.is_interleaved() {
        let origin = request.header.receive_time.to_be_bytes();
        out[Header::ORIGIN_OFFSET..Header::ORIGIN_OFFSET + 8].copy_from_slice(&origin);
    }
    reply
}

/// A client's key: its address as an IPv6 address (IPv4 mapped), in two words.
#[inline]
fn key(client: IpAddr) -> (u64, u64) {
    let v6 = match client {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6, |v4| v4.to_ipv6_mapped()),
    };
    let a = u128::from(v6);
    ((a >> 64) as u64, a as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ts(n: u64) -> NtpTimestamp {
        NtpTimestamp::from_bits(n)
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0xc000_0200 + n))
    }

    /// An interleaved request of a client that was last answered with `rx`.
    fn ask(t: &InterleaveTable, client: IpAddr, origin: u64) -> Interleave {
        t.lookup(client, ts(origin), ts(7), ts(9))
    }

    #[test]
    fn third_exchange_is_the_first_interleaved_one() {
        let t = InterleaveTable::new(64, 1);
        let c = ip(1);
        // Request 1: basic (no origin).
        assert_eq!(t.lookup(c, NtpTimestamp::ZERO, NtpTimestamp::ZERO, ts(5)), Interleave::Basic);
        t.record_reply(c, ts(100)).unwrap();
        // Request 2 names reply 1's receive timestamp: interleaved, but reply 1's
        // transmit timestamp was never taken.
        assert_eq!(ask(&t, c, 100), Interleave::Pending);
        let h = t.record_reply(c, ts(200)).unwrap();
        t.record_transmit(h, ts(201));
        // Request 3: interleaved with reply 2's real transmit timestamp.
        assert_eq!(ask(&t, c, 200), Interleave::Previous(ts(201)));
    }

    #[test]
    fn basic_requests_stay_basic() {
        let t = InterleaveTable::new(64, 1);
        let c = ip(1);
        let h = t.record_reply(c, ts(100)).unwrap();
        t.record_transmit(h, ts(101));
        // Receive field equal to transmit field: basic mode (RFC 9769).
        assert_eq!(t.lookup(c, ts(100), ts(9), ts(9)), Interleave::Basic);
        // An origin that is not our last receive timestamp (a basic client
        // echoing our transmit timestamp, or a stale one).
        assert_eq!(ask(&t, c, 101), Interleave::Basic);
        assert_eq!(ask(&t, c, 99), Interleave::Basic);
    }

    #[test]
    fn a_spoofed_origin_gets_no_other_clients_timestamp() {
        let t = InterleaveTable::new(64, 1);
        let (victim, attacker) = (ip(1), ip(2));
        let h = t.record_reply(victim, ts(100)).unwrap();
        t.record_transmit(h, ts(101));
        // The attacker knows (or guesses) the victim's receive timestamp.
        assert_eq!(ask(&t, attacker, 100), Interleave::Basic);
        // Even with a slot of its own.
        let h = t.record_reply(attacker, ts(300)).unwrap();
        t.record_transmit(h, ts(301));
        assert_eq!(ask(&t, attacker, 100), Interleave::Basic);
        assert_eq!(ask(&t, victim, 100), Interleave::Previous(ts(101)));
    }

    #[test]
    fn a_late_transmit_timestamp_does_not_land_on_a_newer_reply() {
        let t = InterleaveTable::new(64, 1);
        let c = ip(1);
        let old = t.record_reply(c, ts(100)).unwrap();
        t.record_reply(c, ts(200)).unwrap();
        t.record_transmit(old, ts(101));
        assert_eq!(ask(&t, c, 200), Interleave::Pending);
        assert_eq!(ask(&t, c, 100), Interleave::Basic);
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_client_is_evicted() {
        let t = InterleaveTable::new(16, 7);
        assert_eq!(t.capacity(), 16);
        // Far more clients than slots: the table never grows.
        for n in 0..10_000u32 {
            let h = t.record_reply(ip(n), ts(1000 + u64::from(n))).unwrap();
            t.record_transmit(h, ts(5000 + u64::from(n)));
        }
        assert_eq!(t.capacity(), 16);
        // The newest client is remembered; the first ones were evicted.
        assert_eq!(ask(&t, ip(9_999), 1000 + 9_999), Interleave::Previous(ts(5000 + 9_999)));
        let remembered = (0..10_000u32).filter(|&n| ask(&t, ip(n), 1000 + u64::from(n)) != Interleave::Basic).count();
        assert!(remembered <= 16, "{remembered}");
        assert_eq!(ask(&t, ip(0), 1000), Interleave::Basic);
    }

    #[test]
    fn a_returning_client_keeps_its_slot() {
        let t = InterleaveTable::new(4, 3);
        let c = ip(1);
        let first = t.record_reply(c, ts(10)).unwrap();
        let again = t.record_reply(c, ts(20)).unwrap();
        assert_eq!(first.slot, again.slot);
    }

    #[test]
    fn mapped_and_plain_ipv4_are_one_client() {
        let t = InterleaveTable::new(64, 1);
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        let h = t.record_reply(IpAddr::V4(v4), ts(100)).unwrap();
        t.record_transmit(h, ts(101));
        assert_eq!(ask(&t, IpAddr::V6(v4.to_ipv6_mapped()), 100), Interleave::Previous(ts(101)));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(ask(&t, v6, 100), Interleave::Basic);
    }

    #[test]
    fn workers_racing_on_the_table_never_see_a_torn_entry() {
        let t = std::sync::Arc::new(InterleaveTable::new(8, 5));
        // Each writer records replies whose transmit time is rx + 1 for two
        // clients it shares with the other; the readers must only ever see
        // matching pairs for the client asked about.
        let threads: Vec<_> = (0..4u64)
            .map(|w| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for n in 1..20_000u64 {
                        let c = ip((n % 2) as u32);
                        let rx = (n << 8) | (w << 4) | (n % 2);
                        if let Some(h) = t.record_reply(c, ts(rx)) {
                            t.record_transmit(h, ts(rx + 1));
                        }
                        for probe in [rx, rx.saturating_sub(256)] {
                            match t.lookup(c, ts(probe), ts(1), ts(2)) {
                                Interleave::Previous(tx) => assert_eq!(tx, ts(probe + 1)),
                                Interleave::Pending | Interleave::Basic => {}
                            }
                        }
                        // The other client's receive timestamps are never ours.
                        assert_eq!(t.lookup(ip(7), ts(rx), ts(1), ts(2)), Interleave::Basic);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
    }
}
