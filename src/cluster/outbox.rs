//! What the bus must do after a call into the cluster's state machines:
//! messages to send, links to open or close, slots whose keys must go. The
//! rules return it instead of doing I/O, so they are tested without sockets.

use super::message::Message;

/// An outbound connection to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The link id the topology recorded for it.
    pub link: u64,
    /// `ip:busport`.
    pub addr: String,
}

/// What the bus must do after a topology call.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Messages, each with the links to send it on.
    pub sends: Vec<(Vec<u64>, Message)>,
    /// Links to open.
    pub connects: Vec<Connect>,
    /// Links to close.
    pub closes: Vec<u64>,
    /// Slots this node lost while holding keys: delete their keys.
    pub dirty_slots: Vec<u16>,
    /// PUBLISH (false) and SPUBLISH (true) messages from other nodes to
    /// deliver to this node's subscribers: (shard, channel, message).
    pub publish: Vec<(bool, Vec<u8>, Vec<u8>)>,
    /// Pause client writes until this monotonic ms (0: end the pause), for
    /// a manual failover.
    pub pause_writes: Option<u64>,
}

impl Outbox {
    /// Queues `m` for one link.
    pub(super) fn send(&mut self, link: u64, m: Message) {
        self.sends.push((vec![link], m));
    }
}
