//! Pub/sub: who listens to which channel, pattern and shard channel, and
//! delivery of a published message into each listener's mailbox. A
//! connection's own list of subscriptions (`Subscriptions`) lives with its
//! session; the registry here is the reverse index publishers read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use parking_lot::RwLock;

use super::clients::ClientInfo;
use super::mailbox::{Limit, Pushed};
use crate::repl::log::encode_command;

/// The two channel namespaces: classic channels (with patterns) and shard
/// channels (SSUBSCRIBE/SPUBLISH, which live with a slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

impl Kind {
    /// The message type word a subscriber receives.
    fn message_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"message",
            Kind::Shard => b"smessage",
        }
    }
}

type Listeners = Vec<Arc<ClientInfo>>;

/// One connection's subscriptions (owned by its session).
#[derive(Default)]
pub struct Subscriptions {
    channels: HashSet<Box<[u8]>>,
    shard: HashSet<Box<[u8]>>,
    /// In subscription order, as Redis keeps them.
    patterns: Vec<Box<[u8]>>,
}

impl Subscriptions {
    /// Channels plus patterns (what SUBSCRIBE/PSUBSCRIBE replies count).
    pub fn classic(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Shard channels (what SSUBSCRIBE replies count).
    pub fn shard(&self) -> usize {
        self.shard.len()
    }

    /// Channels, patterns, shard channels.
    pub fn counts(&self) -> [usize; 3] {
        [self.channels.len(), self.patterns.len(), self.shard.len()]
    }

    /// The count a (un)subscribe reply of `kind` shows.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel => self.classic(),
            Kind::Shard => self.shard(),
        }
    }

    /// The channels of `kind`, for an UNSUBSCRIBE without arguments.
    pub fn channels(&self, kind: Kind) -> Vec<Box<[u8]>> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Shard => self.shard.iter().cloned().collect(),
        }
    }

    /// The patterns, in subscription order.
    pub fn patterns(&self) -> Vec<Box<[u8]>> {
        self.patterns.clone()
    }

    fn set(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// The reverse index: channel → listeners, pattern → listeners.
#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Box<[u8]>, Listeners>>,
    shard: RwLock<HashMap<Box<[u8]>, Listeners>>,
    /// In first-subscription order.
    patterns: RwLock<Vec<(Box<[u8]>, Listeners)>>,
    /// Connections closed for passing an output-buffer limit, of any class
    /// (`client_output_buffer_limit_disconnections`; most are subscribers).
    pub limit_disconnections: AtomicU64,
}

/// How a publish delivers: the subscribers' output limit and the time.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// `client-output-buffer-limit pubsub`.
    pub limit: Limit,
    /// Unix ms (for the soft limit's clock).
    pub now_ms: u64,
    /// Client eviction is on: a receiver's share of the clients' memory
    /// follows each frame queued for it (else its session recounts it).
    pub count_mem: bool,
}

