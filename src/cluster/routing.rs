//! Routing in cluster mode: does this node run a command, or redirect it?
//! The checks follow Redis's `getNodeByQuery` in order:
//!
//! 1. no keys → run here, even when the cluster is down;
//! 2. the first key's slot has no owner → `CLUSTERDOWN Hash slot not served`;
//! 3. a key in another slot → `CROSSSLOT`;
//! 4. the cluster is down → `CLUSTERDOWN The cluster is down` (reads may be
//!    allowed with `cluster-allow-reads-when-down`);
//! 5. MIGRATE while the slot is open → run here;
//! 6. the slot is migrating and keys are missing → `TRYAGAIN` if some exist,
//!    else `ASK` to the target;
//! 7. the slot is importing and the client sent `ASKING` → run, unless several
//!    keys are involved and some are missing (`TRYAGAIN`);
//! 8. a replica of the owner, a `READONLY` client, a read → run here;
//! 9. otherwise the owner serves it → `MOVED` unless that is this node.
//!
//! The decision is taken while holding the slot's fence, and the fence stays
//! held while the command runs, so a migration cannot move a key between the
//! check and the command.

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
use thiserror::Error;

use super::route;
use super::Cluster;
use crate::slot::key_slot;
use crate::store::Keyspace;

/// Why this node does not run a command, with Redis's exact error line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Redirect {
    /// Another node serves the slot.
    #[error("MOVED {slot} {addr}")]
    Moved {
        /// The slot.
        slot: u16,
        /// `ip:port` of its owner.
        addr: String,
    },
    /// The slot is moving and the keys are already on the target.
    #[error("ASK {slot} {addr}")]
    Ask {
        /// The slot.
        slot: u16,
        /// `ip:port` of the node importing it.
        addr: String,
    },
    /// A multi-key request while the slot's keys are split between two nodes.
    #[error("TRYAGAIN Multiple keys request during rehashing of slot")]
    TryAgain,
    /// Keys in different slots.
    #[error("CROSSSLOT Keys in request don't hash to the same slot")]
    CrossSlot,
    /// No node serves the slot.
    #[error("CLUSTERDOWN Hash slot not served")]
    Unbound,
    /// The cluster state is fail.
    #[error("CLUSTERDOWN The cluster is down")]
    Down,
    /// The cluster state is fail and only reads are allowed.
    #[error("CLUSTERDOWN The cluster is down and only accepts read commands")]
    DownReadOnly,
}

/// The keys of a request: one command's, or every queued command's for EXEC.
pub trait KeySource {
    /// Calls `f` with each key, in order.
    fn each_key<'s>(&'s self, f: &mut dyn FnMut(&'s [u8]));
}

/// A command (or transaction) to route.
pub struct Request<'k> {
    /// Its keys.
    pub keys: &'k dyn KeySource,
    /// True when it may write.
    pub write: bool,
    /// The client sent READONLY.
    pub readonly_client: bool,
    /// The client sent ASKING, or the command itself asks (RESTORE-ASKING).
    pub asking: bool,
    /// The command is MIGRATE.
    pub migrate: bool,
    /// The command needs the slot to itself while it runs (MIGRATE, EXEC).
    pub exclusive: bool,
}

/// A held slot fence (see [`Cluster::route`]).
pub struct Fence<'a> {
    /// The fenced slot.
    pub slot: u16,
    /// Another command held the fence and this one waited for it: the time
    /// read before is stale.
    pub waited: bool,
    _guard: Guard<'a>,
}

enum Guard<'a> {
    /// Other commands in the slot may run alongside.
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    /// Nothing else runs in the slot.
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

