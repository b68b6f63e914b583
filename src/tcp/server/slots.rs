//! The connection slots of `tcp-serve` and the policy that keeps connections
//! without a complete request head from locking out complete requests
//! (slowloris: a head sent one byte a second).
//!
//! Every accepted connection takes one of `max_connections` slots. A slot is
//! *busy* while its connection serves a request whose head arrived in full,
//! and *waiting* while the connection waits for a head: idle between
//! keep-alive requests, still sending a head, or draining before close. When
//! all slots are taken, a new connection reclaims the slot that has been
//! waiting longest (its socket is shut down, so its thread's blocked read
//! returns at once and the thread exits), as nginx reclaims idle keep-alive
//! connections when it runs out of them. Only when every slot is busy is the
//! newcomer refused with 503.
//!
//! A slot is also reclaimable while its connection receives an upload body
//! that has fallen below `--min-rate` on average since the body started
//! (see `pace.rs`; bytes already in the socket's receive queue count as
//! arrived): a client that sends a complete head and then trickles its body
//! is as much a slowloris as one that trickles its head. A body that keeps
//! up is busy, never reclaimed. Bodies behind the rate go first (the one
//! that started first first), then connections waiting for a head: a slow
//! body has proved itself slow, while a connection waiting for its head may
//! be a normal client whose head is about to be read.
//!
//! Oldest first is what defeats an attacker who reconnects each time it is
//! cut off: a normal client's connection is the newest, so it is reclaimed
//! only after `max_connections` newer connections arrived before its head
//! did, while every attacker reconnect displaces another attacker.

use super::pace;
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Serving a request whose head arrived in full: never reclaimed.
const BUSY: u64 = 0;
/// Reclaimed by a newer connection; its thread must stop.
const RECLAIMED: u64 = u64::MAX;
/// Set on the instant a body started: receiving a body (reclaimable only
/// while it is behind the minimum rate).
const BODY: u64 = 1 << 63;

/// One connection's slot: its socket (to shut it down when reclaimed) and
/// its state, `BUSY`, `RECLAIMED`, the instant it started waiting, or
/// `BODY` with the instant its body started (instants as nanoseconds since
/// [`Slots`]' epoch, plus one).
struct Slot {
    fd: RawFd,
    state: AtomicU64,
    /// Body bytes received so far, while the state is `BODY`.
    body_bytes: AtomicU64,
}

/// The slots of one server.
pub(crate) struct Slots {
    max: usize,
    /// Bytes per second a body must average to keep its slot when full.
    min_rate: u64,
    epoch: Instant,
    next_id: AtomicU64,
    /// Mirrors `table.len()` for lock-free reads by the idle timeout.
    active: AtomicUsize,
    /// Invariant: while a slot is in the table, its fd is open (its owner
    /// removes it, under this lock, before closing the socket).
    table: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Slots {
    pub(crate) fn new(max: usize, min_rate: u64) -> Self {
        Self {
            max: max.max(1),
            min_rate,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections holding a slot now.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Takes a slot for the socket `fd`, reclaiming the longest-waiting one
    /// when all are taken; `None` when every slot is busy. The new slot is
    /// waiting (its head has not arrived yet).
    ///
    /// `fd` must stay open until the returned guard is dropped.
    pub(crate) fn admit(self: &Arc<Self>, fd: RawFd) -> Option<SlotGuard> {
        let mut table = self.lock();
        if table.len() >= self.max && !self.reclaim_oldest(&mut table) {
            return None;
        }
        let slot = Arc::new(Slot {
            fd,
            state: AtomicU64::new(self.now()),
            body_bytes: AtomicU64::new(0),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        table.insert(id, Arc::clone(&slot));
        self.active.store(table.len(), Ordering::Relaxed);
        Some(SlotGuard {
            slots: Arc::clone(self),
            id,
            slot,
        })
    }

    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() as u64).saturating_add(1) & !BODY
    }

    /// Where `slot` stands in the reclaim order, lowest first (`None`: it
    /// is not reclaimable): bodies behind the rate by the start of the
    /// body, then connections waiting for a head by when they started to.
    fn reclaim_rank(&self, slot: &Slot, state: u64, now: u64) -> Option<(u8, u64)> {
        match state {
            BUSY | RECLAIMED => None,
            s if s & BODY != 0 => {
                let since = s & !BODY;
                let elapsed = Duration::from_nanos(now.saturating_sub(since));
                let bytes = slot
                    .body_bytes
                    .load(Ordering::SeqCst)
                    .saturating_add(unread_bytes(slot.fd));
                pace::behind(self.min_rate, bytes, elapsed).then_some((0, since))
            }
            waiting => Some((1, waiting)),
        }
    }

    /// Reclaims the first slot in the reclaim order (see `reclaim_rank`);
    /// false if none is reclaimable.
    fn reclaim_oldest(&self, table: &mut HashMap<u64, Arc<Slot>>) -> bool {
        loop {
            let now = self.now();
            let oldest = table
                .iter()
                .filter_map(|(id, s)| {
                    let state = s.state.load(Ordering::SeqCst);
                    let rank = self.reclaim_rank(s, state, now)?;
                    Some((rank, *id, state))
                })
                .min();
            let Some((_, id, state)) = oldest else {
                return false;
            };
            let slot = &table[&id];
            // It may have turned busy since the scan: then look again.
            if slot
                .state
                .compare_exchange(state, RECLAIMED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                // SAFETY: the slot is in the table, so its fd is open (see
                // `table`); shutdown does not close or invalidate the fd.
                unsafe { libc::shutdown(slot.fd, libc::SHUT_RDWR) };
                table.remove(&id);
                self.active.store(table.len(), Ordering::Relaxed);
                return true;
            }
        }
    }
}

/// Bytes received on socket `fd` that its reader has not read yet.
fn unread_bytes(fd: RawFd) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int; the caller holds the table lock,
    // so `fd` is open (see `Slots::table`).
    let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0;
    if ok {
        u64::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// A connection's hold on its slot; dropping it frees the slot (unless it
/// was reclaimed, which freed it already). Drop it before the socket closes.
pub(crate) struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    slot: Arc<Slot>,
}

impl SlotGuard {
    /// The connection waits for a request head (it may be reclaimed from now
    /// on). Keeps the earlier instant when it was waiting already.
    pub(crate) fn waiting(&self) {
        let now = self.slots.now();
        let _ = self
            .slot
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s == BUSY || (s != RECLAIMED && s & BODY != 0)).then_some(now)
            });
    }

