//! A connection's mailbox: frames other connections send it (pub/sub
//! messages, keyspace events, tracking invalidations) wait here until its
//! session writes them, and the pubsub output-buffer limit is judged on what
//! waits (`client-output-buffer-limit pubsub`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use bytes::BytesMut;
use parking_lot::Mutex;

/// An output-buffer limit as publishers apply it (0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit {
    /// Bytes that disconnect at once.
    pub hard: u64,
    /// Bytes that disconnect when held for `soft_ms`.
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_ms: u64,
}

/// What a push did to the mailbox against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued and within the limit.
    Queued,
    /// Queued, and the limit is now exceeded: the connection must close.
    OverLimit,
}

/// Frames waiting for one connection.
#[derive(Default)]
pub struct Mailbox {
    buf: Mutex<BytesMut>,
    /// Bytes queued or being written (a taken chunk counts until `sent`).
    pending: AtomicUsize,
    /// Unix ms since when `pending` is over the soft limit (0 = it is not).
    over_soft_since: AtomicU64,
    /// Wakes the session when something was queued.
    ready: Doorbell,
}

/// Wakes one waiting task (the connection's session), lock-free: polling it
/// is an atomic swap and a waker comparison, where a `Notify` takes a lock on
/// every poll (the session polls it once per request).
#[derive(Default)]
struct Doorbell {
    rung: AtomicBool,
    waker: AtomicWaker,
}

impl Doorbell {
    fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn poll_rung(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.rung.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A ring between the swap and the registration woke nobody: look again.
        if self.rung.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Mailbox {
    /// Queues one frame; `push3` swaps its first byte for RESP3's push type
    /// (`>`), so one RESP2 encoding serves both protocols.
    pub fn push(&self, frame: &[u8], push3: bool, limit: Limit, now_ms: u64) -> Pushed {
        {
            let mut b = self.buf.lock();
            if push3 && !frame.is_empty() {
                b.extend_from_slice(b">");
                b.extend_from_slice(&frame[1..]);
            } else {
                b.extend_from_slice(frame);
            }
        }
        let pending = self.pending.fetch_add(frame.len(), Ordering::AcqRel) + frame.len();
        self.ready.ring();
        self.judge(pending as u64, limit, now_ms)
    }

    fn judge(&self, pending: u64, limit: Limit, now_ms: u64) -> Pushed {
        if limit.hard > 0 && pending >= limit.hard {
            return Pushed::OverLimit;
        }
        if limit.soft > 0 && pending >= limit.soft {
            let since = match self.over_soft_since.compare_exchange(
                0,
                now_ms,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => now_ms,
                Err(t) => t,
            };
            if now_ms.saturating_sub(since) > limit.soft_ms {
                return Pushed::OverLimit;
            }
        } else {
            self.over_soft_since.store(0, Ordering::Release);
        }
        Pushed::Queued
    }

    /// Bytes queued or being written.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes everything queued, to be written; call `sent` with its length
    /// once it is. `None` when nothing waits.
    pub fn take(&self) -> Option<BytesMut> {
        let mut b = self.buf.lock();
        if b.is_empty() {
            return None;
        }
        Some(b.split())
    }

    /// A taken chunk of `n` bytes was written.
    pub fn sent(&self, n: usize) {
        let left = self.pending.fetch_sub(n, Ordering::AcqRel) - n;
        if left == 0 {
            self.over_soft_since.store(0, Ordering::Release);
        }
    }

    /// Moves everything queued to the end of `out` (a handler writing its
    /// reply after the frames it caused, as Redis orders them).
    pub fn drain_into(&self, out: &mut BytesMut) {
        if self.pending() == 0 {
            return;
        }
        if let Some(chunk) = self.take() {
            out.extend_from_slice(&chunk);
            self.sent(chunk.len());
        }
    }

    /// Wakes the session without queuing anything (it then looks at what
    /// else was asked of it: a kill, shutdown, freeing its buffer).
    pub fn wake(&self) {
        self.ready.ring();
    }

    /// Resolves once something was queued, or `wake` called, since the last
    /// wake-up. One task (the connection's session) waits on it.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| self.ready.poll_rung(cx)).await
    }
}

#[cfg(test)]
impl Mailbox {
    /// Everything queued, as text, marked written (tests read mailboxes so).
    pub fn drain_text(&self) -> String {
        let b = self.take().map(|b| b.to_vec()).unwrap_or_default();
        self.sent(b.len());
        String::from_utf8_lossy(&b).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_frames_start_with_the_push_type() {
        let m = Mailbox::default();
        let none = Limit::default();
        m.push(b"*1\r\n$1\r\na\r\n", false, none, 0);
        m.push(b"*1\r\n$1\r\nb\r\n", true, none, 0);
        let got = m.take().expect("queued");
        assert_eq!(&got[..], b"*1\r\n$1\r\na\r\n>1\r\n$1\r\nb\r\n");
        assert_eq!(m.pending(), got.len());
        m.sent(got.len());
        assert_eq!(m.pending(), 0);
        assert!(m.take().is_none());
    }

    #[test]
    fn hard_limit_at_once_soft_limit_after_its_time() {
        let m = Mailbox::default();
        let hard = Limit {
            hard: 10,
            soft: 0,
            soft_ms: 0,
        };
        assert_eq!(m.push(b"12345", false, hard, 0), Pushed::Queued);
        assert_eq!(m.push(b"12345", false, hard, 0), Pushed::OverLimit);

        let m = Mailbox::default();
        let soft = Limit {
            hard: 0,
            soft: 4,
            soft_ms: 1000,
        };
        assert_eq!(m.push(b"12345", false, soft, 100), Pushed::Queued);
        assert_eq!(m.push(b"1", false, soft, 1100), Pushed::Queued);
        assert_eq!(m.push(b"1", false, soft, 1101), Pushed::OverLimit);
        // Written out below the soft limit: the clock starts again.
        let chunk = m.take().expect("queued");
        m.sent(chunk.len());
        assert_eq!(m.push(b"12345", false, soft, 5000), Pushed::Queued);
        assert_eq!(m.push(b"1", false, soft, 5500), Pushed::Queued);
    }
}
