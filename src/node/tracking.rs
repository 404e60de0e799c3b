//! Server-assisted client-side caching (CLIENT TRACKING), as Redis 7.0 does
//! it: in the default mode the keys a client read are remembered (key →
//! client ids) and the first change of a key sends each of them one
//! invalidation, then forgets the key; in BCAST mode every change of a key
//! under a subscribed prefix is collected and sent in one message per
//! prefix once the command that made it ends. Invalidations go into the
//! client's mailbox (or its redirection's): a RESP3 push, or a
//! `__redis__:invalidate` pub/sub message for a subscribed RESP2 connection.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::clients::{ClientInfo, Clients};
use super::mailbox::Limit;
use super::pubsub::Delivery;

/// How a client tracks (its `CLIENT TRACKING` options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]

pub struct Mode {
    /// Client id invalidations go to (0: the client itself).
    pub redirect: u64,
    /// BCAST: invalidations for every key under `prefixes`.
    pub bcast: bool,
    /// OPTIN: only keys read right after `CLIENT CACHING yes`.
    pub optin: bool,
    /// OPTOUT: keys read except right after `CLIENT CACHING no`.
    pub optout: bool,
    /// NOLOOP: no invalidations for its own changes.
    pub noloop: bool,
    /// The redirection client went away.
    pub broken: bool,
    /// BCAST prefixes ("" = every key).
    pub prefixes: Vec<Box<[u8]>>,
}

/// Changed keys, each with the id of the client that changed it (for NOLOOP).
type Changed = Vec<(Box<[u8]>, u64)>;

/// A BCAST prefix: who listens, and the keys changed since the last send.
struct Prefix {
    prefix: Box<[u8]>,
    clients: Vec<u64>,
    changed: Changed,
}

/// The tracking tables.
#[derive(Default)]
pub struct Tracking {
    /// Clients with tracking on (`tracking_clients`).
    clients: AtomicUsize,
    /// Default mode: key → ids of clients that read it.
    keys: Mutex<HashMap<Box<[u8]>, Vec<u64>>>,
    /// (key, id) pairs in `keys` (`tracking_total_items`).
    items: AtomicUsize,
    /// BCAST prefixes.
    prefixes: Mutex<Vec<Prefix>>,
    /// Some prefix has changed keys to send.
    pending: AtomicBool,
}

thread_local! {
    /// The id of the client whose command runs on this thread (0: none), so
    /// a change knows who made it (NOLOOP).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` as client `id`'s command.
pub fn as_client<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(id));
    let r = f();
    CURRENT.with(|c| c.set(before));
    r
}

fn current() -> u64 {
    CURRENT.with(|c| c.get())
}

/// What an invalidation carries: keys, or null (everything: a flush).
enum Payload<'a> {
    Keys(&'a [&'a [u8]]),
    All,
}

impl Tracking {
    /// True when no client tracks (changes cost one load then).
    pub fn is_idle(&self) -> bool {
        self.clients.load(Ordering::Relaxed) == 0
    }

    /// `tracking_clients`, `tracking_total_keys`, `tracking_total_items`,
    /// `tracking_total_prefixes`.
    pub fn info(&self) -> [usize; 4] {
        [
            self.clients.load(Ordering::Relaxed),
            self.keys.lock().len(),
            self.items.load(Ordering::Relaxed),
            self.prefixes.lock().len(),
        ]
    }