impl PubSub {
    fn table(&self, kind: Kind) -> &RwLock<HashMap<Box<[u8]>, Listeners>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Shard => &self.shard,
        }
    }

    /// Subscribes `who` to `channel`; returns its count of `kind` after.
    pub fn subscribe(&self, who: &Arc<ClientInfo>, kind: Kind, channel: &[u8]) -> usize {
        let mut subs = who.subs.lock();
        if subs.set(kind).insert(channel.into()) {
            self.table(kind)
                .write()
                .entry(channel.into())
                .or_default()
                .push(who.clone());
            who.mirror_subscriptions(&subs);
        }
        subs.count(kind)
    }

    /// Unsubscribes `who` from `channel`; returns its count of `kind` after.
    pub fn unsubscribe(&self, who: &ClientInfo, kind: Kind, channel: &[u8]) -> usize {
        let mut subs = who.subs.lock();
        if subs.set(kind).remove(channel) {
            let mut table = self.table(kind).write();
            if let Some(list) = table.get_mut(channel) {
                list.retain(|c| c.id != who.id);
                if list.is_empty() {
                    // An empty entry would let clients grow the table without bound.
                    table.remove(channel);
                }
            }
            drop(table);
            who.mirror_subscriptions(&subs);
        }
        subs.count(kind)
    }

    /// Subscribes `who` to `pattern`; returns its channel and pattern count after.
    pub fn psubscribe(&self, who: &Arc<ClientInfo>, pattern: &[u8]) -> usize {
        let mut subs = who.subs.lock();
        if !subs.patterns.iter().any(|p| &p[..] == pattern) {
            subs.patterns.push(pattern.into());
            let mut patterns = self.patterns.write();
            match patterns.iter_mut().find(|(p, _)| &p[..] == pattern) {
                Some((_, list)) => list.push(who.clone()),
                None => patterns.push((pattern.into(), vec![who.clone()])),
            }
            drop(patterns);
            who.mirror_subscriptions(&subs);
        }
        subs.classic()
    }

    /// Unsubscribes `who` from `pattern`; returns its channel and pattern count after.
    pub fn punsubscribe(&self, who: &ClientInfo, pattern: &[u8]) -> usize {
        let mut subs = who.subs.lock();
        if let Some(i) = subs.patterns.iter().position(|p| &p[..] == pattern) {
            subs.patterns.remove(i);
            let mut patterns = self.patterns.write();
            if let Some(at) = patterns.iter().position(|(p, _)| &p[..] == pattern) {
                patterns[at].1.retain(|c| c.id != who.id);
                if patterns[at].1.is_empty() {
                    patterns.remove(at);
                }
            }
            drop(patterns);
            who.mirror_subscriptions(&subs);
        }
        subs.classic()
    }

    /// Drops every subscription of a connection that is leaving (or RESET).
    pub fn leave(&self, who: &ClientInfo) {
        if who.subscribed() == 0 {
            return;
        }
        // Copied first: a `for` would hold the lock over its body.
        for kind in [Kind::Channel, Kind::Shard] {
            let channels = who.subs.lock().channels(kind);
            for ch in channels {
                self.unsubscribe(who, kind, &ch);
            }
        }
        let patterns = who.subs.lock().patterns();
        for p in patterns {
            self.punsubscribe(who, &p);
        }
    }

    /// Ends every shard channel `served` says this node no longer serves (its
    /// slot moved away or failed over): each listener is unsubscribed and told
    /// with an `sunsubscribe` push, as Redis does, so it can subscribe again
    /// where the slot now lives.
    pub fn drop_shard_channels(&self, served: impl Fn(&[u8]) -> bool, how: Delivery) {
        let gone: Vec<(Box<[u8]>, Listeners)> = {
            let mut table = self.shard.write();
            let names: Vec<Box<[u8]>> = table.keys().filter(|c| !served(c)).cloned().collect();
            names
                .into_iter()
                .filter_map(|c| table.remove(&c).map(|l| (c, l)))
                .collect()
        };
        let mut frame = Vec::new();
        for (channel, listeners) in gone {
            for who in listeners {
                let mut subs = who.subs.lock();
                if !subs.shard.remove(&channel) {
                    continue;
                }
                who.mirror_subscriptions(&subs);
                frame.clear();
                let count = itoa::Buffer::new().format(subs.shard()).to_owned();
                encode_with_count(&mut frame, b"sunsubscribe", &channel, &count);
                drop(subs);
                self.deliver(&who, &frame, how);
            }
        }
    }

    /// Delivers `message` on `channel` to its listeners (and, for classic
    /// channels, to every matching pattern's); returns how many received it.
    pub fn publish(&self, kind: Kind, channel: &[u8], message: &[u8], how: Delivery) -> usize {
        let mut receivers = 0;
        let mut frame = Vec::new();
        if let Some(list) = self.table(kind).read().get(channel) {
            encode_command(&mut frame, &[kind.message_word(), channel, message]);
            for c in list {
                self.deliver(c, &frame, how);
            }
            receivers += list.len();
        }
        if kind == Kind::Shard {
            return receivers;
        }
        let patterns = self.patterns.read();
        for (pattern, list) in patterns.iter() {
            if !crate::glob::matches(pattern, channel, false) {
                continue;
            }
            frame.clear();
            encode_command(&mut frame, &[b"pmessage", pattern, channel, message]);
            for c in list {
                self.deliver(c, &frame, how);
            }
            receivers += list.len();
        }
        receivers
    }

    fn deliver(&self, to: &ClientInfo, frame: &[u8], how: Delivery) {
        if to.killed.load(Ordering::Relaxed) {
            return;
        }
        let push3 = to.resp.load(Ordering::Relaxed) == 3;
        if to.mailbox.push(frame, push3, how.limit, how.now_ms) == Pushed::OverLimit {
            tracing::warn!(
                id = to.id,
                pending = to.mailbox.pending(),
                "closing a subscriber over the pubsub output buffer limit"
            );
            self.limit_disconnections.fetch_add(1, Ordering::Relaxed);
            to.kill();
        }
        if how.count_mem {
            to.recount_mem();
        }
    }

    /// Active channels of `kind` matching `pattern` (all without one).
    pub fn channel_names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Box<[u8]>> {
        self.table(kind)
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// How many connections listen to `channel` (patterns not counted).
    pub fn listeners(&self, kind: Kind, channel: &[u8]) -> usize {
        self.table(kind).read().get(channel).map_or(0, |l| l.len())
    }

    /// Distinct patterns listened to.
    pub fn pattern_count(&self) -> usize {
        self.patterns.read().len()
    }

    /// Distinct channels of `kind` listened to.
    pub fn channel_count(&self, kind: Kind) -> usize {
        self.table(kind).read().len()
    }
}

