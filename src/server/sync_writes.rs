//! Synchronous replication (`replica-sync-writes N`, or `CLIENT SYNC-WRITES N`
//! for one connection): a write's reply leaves only once N replicas have
//! acknowledged its offset. The wait is per batch of replies, not per
//! write, so a pipeline pays one round trip to the replicas. A write whose
//! replicas do not answer within `replica-sync-timeout` ms is answered with a
//! `-NOREPLICAS` error instead of its reply: it stays applied here and may be
//! lost, which the error says. A write is known by its stream offset moving,
//! so turning the mode on (at start, CONFIG SET, CLIENT SYNC-WRITES) makes
//! the log record (`Log::activate`).

use std::sync::atomic::Ordering;

use crate::commands::Client;
use crate::node::Server;
use crate::resp::reply::Reply;

/// What a write whose replicas did not acknowledge it in time gets.
const NOT_REPLICATED: &[u8] = b"-NOREPLICAS Not enough replicas acknowledged this write within replica-sync-timeout: it is applied on this node only and may be lost\r\n";

/// How many replicas this client's writes wait for (0: none).
pub fn wanted(srv: &Server, client: &Client) -> usize {
    match client.sync_writes {
        Some(n) => n as usize,
        None => srv.hot.replica_sync_writes.load(Ordering::Relaxed) as usize,
    }
}

/// After a command: when it wrote (its offset moved past `offset_before`)
/// and writes are synchronous, its reply (`out.buf[start..]`) waits for
/// `settle`.
pub fn note(srv: &Server, client: &mut Client, out: &Reply, start: usize, offset_before: u64) {
    if client.write_offset > offset_before && start < out.buf.len() && wanted(srv, client) > 0 {
        client.sync_pending.push((start, out.buf.len()));
    }
}

/// Before the replies go out: waits until enough replicas acknowledged the
/// batch's last write, or the timeout; then the writes' replies are replaced
/// by the error. Nothing to do unless a synchronous write is pending.
pub async fn settle(srv: &Server, client: &mut Client, out: &mut Reply) {
    if client.sync_pending.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut client.sync_pending);
    let want = wanted(srv, client);
    let offset = client.write_offset;
    let acked = if srv.replicas.online() < want {
        // Not enough replicas to ever answer: no wait.
        srv.replicas.acked_at_least(offset)
    } else {
        let timeout = srv.hot.replica_sync_timeout.load(Ordering::Relaxed);
        crate::repl::links::wait(&srv.replicas, &srv.repl, offset, want, timeout).await
    };
    if acked < want {
        replace_ranges(&mut out.buf, &pending, NOT_REPLICATED);
    }
}

/// Replaces each `[start, end)` of `buf` (ascending, not overlapping) with `with`.
fn replace_ranges(buf: &mut bytes::BytesMut, ranges: &[(usize, usize)], with: &[u8]) {
    let mut rebuilt = bytes::BytesMut::with_capacity(buf.len());
    let mut at = 0;
    for &(start, end) in ranges {
        if start < at || end > buf.len() {
            continue;
        }
        rebuilt.extend_from_slice(&buf[at..start]);
        rebuilt.extend_from_slice(with);
        at = end;
    }
    rebuilt.extend_from_slice(&buf[at..]);
    *buf = rebuilt;
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_writes_replies_are_replaced() {
        let mut buf = bytes::BytesMut::from(&b"+OK\r\n$1\r\nv\r\n:5\r\n"[..]);
        super::replace_ranges(&mut buf, &[(0, 5), (12, 16)], b"-E\r\n");
        assert_eq!(&buf[..], b"-E\r\n$1\r\nv\r\n-E\r\n");
    }
}