    /// Turns tracking on for `who` with `mode` (replacing its previous mode;
    /// BCAST prefixes add to the ones it had).
    pub fn enable(&self, who: &ClientInfo, mut mode: Mode) {
        let mut cur = who.tracking.lock();
        if cur.is_none() {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        if mode.bcast {
            let mut prefixes = self.prefixes.lock();
            if mode.prefixes.is_empty() {
                mode.prefixes.push(Box::default());
            }
            let had: Vec<Box<[u8]>> = cur
                .as_ref()
                .filter(|m| m.bcast)
                .map(|m| m.prefixes.clone())
                .unwrap_or_default();
            for p in &mode.prefixes {
                match prefixes.iter_mut().find(|x| x.prefix == *p) {
                    Some(x) if !x.clients.contains(&who.id) => x.clients.push(who.id),
                    Some(_) => {}
                    None => prefixes.push(Prefix {
                        prefix: p.clone(),
                        clients: vec![who.id],
                        changed: Vec::new(),
                    }),
                }
            }
            for p in had {
                if !mode.prefixes.contains(&p) {
                    mode.prefixes.push(p);
                }
            }
        }
        *cur = Some(mode);
    }

    /// Turns tracking off for `who` (its remembered keys stay in the table
    /// until they change, as in Redis).
    pub fn disable(&self, who: &ClientInfo) {
        let Some(mode) = who.tracking.lock().take() else {
            return;
        };
        self.clients.fetch_sub(1, Ordering::Relaxed);
        if mode.bcast {
            let mut prefixes = self.prefixes.lock();
            for p in prefixes.iter_mut() {
                p.clients.retain(|&id| id != who.id);
            }
            prefixes.retain(|p| !p.clients.is_empty());
        }
    }

    /// Remembers that client `id` read `keys` (default mode).
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let mut table = self.keys.lock();
        for k in keys {
            match table.get_mut(k) {
                Some(ids) if ids.contains(&id) => continue,
                Some(ids) => ids.push(id),
                None => {
                    table.insert(k.into(), vec![id]);
                }
            }
            self.items.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `key` changed: invalidates it for the clients that read it, and
    /// collects it for the BCAST prefixes it falls under.
    pub fn changed(&self, key: &[u8], clients: &Clients, how: Delivery) {
        if self.is_idle() {
            return;
        }
        let writer = current();
        {
            let mut prefixes = self.prefixes.lock();
            for p in prefixes.iter_mut().filter(|p| key.starts_with(&p.prefix)) {
                p.changed.push((key.into(), writer));
                self.pending.store(true, Ordering::Release);
            }
        }
        let Some(ids) = self.keys.lock().remove(key) else {
            return;
        };
        self.items.fetch_sub(ids.len(), Ordering::Relaxed);
        for id in ids {
            let Some(target) = clients.get(id) else {
                continue;
            };
            let mode = target.tracking.lock().clone();
            match mode {
                // BCAST clients hear through their prefixes; NOLOOP ones
                // not about their own changes.
                Some(m) if !(m.bcast || (m.noloop && id == writer)) => {
                    self.send(&target, &m, Payload::Keys(&[key]), clients, how)
                }
                _ => {}
            }
        }
    }

    /// Sends each BCAST prefix's collected keys to its clients (after a
    /// command, and from the cron for expirations).
    pub fn broadcast(&self, clients: &Clients, how: Delivery) {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let batches: Vec<(Changed, Vec<u64>)> = {
            let mut prefixes = self.prefixes.lock();
            prefixes
                .iter_mut()
                .filter(|p| !p.changed.is_empty())
                .map(|p| (std::mem::take(&mut p.changed), p.clients.clone()))
                .collect()
        };
        for (changed, ids) in batches {
            for id in ids {
                let Some(target) = clients.get(id) else {
                    continue;
                };
                let Some(m) = target.tracking.lock().clone() else {
                    continue;
                };
                let keys: Vec<&[u8]> = changed
                    .iter()
                    .filter(|(_, w)| !(m.noloop && *w == id))
                    .map(|(k, _)| &k[..])
                    .collect();
                if !keys.is_empty() {
                    self.send(&target, &m, Payload::Keys(&keys), clients, how);
                }
            }
        }
    }

    /// A FLUSHALL/FLUSHDB: every tracking client is told everything is
    /// invalid (a null), and the table is emptied.
    pub fn flushed(&self, clients: &Clients, how: Delivery) {
        if self.is_idle() {
            self.keys.lock().clear();
            self.items.store(0, Ordering::Relaxed);
            return;
        }
        for target in clients.snapshot() {
            let mode = target.tracking.lock().clone();
            if let Some(m) = mode {
                self.send(&target, &m, Payload::All, clients, how);
            }
        }
        self.keys.lock().clear();
        self.items.store(0, Ordering::Relaxed);
    }

    /// Invalidates remembered keys until at most `max` remain
    /// (`tracking-table-max-keys`; 0 = no limit).
    pub fn limit(&self, max: usize, clients: &Clients, how: Delivery) {
        if max == 0 {
            return;
        }
        loop {
            let victim = {
                let table = self.keys.lock();
                if table.len() <= max {
                    return;
                }
                table.keys().next().cloned()
            };
            let Some(key) = victim else {
                return;
            };
            as_client(0, || self.changed(&key, clients, how));
        }
    }

    /// Writes an invalidation for `who` (tracking in `mode`) into the
    /// mailbox it goes to.
    fn send(
        &self,
        who: &ClientInfo,
        mode: &Mode,
        what: Payload<'_>,
        clients: &Clients,
        how: Delivery,
    ) {
        let redirected;
        let target: &ClientInfo = if mode.redirect != 0 {
            match clients.get_staying(mode.redirect) {
                Some(r) => {
                    redirected = r;
                    &redirected
                }
                None => {
                    if let Some(m) = who.tracking.lock().as_mut() {
                        m.broken = true;
                    }
                    if who.resp.load(Ordering::Relaxed) == 3 {
                        let mut f = b">2\r\n$21\r\ntracking-redir-broken\r\n:".to_vec();
                        f.extend_from_slice(itoa::Buffer::new().format(mode.redirect).as_bytes());
                        f.extend_from_slice(b"\r\n");
                        push(who, &f, how);
                    }
                    return;
                }
            }
        } else {
            who
        };
        let mut f = Vec::new();
        if target.resp.load(Ordering::Relaxed) == 3 {
            f.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
        } else if mode.redirect != 0 && target.subscribed() > 0 {
            f.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
        } else {
            // RESP2 has no pushes on the connection itself.
            return;
        }
        match what {
            Payload::Keys(keys) => crate::repl::log::encode_command(&mut f, keys),
            Payload::All if target.resp.load(Ordering::Relaxed) == 3 => {
                f.extend_from_slice(b"_\r\n")
            }
            Payload::All => f.extend_from_slice(b"$-1\r\n"),
        }
        push(target, &f, how);
    }
}

/// Queues `frame` for `to`; only a subscriber is held to the pubsub limit.
fn push(to: &ClientInfo, frame: &[u8], how: Delivery) {
    let limit = if to.subscribed() > 0 {
        how.limit
    } else {
        Limit::default()
    };
    if to.mailbox.push(frame, false, limit, how.now_ms) == super::mailbox::Pushed::OverLimit {
        to.kill();
    }
    if how.count_mem {
        to.recount_mem();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn client(clients: &Clients, id: u64, resp: u8) -> Arc<ClientInfo> {
        let a = "127.0.0.1:1".parse().expect("literal");
        let c = Arc::new(ClientInfo::new(id, a, a));
        c.resp.store(resp, Ordering::Relaxed);
        clients.add(c.clone());
        c
    }

    const HOW: Delivery = Delivery::UNLIMITED;

    #[test]
    fn a_read_key_is_invalidated_once_and_noloop_skips_own_changes() {
        let (clients, t) = (Clients::new(), Tracking::default());
        let a = client(&clients, 1, 3);
        t.enable(&a, Mode::default());
        t.remember(1, [&b"k"[..], b"j"].into_iter());
        assert_eq!(t.info(), [1, 2, 2, 0]);
        t.changed(b"k", &clients, HOW);
        assert_eq!(
            a.mailbox.drain_text(),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        t.changed(b"k", &clients, HOW);
        assert_eq!(a.mailbox.drain_text(), "");
        t.enable(
            &a,
            Mode {
                noloop: true,
                ..Mode::default()
            },
        );
        as_client(1, || t.changed(b"j", &clients, HOW));
        assert_eq!(a.mailbox.drain_text(), "");
        t.flushed(&clients, HOW);
        assert_eq!(a.mailbox.drain_text(), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
        t.disable(&a);
        assert!(t.is_idle());
    }

    #[test]
    fn bcast_collects_per_prefix_and_resp2_goes_through_the_redirection() {
        let (clients, t) = (Clients::new(), Tracking::default());
        let a = client(&clients, 1, 2);
        let r = client(&clients, 2, 2);
        r.subscriptions[0].store(1, Ordering::Relaxed);
        t.enable(
            &a,
            Mode {
                bcast: true,
                redirect: 2,
                prefixes: vec![b"a:"[..].into()],
                ..Mode::default()
            },
        );
        t.changed(b"a:1", &clients, HOW);
        t.changed(b"b:1", &clients, HOW);
        t.changed(b"a:2", &clients, HOW);
        assert_eq!(r.mailbox.drain_text(), "");
        t.broadcast(&clients, HOW);
        assert_eq!(
            r.mailbox.drain_text(),
            "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n$3\r\na:1\r\n$3\r\na:2\r\n"
        );
        clients.remove(2);
        a.resp.store(3, Ordering::Relaxed);
        t.changed(b"a:3", &clients, HOW);
        t.broadcast(&clients, HOW);
        assert_eq!(
            a.mailbox.drain_text(),
            ">2\r\n$21\r\ntracking-redir-broken\r\n:2\r\n"
        );
        assert!(a.tracking.lock().as_ref().is_some_and(|m| m.broken));
    }
}
