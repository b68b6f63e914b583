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
//! Oldest first is what defeats an attacker who reconnects each time it is
//! cut off: a normal client's connection is the newest, so it is reclaimed
//! only after `max_connections` newer connections arrived before its head
//! did, while every attacker reconnect displaces another attacker.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Serving a request whose head arrived in full: never reclaimed.
const BUSY: u64 = 0;
/// Reclaimed by a newer connection; its thread must stop.
const RECLAIMED: u64 = u64::MAX;

/// One connection's slot: its socket (to shut it down when reclaimed) and
/// its state, `BUSY`, `RECLAIMED` or the instant it started waiting (as
/// nanoseconds since [`Slots`]' epoch, plus one).
struct Slot {
    fd: RawFd,
    state: AtomicU64,
}

/// The slots of one server.
pub(crate) struct Slots {
    max: usize,
    epoch: Instant,
    next_id: AtomicU64,
    /// Mirrors `table.len()` for lock-free reads by the idle timeout.
    active: AtomicUsize,
    /// Invariant: while a slot is in the table, its fd is open (its owner
    /// removes it, under this lock, before closing the socket).
    table: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
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
        (self.epoch.elapsed().as_nanos() as u64).saturating_add(1)
    }

    /// Reclaims the slot that has been waiting longest; false if all are busy.
    fn reclaim_oldest(&self, table: &mut HashMap<u64, Arc<Slot>>) -> bool {
        loop {
            let oldest = table
                .iter()
                .filter_map(|(id, s)| {
                    let t = s.state.load(Ordering::SeqCst);
                    (t != BUSY && t != RECLAIMED).then_some((t, *id))
                })
                .min();
            let Some((since, id)) = oldest else {
                return false;
            };
            let slot = &table[&id];
            // It may have turned busy since the scan: then look again.
            if slot
                .state
                .compare_exchange(since, RECLAIMED, Ordering::SeqCst, Ordering::SeqCst)
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
            .compare_exchange(BUSY, now, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// A complete head arrived: the slot is busy. False when it was
    /// reclaimed meanwhile (the socket is shut down; stop serving).
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
        let slots = Arc::new(Slots::new(2));
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
}
