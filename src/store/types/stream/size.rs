//! What Redis 7.0 reports for a stream: the node count of its radix trees
//! (XINFO's `radix-tree-nodes`) and `MEMORY USAGE` (`objectComputeSize`).

use super::{Stream, StreamId};
use crate::store::types::redis_size::{jemalloc_size, ROBJ};

/// Nodes of a Redis rax holding `keys` (sorted, distinct, equal length):
/// compressed chains for shared runs, a branching node where keys part, a
/// leaf per key; an empty rax is its root alone.
pub fn rax_nodes(keys: &[[u8; 16]]) -> usize {
    if keys.is_empty() {
        return 1;
    }
    count(keys, 0)
}

fn count(keys: &[[u8; 16]], at: usize) -> usize {
    if at == 16 {
        return 1;
    }
    if keys.len() == 1 {
        return 2;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let common = (at..16).take_while(|&i| first[i] == last[i]).count();
    if common > 0 {
        return 1 + count(keys, at + common);
    }
    let mut n = 1;
    let mut i = 0;
    while i < keys.len() {
        let c = keys[i][at];
        let j = i + keys[i..].iter().take_while(|k| k[at] == c).count();
        n += count(&keys[i..j], at + 1);
        i = j;
    }
    n
}

/// Redis's `streamRadixTreeMemoryUsage`.
fn rax_usage(ids: impl Iterator<Item = StreamId>) -> usize {
    let keys: Vec<[u8; 16]> = ids.map(StreamId::encode).collect();
    keys.len() * 16 + rax_nodes(&keys) * (4 + 8 * 30)
}

/// `MEMORY USAGE` samples this many nodes by default.
const SAMPLES: usize = 5;

impl Stream {
    /// XINFO's `radix-tree-nodes`.
    pub fn rax_node_count(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.encode()).collect();
        rax_nodes(&keys)
    }

    /// What Redis would allocate (`MEMORY USAGE`): the object and stream
    /// structs, the node tree, the listpacks (the tail one allocated at
    /// `prealloc` bytes at least, as Redis preallocates it; the first few
    /// sampled), then each group's PELs and consumers.
    pub fn redis_usage_with(&self, prealloc: usize) -> usize {
        let mut size = ROBJ + 80 + rax_usage(self.nodes.keys().copied());
        let n = self.nodes.len();
        let alloc = |i: usize, lp: &Vec<u8>| {
            if i + 1 == n {
                jemalloc_size(lp.len().max(prealloc))
            } else {
                jemalloc_size(lp.len())
            }
        };
        let sampled: Vec<usize> = self
            .nodes
            .values()
            .take(SAMPLES)
            .enumerate()
            .map(|(i, lp)| alloc(i, lp))
            .collect();
        if n <= SAMPLES {
            size += sampled.iter().sum::<usize>();
        } else if let Some((_, tail)) = self.nodes.iter().next_back() {
            let avg = sampled.iter().sum::<usize>() / sampled.len().max(1);
            size += avg * (n - 1) + alloc(n - 1, tail);
        }
        for g in self.groups.values() {
            size += 40 + rax_usage(g.pel.keys().copied()) + 24 * g.pel.len();
            for (name, c) in &g.consumers {
                size += 24 + name.len() + rax_usage(c.pel.iter().copied());
            }
        }
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rax_node_counts_match_redis() {
        // Figures read from redis-server 7.0.15's XINFO STREAM.
        let key = |ms: u64| StreamId::new(ms, 1).encode();
        assert_eq!(rax_nodes(&[]), 1);
        assert_eq!(rax_nodes(&[key(1)]), 2);
        assert_eq!(rax_nodes(&[key(1), key(101), key(201)]), 8);
    }
}
