//! Moves SFTP packets between one SSH channel and the [`SftpHandler`] so
//! that neither direction can stall the other.
//!
//! Why this exists instead of `russh_sftp::server::run`: that loop reads a
//! request, handles it, and writes the reply before it reads the next one.
//! A reply larger than the client's channel window waits for a
//! WINDOW_ADJUST. Meanwhile the client's next requests pile up in russh's
//! per-channel buffer (100 messages); once it is full, russh's session loop
//! blocks delivering channel data, stops reading the socket, and never sees
//! the WINDOW_ADJUST queued behind those requests. Every download with more
//! requests in flight than fit (paramiko's prefetch, `sftp -R 256`) hung
//! for good, the session kept its `--max-sessions` slot after the client
//! died, and `--idle-timeout` could not fire. The pattern russh's users
//! converged on is to drain the channel at all times; this module does that.
//!
//! Three tasks per session: the *reader* drains the channel into a queue of
//! complete request packets; the *worker* takes them in order and runs the
//! handler (a run of consecutive READs as one batch, see
//! [`reads`](super::reads)); the *writer* sends the replies (waiting for
//! window as long as it takes). Worker and writer overlap, so the file
//! reads of the next batch happen while the previous one is on its way;
//! every request is still handled only after the one before it, so a READ
//! sees every earlier WRITE. The request queue is bounded in bytes, not in
//! count: above [`SOFT_BACKLOG`] the reader pauses (backpressure for
//! clients that send faster than the disk writes), unless the writer is
//! waiting to send, since the window it waits for may sit behind the queued
//! requests. A client that keeps more than [`HARD_BACKLOG`] of requests
//! unanswered (about eight million 32 KiB reads) has its channel closed.
//!
//! Replies in memory per session: the batch being sent, one batch queued
//! ([`REPLY_QUEUE`]) and the one being built, each at most
//! [`READ_BATCH`] plus one read (256 KiB) of file
//! data: about 4 MiB while downloading, nothing while idle. What russh's
//! session queue holds of them are slices of the batch being sent (shared,
//! not copied), never more than the client's window.
//!
//! Each reply goes to russh's session loop in as few messages as the
//! client's window admits (`data_bytes_windowed`, a patch in
//! vendor/russh/XFER-PATCH.md); the loop cuts them into channel packets.
//! Writing through the channel's `AsyncWrite` instead copied every 32 KiB
//! packet and woke the session loop once per packet.

use super::dispatch::handle_packet;
use super::files::{SftpHandler, MAX_CLIENT_PACKET, MAX_IO_LEN};
use super::reads::READ_BATCH;
use super::record::SessionRecord;
use bytes::{Buf, Bytes, BytesMut};
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf};
use russh_sftp::protocol::{Packet, StatusCode};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Notify};

/// Queued request bytes above which the reader waits for the worker.
pub const SOFT_BACKLOG: usize = 64 * 1024 * 1024;
/// Queued request bytes above which the client is cut off.
pub const HARD_BACKLOG: usize = 256 * 1024 * 1024;
/// Bookkeeping charged per queued packet, so that a flood of tiny requests
/// counts for what it costs.
const PER_PACKET_COST: usize = 64;
/// Batches of replies the worker may have ready while the writer sends.
pub const REPLY_QUEUE: usize = 1;

/// What the reader and the worker of one session share.
struct Backlog {
    /// Bytes of requests queued and not yet taken by the worker.
    queued: AtomicUsize,
    /// The writer holds replies to send (possibly waiting for window).
    writing: AtomicBool,
    /// The worker has stopped: nothing will shrink the queue any more.
    worker_done: AtomicBool,
    /// Wakes the reader when `queued` shrinks or `writing` is set.
    progress: Notify,
}