    /// An upload body starts arriving: the slot may be reclaimed whenever
    /// the body falls behind the minimum rate. False when it was reclaimed.
    pub(crate) fn body(&self) -> bool {
        self.slot.body_bytes.store(0, Ordering::SeqCst);
        let started = self.slots.now() | BODY;
        self.slot
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s != RECLAIMED).then_some(started)
            })
            .is_ok()
    }

    /// `total` body bytes have arrived so far.
    pub(crate) fn body_progress(&self, total: u64) {
        self.slot.body_bytes.store(total, Ordering::SeqCst);
    }

    /// A complete head arrived, or a whole body: the slot is busy. False
    /// when it was reclaimed meanwhile (the socket is shut down; stop
    /// serving).
    pub(crate) fn busy(&self) -> bool {
        self.slot
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s != RECLAIMED).then_some(BUSY)
            })
            .is_ok()
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut table = self.slots.lock();
        table.remove(&self.id);
        self.slots.active.store(table.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_full_table_reclaims_the_longest_waiting_slot_and_never_a_busy_one() {
        let socks: Vec<_> = (0..4).map(|_| UnixStream::pair().unwrap()).collect();
        let fd = |i: usize| socks[i].0.as_raw_fd();
        let slots = Arc::new(Slots::new(2, 1000));
        let a = slots.admit(fd(0)).unwrap();
        let b = slots.admit(fd(1)).unwrap();
        assert_eq!(slots.active(), 2);
        // `a` is serving a request: `b`, waiting, is the only candidate.
        assert!(a.busy());
        let c = slots.admit(fd(2)).expect("b reclaimed");
        assert_eq!(slots.active(), 2);
        assert!(!b.busy(), "b was reclaimed");
        b.waiting();
        assert!(!b.busy(), "a reclaimed slot stays reclaimed");
        // b's socket was shut down: its peer sees end of stream.
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &socks[1].1, &mut buf).unwrap(), 0);
        drop(b);
        assert_eq!(
            slots.active(),
            2,
            "dropping a reclaimed guard frees nothing twice"
        );
        // Both busy: no slot for a newcomer.
        assert!(c.busy());
        assert!(slots.admit(fd(3)).is_none());
        assert_eq!(slots.active(), 2);
        // `a` waits again, after `c` started waiting: `c` is older.
        c.waiting();
        a.waiting();
        let _d = slots.admit(fd(3)).expect("c reclaimed");
        assert!(!c.busy() && a.busy());
        drop(a);
        assert_eq!(slots.active(), 1);
    }

    #[test]
    fn a_body_behind_the_minimum_rate_is_reclaimable_and_one_keeping_up_is_not() {
        let socks: Vec<_> = (0..4).map(|_| UnixStream::pair().unwrap()).collect();
        let fd = |i: usize| socks[i].0.as_raw_fd();
        let slots = Arc::new(Slots::new(2, 1000));
        let a = slots.admit(fd(0)).unwrap();
        let b = slots.admit(fd(1)).unwrap();
        // `a` is far ahead of 1000 B/s; `b` has received nothing yet.
        assert!(a.busy() && a.body());
        a.body_progress(1 << 40);
        assert!(b.busy() && b.body());
        let started = Instant::now();
        while started.elapsed().is_zero() {}
        let c = slots.admit(fd(2)).expect("b, behind, reclaimed");
        assert!(!b.body() && !b.busy(), "b was reclaimed");
        assert!(a.busy(), "a, keeping up, was not");
        // `c` keeps up too: no room for a newcomer.
        assert!(c.busy() && c.body());
        c.body_progress(1 << 40);
        assert!(a.body());
        a.body_progress(1 << 40);
        assert!(slots.admit(fd(3)).is_none());
        // The body done, `a` waits for its next head: reclaimable again.
        a.waiting();
        let _d = slots.admit(fd(3)).expect("a reclaimed");
        assert!(!a.busy() && c.busy());
    }
}
