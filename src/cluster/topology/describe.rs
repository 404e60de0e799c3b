//! The `CLUSTER NODES` lines: one per node, in Redis's format, which
//! `nodes.conf` also uses.

use std::fmt::Write as _;

use super::{Node, NodeFlags, Topology};

impl Topology {
    /// The `CLUSTER NODES` line of `n` (no newline). Open-slot markers appear on
    /// this node's own line only.
    pub fn describe(&self, n: &Node) -> String {
        let mut s = String::with_capacity(128);
        let _ = write!(s, "{} {} {} ", n.id, n.address(), n.flags.describe());
        match n.master {
            Some(m) if n.is_replica() => s.push_str(m.as_str()),
            _ => s.push('-'),
        }
        let epoch = match n.master.and_then(|m| self.nodes.get(&m)) {
            Some(m) if n.is_replica() => m.config_epoch,
            _ => n.config_epoch,
        };
        let connected = n.flags.has(NodeFlags::MYSELF) || n.link.is_some_and(|l| l.connected);
        let _ = write!(
            s,
            " {} {} {} {}",
            n.ping_sent,
            n.pong_received,
            epoch,
            if connected {
                "connected"
            } else {
                "disconnected"
            }
        );
        for (a, b) in n.slots.ranges() {
            s.push(' ');
            crate::slot::push_range(&mut s, a, b);
        }
        if n.id == self.myself {
            for (slot, to) in &self.migrating {
                let _ = write!(s, " [{slot}->-{to}]");
            }
            for (slot, from) in &self.importing {
                let _ = write!(s, " [{slot}-<-{from}]");
            }
        }
        s
    }

    /// `CLUSTER NODES`: one line per node, each ending in `\n`.
    pub fn describe_all(&self) -> String {
        let mut s = String::new();
        for n in self.nodes.values() {
            s.push_str(&self.describe(n));
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{id, master, topo};
    use super::super::Link;
    use super::*;

    #[test]
    fn node_lines_match_redis_format() {
        let mut t = topo(b'a');
        t.me_mut().ip = "127.0.0.1".into();
        t.me_mut().config_epoch = 1;
        t.me_mut().pong_received = 1795411197000;
        for s in 0..=5460 {
            t.add_slot(s, id(b'a'));
        }
        t.add_node(master(b'b', 7001));
        let mut r = Node::new(id(b'c'), NodeFlags::REPLICA, 0);
        r.ip = "127.0.0.1".into();
        r.port = 7002;
        r.bus_port = 17002;
        r.master = Some(id(b'a'));
        r.link = Some(Link {
            id: 1,
            created: 0,
            connected: true,
        });
        t.add_node(r);
        t.migrating.insert(100, id(b'b'));
        t.importing.insert(6000, id(b'b'));
        let me = t.describe(t.me());
        assert_eq!(
            me,
            format!(
                "{} 127.0.0.1:7000@17000 myself,master - 0 1795411197000 1 connected 0-5460 [100->-{}] [6000-<-{}]",
                id(b'a'),
                id(b'b'),
                id(b'b')
            )
        );
        let rep = t.describe(&t.nodes[&id(b'c')]);
        assert_eq!(
            rep,
            format!(
                "{} 127.0.0.1:7002@17002 slave {} 0 0 1 connected",
                id(b'c'),
                id(b'a')
            )
        );
        let other = t.describe(&t.nodes[&id(b'b')]);
        assert!(other.ends_with(" master - 0 0 0 disconnected"), "{other}");
        assert_eq!(t.describe_all().lines().count(), 3);
        assert!(t.describe_all().ends_with('\n'));
    }
}