impl<'a> Fence<'a> {
    pub(super) fn exclusive(slot: u16, g: RwLockWriteGuard<'a, ()>) -> Fence<'a> {
        Fence {
            slot,
            waited: false,
            _guard: Guard::Exclusive(g),
        }
    }
}

impl Cluster {
    /// Decides whether this node runs `req`. `Ok(None)`: it has no keys.
    /// `Ok(Some(fence))`: run it while holding the fence. `Err`: the redirect
    /// or error to reply with. `keys_now_ms` is the wall time the command
    /// judges its keys' expiry at; the lease is not read from it.
    pub fn route<'a>(
        &'a self,
        ks: &Keyspace,
        req: &Request<'_>,
        keys_now_ms: u64,
    ) -> Result<Option<Fence<'a>>, Redirect> {
        let mut first: Option<(&[u8], u16)> = None;
        let (mut multiple, mut cross) = (false, false);
        req.keys.each_key(&mut |k| match first {
            None => first = Some((k, key_slot(k))),
            Some((fk, slot)) => {
                if k != fk {
                    if key_slot(k) != slot {
                        cross = true;
                    } else {
                        multiple = true;
                    }
                }
            }
        });
        let Some((_, slot)) = first else {
            return Ok(None);
        };
        let lock = &self.fences[slot as usize];
        let held = if req.exclusive {
            lock.try_write().map(Guard::Exclusive)
        } else {
            lock.try_read().map(Guard::Shared)
        };
        let fence = match held {
            Some(g) => Fence {
                slot,
                waited: false,
                _guard: g,
            },
            None => Fence {
                slot,
                waited: true,
                _guard: if req.exclusive {
                    Guard::Exclusive(lock.write())
                } else {
                    Guard::Shared(lock.read())
                },
            },
        };
        let r = self.route_bits(slot);
        if r & route::ASSIGNED == 0 {
            return Err(Redirect::Unbound);
        }
        if cross {
            return Err(Redirect::CrossSlot);
        }
        // Read the lease only now: the fence may have been waited for (a
        // MIGRATE holds it for its whole exchange), and the lease may have
        // run out meanwhile.
        if !self.serving() {
            if !self
                .allow_reads_when_down
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                return Err(Redirect::Down);
            }
            if req.write {
                return Err(Redirect::DownReadOnly);
            }
        }
        let migrating = r & (route::MINE | route::MIGRATING) == route::MINE | route::MIGRATING;
        let importing = r & route::MINE == 0 && r & route::IMPORTING != 0;
        if !migrating && !importing {
            return if r & route::MINE != 0
                || (r & route::MY_MASTER != 0 && req.readonly_client && !req.write)
            {
                Ok(Some(fence))
            } else {
                Err(self.moved(slot))
            };
        }
        if req.migrate {
            return Ok(Some(fence));
        }
        let (mut missing, mut existing) = (0usize, 0usize);
        {
            let mut g = ks.lock_slot(0, slot, keys_now_ms);
            req.keys.each_key(&mut |k| {
                if g.contains(k) {
                    existing += 1;
                } else {
                    missing += 1;
                }
            });
        }
        if migrating && missing > 0 {
            if existing > 0 {
                return Err(Redirect::TryAgain);
            }
            let t = self.view();
            let addr = t
                .migrating
                .get(&slot)
                .and_then(|id| t.node(id))
                .map(|n| format!("{}:{}", n.ip, n.port));
            return match addr {
                Some(addr) => Err(Redirect::Ask { slot, addr }),
                None => Err(Redirect::TryAgain),
            };
        }
        if importing && req.asking {
            if multiple && missing > 0 {
                return Err(Redirect::TryAgain);
            }
            return Ok(Some(fence));
        }
        if r & route::MINE != 0 || (r & route::MY_MASTER != 0 && req.readonly_client && !req.write)
        {
            return Ok(Some(fence));
        }
        Err(self.moved(slot))
    }

    /// What a command blocked on a key of `slot` gets once this node stops
    /// serving it (Redis's `clusterRedirectBlockedClientIfNeeded`): nothing
    /// while the slot is this node's or being imported here.
    pub fn blocked_redirect(&self, slot: u16) -> Option<Redirect> {
        if !self.serving() {
            return Some(Redirect::Down);
        }
        let r = self.route_bits(slot);
        if r & route::ASSIGNED == 0 {
            return Some(Redirect::Unbound);
        }
        if r & (route::MINE | route::IMPORTING) != 0 {
            return None;
        }
        Some(self.moved(slot))
    }

    /// `MOVED` to the owner of `slot` as the topology says now.
    /// Decides whether this node serves shard channels in `slots` (SSUBSCRIBE,
    /// SUNSUBSCRIBE, SPUBLISH; Redis's `getNodeByQuery` for them): the owner
    /// and its replicas do, also while the slot moves and while the cluster
    /// is down (`cluster-allow-pubsubshard-when-down`, on by default).
    pub fn route_shard_channels(&self, slots: &[u16]) -> Result<(), Redirect> {
        let Some(&slot) = slots.first() else {
            return Ok(());
        };
        if slots.iter().any(|&s| s != slot) {
            return Err(Redirect::CrossSlot);
        }
        let r = self.route_bits(slot);
        if r & route::ASSIGNED == 0 {
            return Err(Redirect::Unbound);
        }
        if r & (route::MINE | route::MY_MASTER) != 0 {
            return Ok(());
        }
        Err(self.moved(slot))
    }

    fn moved(&self, slot: u16) -> Redirect {
        let t = self.view();
        match t.owner(slot).and_then(|o| t.node(&o)) {
            Some(n) => Redirect::Moved {
                slot,
                addr: format!("{}:{}", n.ip, n.port),
            },
            None => Redirect::Unbound,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::topology::tests::{id, master, topo};
    use super::*;
    use crate::store::keyspace::NoSink;
    use crate::store::Value;

    struct Keys(Vec<&'static [u8]>);
    impl KeySource for Keys {
        fn each_key<'s>(&'s self, f: &mut dyn FnMut(&'s [u8])) {
            for k in &self.0 {
                f(k);
            }
        }
    }

    fn req(keys: &Keys, write: bool) -> Request<'_> {
        Request {
            keys,
            write,
            readonly_client: false,
            asking: false,
            migrate: false,
            exclusive: false,
        }
    }

    /// Node a owns every slot except k1's (12706), which b owns; state ok.
    fn setup() -> (Cluster, Keyspace) {
        let mut t = topo(b'a');
        t.add_node(master(b'b', 7001));
        for s in 0..16384u16 {
            t.add_slot(s, if s == 12706 { id(b'b') } else { id(b'a') });
        }
        t.update_state(1_000_000);
        assert!(t.state_ok);
        // b's confirmation gives a the lease (a majority of two primaries).
        t.confirmed.insert(id(b'b'), crate::clock::monotonic_ms());
        (Cluster::in_memory(t), Keyspace::new(1, Arc::new(NoSink)))
    }

    #[test]
    fn the_order_of_the_checks() {
        let (c, ks) = setup();
        let none = Keys(vec![]);
        assert!(c.route(&ks, &req(&none, true), 0).unwrap().is_none());
        let k1 = Keys(vec![b"k1"]);
        assert_eq!(
            c.route(&ks, &req(&k1, false), 0).err(),
            Some(Redirect::Moved {
                slot: 12706,
                addr: "127.0.0.1:7001".into()
            })
        );
        let local = Keys(vec![b"a", b"a"]);
        assert!(c.route(&ks, &req(&local, true), 0).unwrap().is_some());
        let cross = Keys(vec![b"a", b"b"]);
        assert_eq!(
            c.route(&ks, &req(&cross, true), 0).err(),
            Some(Redirect::CrossSlot)
        );
        c.with(|t, _| {
            t.del_slot(key_slot(b"a"));
        });
        assert_eq!(
            c.route(&ks, &req(&cross, true), 0).err(),
            Some(Redirect::Unbound)
        );
        // Slot of b is still served, but the cluster is down now (not covered).
        let b = Keys(vec![b"b"]);
        assert_eq!(c.route(&ks, &req(&b, false), 0).err(), Some(Redirect::Down));
        c.set_settings(crate::cluster::topology::Settings {
            allow_reads_when_down: true,
            ..Default::default()
        });
        assert!(c.route(&ks, &req(&b, false), 0).unwrap().is_some());
        assert_eq!(
            c.route(&ks, &req(&b, true), 0).err(),
            Some(Redirect::DownReadOnly)
        );
    }

    #[test]
    fn migrating_and_importing_slots() {
        let (c, ks) = setup();
        // a migrates slot of {k1}... no: a owns slot 0; migrate it to b.
        let slot = key_slot(b"{06S}a");
        assert_eq!(slot, 0);
        c.with(|t, _| {
            t.migrating.insert(0, id(b'b'));
            t.changes.routes = true;
        });
        ks.lock_slot(0, 0, 0)
            .set(b"{06S}a", Value::string(b"1"), Some(0));
        let present = Keys(vec![b"{06S}a"]);
        assert!(c.route(&ks, &req(&present, false), 0).unwrap().is_some());
        let gone = Keys(vec![b"{06S}b"]);
        assert_eq!(
            c.route(&ks, &req(&gone, false), 0).err(),
            Some(Redirect::Ask {
                slot: 0,
                addr: "127.0.0.1:7001".into()
            })
        );
        let split = Keys(vec![b"{06S}a", b"{06S}b"]);
        assert_eq!(
            c.route(&ks, &req(&split, false), 0).err(),
            Some(Redirect::TryAgain)
        );
        let mut m = req(&gone, true);
        m.migrate = true;
        assert!(c.route(&ks, &m, 0).unwrap().is_some());
        // Importing side: slot 12706 comes from b.
        c.with(|t, _| {
            t.importing.insert(12706, id(b'b'));
            t.changes.routes = true;
        });
        let k1 = Keys(vec![b"k1"]);
        assert!(matches!(
            c.route(&ks, &req(&k1, false), 0),
            Err(Redirect::Moved { .. })
        ));
        let mut asking = req(&k1, true);
        asking.asking = true;
        assert!(c.route(&ks, &asking, 0).unwrap().is_some());
        let two = Keys(vec![b"k1", b"{k1}x"]);
        let mut asking2 = req(&two, true);
        asking2.asking = true;
        assert_eq!(c.route(&ks, &asking2, 0).err(), Some(Redirect::TryAgain));
    }

    #[test]
    fn the_lease_is_read_after_waiting_for_the_fence() {
        // The session reads the time once per socket read; a command that
        // then waits for its slot's fence (held by a MIGRATE) must not be
        // served on a lease that ran out while it waited.
        let (c, ks) = setup();
        let nt = c.view().settings.node_timeout;
        let confirmed = crate::clock::monotonic_ms() + 100 - nt;
        c.with(|t, _| {
            t.confirmed.insert(id(b'b'), confirmed);
        });
        let read_at = crate::clock::monotonic_ms();
        let k = Keys(vec![b"a"]);
        assert!(c.route(&ks, &req(&k, true), read_at).unwrap().is_some());
        let held = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _fence = c.fence_exclusive(key_slot(b"a"));
                held.wait();
                while crate::clock::monotonic_ms() <= confirmed + nt {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            });
            held.wait();
            assert_eq!(
                c.route(&ks, &req(&k, true), read_at).err(),
                Some(Redirect::Down)
            );
        });
    }

    #[test]
    fn replicas_serve_readonly_reads_of_their_primary() {
        let mut t = topo(b'a');
        t.add_node(master(b'b', 7001));
        for s in 0..16384u16 {
            t.add_slot(s, id(b'b'));
        }
        t.set_my_master(id(b'b'));
        t.update_state(1_000_000);
        let c = Cluster::in_memory(t);
        let ks = Keyspace::new(1, Arc::new(NoSink));
        let k = Keys(vec![b"x"]);
        assert!(matches!(
            c.route(&ks, &req(&k, false), 0),
            Err(Redirect::Moved { .. })
        ));
        let mut ro = req(&k, false);
        ro.readonly_client = true;
        assert!(c.route(&ks, &ro, 0).unwrap().is_some());
        ro.write = true;
        assert!(matches!(c.route(&ks, &ro, 0), Err(Redirect::Moved { .. })));
    }
}