/// Serves SFTP on `channel` with `handler` until the channel closes.
/// Returns at once; the work runs on two tasks.
pub(crate) fn spawn(channel: Channel<Msg>, handler: SftpHandler, record: Arc<SessionRecord>) {
    let (read, write) = channel.split();
    let write = Arc::new(write);
    let backlog = Arc::new(Backlog {
        queued: AtomicUsize::new(0),
        writing: AtomicBool::new(false),
        worker_done: AtomicBool::new(false),
        progress: Notify::new(),
    });
    let (requests, queue) = mpsc::unbounded_channel();
    let (replies, to_send) = mpsc::channel(REPLY_QUEUE);
    let (closed_tx, closed) = watch::channel(false);
    tokio::spawn(reader(
        read,
        write.clone(),
        requests,
        backlog.clone(),
        closed_tx,
        record,
    ));
    tokio::spawn(worker(
        queue,
        replies,
        handler,
        backlog.clone(),
        closed.clone(),
    ));
    tokio::spawn(writer(to_send, write, backlog, closed));
}

/// Splits a byte stream into SFTP packets (length prefix removed).
#[derive(Default)]
pub struct Framer {
    buf: BytesMut,
}

/// Why a stream of SFTP packets cannot be framed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("SFTP packet of {0} bytes is over the limit of {MAX_CLIENT_PACKET}")]
    TooLong(u32),
    #[error("empty SFTP packet")]
    Empty,
}

impl Framer {
    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete packet (type byte and payload), if one is buffered.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len > MAX_CLIENT_PACKET {
            return Err(FrameError::TooLong(len));
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if self.buf.len() < 4 + len as usize {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len as usize).freeze()))
    }
}