/// Appends a RESP2 `[word, channel, :count]` confirmation.
fn encode_with_count(buf: &mut Vec<u8>, word: &[u8], channel: &[u8], count: &str) {
    buf.extend_from_slice(b"*3\r\n");
    let mut n = itoa::Buffer::new();
    for p in [word, channel] {
        buf.push(b'$');
        buf.extend_from_slice(n.format(p.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(p);
        buf.extend_from_slice(b"\r\n");
    }
    buf.push(b':');
    buf.extend_from_slice(count.as_bytes());
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
impl Delivery {
    /// No output limit, time 0 (tests).
    pub const UNLIMITED: Delivery = Delivery {
        limit: Limit {
            hard: 0,
            soft: 0,
            soft_ms: 0,
        },
        now_ms: 0,
        count_mem: false,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::mailbox::Limit;

    fn client(id: u64) -> Arc<ClientInfo> {
        let a = "127.0.0.1:1".parse().expect("literal");
        Arc::new(ClientInfo::new(id, a, a))
    }

    const NOW: Delivery = Delivery::UNLIMITED;

    #[test]
    fn channel_and_pattern_listeners_each_receive_and_count() {
        let ps = PubSub::default();
        let (a, b) = (client(1), client(2));
        assert_eq!(ps.subscribe(&a, Kind::Channel, b"news"), 1);
        assert_eq!(ps.subscribe(&a, Kind::Channel, b"news"), 1);
        assert_eq!(ps.psubscribe(&a, b"n*"), 2);
        assert_eq!(ps.psubscribe(&b, b"n*"), 1);
        assert_eq!(ps.publish(Kind::Channel, b"news", b"hi", NOW), 3);
        assert_eq!(
            a.mailbox.drain_text(),
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
             *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(b.mailbox.drain_text().matches("pmessage").count(), 1);
        // Shard channels are another namespace, and patterns do not see them.
        assert_eq!(ps.publish(Kind::Shard, b"news", b"hi", NOW), 0);
        ps.leave(&a);
        assert_eq!((a.subscribed(), ps.channel_count(Kind::Channel)), (0, 0));
        assert_eq!(ps.pattern_count(), 1);
        assert_eq!(ps.publish(Kind::Channel, b"news", b"hi", NOW), 1);
    }

    #[test]
    fn a_listener_over_the_hard_limit_is_killed_and_counted() {
        let ps = PubSub::default();
        let a = client(1);
        ps.subscribe(&a, Kind::Channel, b"c");
        let how = Delivery {
            limit: Limit {
                hard: 100,
                soft: 0,
                soft_ms: 0,
            },
            now_ms: 0,
            count_mem: false,
        };
        ps.publish(Kind::Channel, b"c", &[b'x'; 50], how);
        assert!(!a.killed.load(Ordering::Relaxed));
        ps.publish(Kind::Channel, b"c", &[b'x'; 50], how);
        assert!(a.killed.load(Ordering::Relaxed));
        assert_eq!(ps.limit_disconnections.load(Ordering::Relaxed), 1);
        // A killed listener is not fed any more.
        let before = a.mailbox.pending();
        ps.publish(Kind::Channel, b"c", b"more", how);
        assert_eq!(a.mailbox.pending(), before);
    }
}