async fn reader(
    mut read: russh::ChannelReadHalf,
    write: Arc<ChannelWriteHalf<Msg>>,
    requests: mpsc::UnboundedSender<Bytes>,
    backlog: Arc<Backlog>,
    closed: watch::Sender<bool>,
    record: Arc<SessionRecord>,
) {
    let mut framer = Framer::default();
    // Once set, data is still drained (so russh's session loop never
    // blocks on this channel) but no longer queued.
    let mut requests = Some(requests);
    loop {
        // Backpressure, but never while the worker waits to write: the
        // window it waits for may be queued behind the requests unread.
        while requests.is_some()
            && backlog.queued.load(Ordering::Acquire) > SOFT_BACKLOG
            && !backlog.writing.load(Ordering::Acquire)
            && !backlog.worker_done.load(Ordering::Acquire)
        {
            backlog.progress.notified().await;
        }
        let Some(msg) = read.wait().await else {
            break;
        };
        let data = match msg {
            ChannelMsg::Data { data } => data,
            // The client sends no more requests: the worker answers those
            // queued, then stops.
            ChannelMsg::Eof => {
                requests = None;
                continue;
            }
            ChannelMsg::Close => break,
            _ => continue,
        };
        let Some(tx) = &requests else { continue };
        framer.push(&data);
        let mut failed = None;
        loop {
            match framer.next_packet() {
                Ok(Some(packet)) => {
                    let cost = packet.len() + PER_PACKET_COST;
                    let queued = backlog.queued.fetch_add(cost, Ordering::AcqRel) + cost;
                    if queued > HARD_BACKLOG {
                        failed = Some("closed: over 256 MiB of SFTP requests unanswered");
                        break;
                    }
                    if tx.send(packet).is_err() {
                        failed = Some("closed: the SFTP worker stopped");
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    failed = Some("closed: malformed SFTP packet");
                    break;
                }
            }
        }
        if let Some(why) = failed {
            // A client that breaks framing or floods us: close the channel
            // and drop what it queued, but keep draining until russh says
            // the channel is gone.
            record.set_outcome(why);
            requests = None;
            let _ = closed.send(true);
            let _ = write.close().await;
        }
    }
    let _ = closed.send(true);
}

/// Takes a packet off the queue: releases its share of the backlog and
/// decodes it.
fn dequeue(backlog: &Backlog, mut packet: Bytes) -> Option<Packet> {
    backlog
        .queued
        .fetch_sub(packet.len() + PER_PACKET_COST, Ordering::AcqRel);
    backlog.progress.notify_one();
    Packet::try_from(&mut packet).ok()
}

async fn worker(
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    replies: mpsc::Sender<Vec<Bytes>>,
    mut handler: SftpHandler,
    backlog: Arc<Backlog>,
    mut closed: watch::Receiver<bool>,
) {
    // A request taken off the queue while gathering READs, not a READ: it
    // is handled next, after the batch, to keep the client's order.
    let mut held: Option<Option<Packet>> = None;
    loop {
        let request = match held.take() {
            Some(request) => request,
            None => {
                let next = tokio::select! {
                    next = queue.recv() => next,
                    _ = closed.wait_for(|&c| c) => None,
                };
                let Some(packet) = next else { break };
                dequeue(&backlog, packet)
            }
        };
        let batch = match request {
            Some(Packet::Read(first)) => {
                let mut bytes = first.len.min(MAX_IO_LEN) as usize;
                let mut reads = vec![first];
                while bytes < READ_BATCH {
                    let Ok(packet) = queue.try_recv() else { break };
                    match dequeue(&backlog, packet) {
                        Some(Packet::Read(read)) => {
                            bytes += read.len.min(MAX_IO_LEN) as usize;
                            reads.push(read);
                        }
                        other => {
                            held = Some(other);
                            break;
                        }
                    }
                }
                handler.read_batch(reads).await
            }
            Some(request) => {
                let reply = handle_packet(&mut handler, request).await;
                let Ok(bytes) = Bytes::try_from(reply) else {
                    break;
                };
                vec![bytes]
            }
            None => {
                let Ok(bytes) = Bytes::try_from(Packet::error(0, StatusCode::BadMessage)) else {
                    break;
                };
                vec![bytes]
            }
        };
        let queued = tokio::select! {
            r = replies.send(batch) => r.is_ok(),
            _ = closed.wait_for(|&c| c) => false,
        };
        if !queued {
            break;
        }
    }
    // A reader paused for backpressure must go back to draining, or it
    // would never see the channel end.
    backlog.worker_done.store(true, Ordering::Release);
    backlog.progress.notify_one();
    // Dropping the handler closes its files (and tells shutdown so).
    drop(handler);
}

/// Hands `batch` to the session loop, waiting for the client's window.
async fn send_all(write: &ChannelWriteHalf<Msg>, batch: Vec<Bytes>) -> Result<(), russh::Error> {
    for reply in batch {
        write.data_bytes_windowed(reply).await?;
    }
    Ok(())
}

async fn writer(
    mut to_send: mpsc::Receiver<Vec<Bytes>>,
    write: Arc<ChannelWriteHalf<Msg>>,
    backlog: Arc<Backlog>,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            next = to_send.recv() => next,
            _ = closed.wait_for(|&c| c) => None,
        };
        let Some(batch) = next else { break };
        backlog.writing.store(true, Ordering::Release);
        backlog.progress.notify_one();
        // The window may never open again (a stalled or dead client): the
        // send gives way when the channel closes.
        let sent = tokio::select! {
            r = send_all(&write, batch) => r.is_ok(),
            _ = closed.wait_for(|&c| c) => false,
        };
        backlog.writing.store(false, Ordering::Release);
        if !sent {
            break;
        }
    }
    // Dropping `to_send` fails the worker's next hand-over: it stops too.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn framer_splits_packets_across_and_within_pushes() {
        let mut f = Framer::default();
        let mut stream = frame(b"\x01abc");
        stream.extend(frame(b"\x02de"));
        f.push(&stream[..3]);
        assert_eq!(f.next_packet(), Ok(None));
        f.push(&stream[3..6]);
        assert_eq!(f.next_packet(), Ok(None));
        f.push(&stream[6..]);
        assert_eq!(f.next_packet().unwrap().unwrap().as_ref(), b"\x01abc");
        assert_eq!(f.next_packet().unwrap().unwrap().as_ref(), b"\x02de");
        assert_eq!(f.next_packet(), Ok(None));
    }

    #[test]
    fn framer_refuses_oversized_and_empty_packets() {
        let mut f = Framer::default();
        f.push(&(MAX_CLIENT_PACKET + 1).to_be_bytes());
        assert_eq!(
            f.next_packet(),
            Err(FrameError::TooLong(MAX_CLIENT_PACKET + 1))
        );
        let mut f = Framer::default();
        f.push(&0u32.to_be_bytes());
        assert_eq!(f.next_packet(), Err(FrameError::Empty));
    }
}
