//! One stream node: a listpack laid out as Redis lays it out (`t_stream.c`),
//! so RDB and DUMP carry it byte for byte.
//!
//! ```text
//! master entry: count | deleted | num-fields | field_1 … field_N | 0
//! each entry:   flags | ms-diff | seq-diff | [num-fields | field_1 value_1 …
//!               | or, with SAMEFIELDS, value_1 … value_N] | lp-count
//! ```
//!
//! Ids are deltas from the node's master id (the key it is stored under).
//! A deleted entry keeps its place with the DELETED flag until the whole
//! node goes, as in Redis. Edits change single elements in place.

use std::borrow::Cow;

use super::StreamId;
use crate::store::compact::listpack::{self, Listpack, ListpackWriter, HEADER_BYTES};
use crate::store::compact::{parse_int, Element};

/// The entry is deleted (a tombstone).
pub const FLAG_DELETED: i64 = 1;
/// The entry has the master entry's fields (only values are stored).
pub const FLAG_SAMEFIELDS: i64 = 2;

/// An element as an integer (integer-encoded, or a string that reads as one).
pub fn elem_int(e: Element<'_>) -> Option<i64> {
    match e {
        Element::Int(n) => Some(n),
        Element::Str(s) => parse_int(s),
    }
}

/// An element's bytes as Redis shows them.
pub fn elem_bytes(e: Element<'_>) -> Cow<'_, [u8]> {
    match e {
        Element::Str(s) => Cow::Borrowed(s),
        Element::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
    }
}

/// One entry of a decoded node.
#[derive(Debug, Clone)]
pub struct NodeEntry<'a> {
    /// Its flags (`FLAG_*`).
    pub flags: i64,
    /// Its id.
    pub id: StreamId,
    /// Its field/value pairs.
    pub fields: Vec<(Element<'a>, Element<'a>)>,
    /// Element index of its flags in the listpack.
    pub flags_index: usize,
}

impl NodeEntry<'_> {
    /// True for a tombstone.
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

/// A whole node, decoded.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// Live entries.
    pub count: i64,
    /// Tombstones.
    pub deleted: i64,
    /// The master entry's field names.
    pub master_fields: Vec<Element<'a>>,
    /// Every entry, tombstones included, in id order.
    pub entries: Vec<NodeEntry<'a>>,
}

/// Decodes a node stored under `master`; `None` when it breaks the layout
/// (only a loaded payload can: this file writes every node).
pub fn decode(master: StreamId, lp: &[u8]) -> Option<Decoded<'_>> {
    let mut c = Cursor::new(master, lp)?;
    let (count, deleted) = (c.count, c.left - c.count);
    if count < 0 || deleted < 0 {
        return None;
    }
    let mut entries = Vec::with_capacity(usize::try_from(c.left).ok()?.min(c.it.len()));
    let mut live = 0i64;
    // Element index of the next entry's flags: past the master entry.
    let mut at = c.master_fields.len() + 4;
    while let Some((flags, id)) = c.next_front() {
        if flags & FLAG_DELETED == 0 {
            live += 1;
        }
        entries.push(NodeEntry {
            flags,
            id,
            fields: c.fields.clone(),
            flags_index: at,
        });
        at += entry_len(flags, c.master_fields.len(), c.fields.len()) + 1;
    }
    if live != count || entries.len() as i64 != count + deleted || c.it.len() != 0 {
        return None;
    }
    Some(Decoded {
        count,
        deleted,
        master_fields: c.master_fields,
        entries,
    })
}

/// Elements of an entry before its lp-count (flags, ids, fields).
fn entry_len(flags: i64, master_fields: usize, fields: usize) -> usize {
    if flags & FLAG_SAMEFIELDS != 0 {
        3 + master_fields
    } else {
        3 + 1 + 2 * fields
    }
}

/// A node's entries one at a time from either end, without decoding the
/// whole node (a read of one entry must not pay for a hundred).
pub struct Cursor<'a> {
    it: listpack::Iter<'a>,
    master: StreamId,
    master_fields: Vec<Element<'a>>,
    /// Live entries, as the master entry counts them.
    count: i64,
    /// Entries (tombstones included) not yet visited from either end.
    left: i64,
    /// The entry read last, backwards (its elements in order).
    back: Vec<Element<'a>>,
    fields: Vec<(Element<'a>, Element<'a>)>,
}

impl<'a> Cursor<'a> {
    /// A cursor over the node stored under `master`; `None` when its master
    /// entry breaks the layout.
    pub fn new(master: StreamId, lp: &'a [u8]) -> Option<Cursor<'a>> {
        let mut it = Listpack::trusted(lp).ok()?.iter();
        let count = elem_int(it.next()?)?;
        let deleted = elem_int(it.next()?)?;
        let nfields = usize::try_from(elem_int(it.next()?)?).ok()?;
        if nfields > it.len() {
            return None;
        }
        let master_fields = it.by_ref().take(nfields).collect();
        if elem_int(it.next()?)? != 0 {
            return None;
        }
        Some(Cursor {
            it,
            master,
            master_fields,
            count,
            left: count.checked_add(deleted)?,
            back: Vec::new(),
            fields: Vec::new(),
        })
    }

    /// The next entry from the front: its flags and id; its fields are in
    /// `fields()` until the next move.
    pub fn next_front(&mut self) -> Option<(i64, StreamId)> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        let Cursor {
            it,
            master,
            master_fields,
            fields,
            ..
        } = self;
        let head = parse_entry(*master, master_fields, it, fields)?;
        let lp_count = usize::try_from(elem_int(it.next()?)?).ok()?;
        (lp_count == entry_len(head.0, master_fields.len(), fields.len())).then_some(head)
    }

    /// The next entry from the back, as `next_front`.
    pub fn next_back(&mut self) -> Option<(i64, StreamId)> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        let n = usize::try_from(elem_int(self.it.next_back()?)?).ok()?;
        if n > self.it.len() {
            return None;
        }
        self.back.clear();
        for _ in 0..n {
            self.back.push(self.it.next_back()?);
        }
        self.back.reverse();
        let mut elems = self.back.iter().copied();
        let head = parse_entry(
            self.master,
            &self.master_fields,
            &mut elems,
            &mut self.fields,
        )?;
        let whole = elems.next().is_none()
            && n == entry_len(head.0, self.master_fields.len(), self.fields.len());
        whole.then_some(head)
    }

    /// The fields of the entry moved to last.
    pub fn fields(&self) -> &[(Element<'a>, Element<'a>)] {
        &self.fields
    }
}

/// Reads one entry's flags, id and fields (not its lp-count) from `it`.
fn parse_entry<'a>(
    master: StreamId,
    master_fields: &[Element<'a>],
    it: &mut impl Iterator<Item = Element<'a>>,
    fields: &mut Vec<(Element<'a>, Element<'a>)>,
) -> Option<(i64, StreamId)> {
    let flags = elem_int(it.next()?)?;
    let ms = elem_int(it.next()?)?;
    let seq = elem_int(it.next()?)?;
    fields.clear();
    if flags & FLAG_SAMEFIELDS != 0 {
        for f in master_fields {
            fields.push((*f, it.next()?));
        }
    } else {
        let n = usize::try_from(elem_int(it.next()?)?).ok()?;
        for _ in 0..n {
            let f = it.next()?;
            fields.push((f, it.next()?));
        }
    }
    let id = StreamId {
        ms: master.ms.wrapping_add(ms as u64),
        seq: master.seq.wrapping_add(seq as u64),
    };
    Some((flags, id))
}

/// The first entry's id in a node, quickly (tombstones included).
pub fn first_id(master: StreamId, lp: &[u8]) -> Option<StreamId> {
    let lp = Listpack::trusted(lp).ok()?;
    let mut it = lp.iter();
    let nfields = usize::try_from(elem_int(it.nth(2)?)?).ok()?;
    let mut it = it.skip(nfields + 1);
    it.next()?;
    let ms = elem_int(it.next()?)?;
    let seq = elem_int(it.next()?)?;
    Some(StreamId {
        ms: master.ms.wrapping_add(ms as u64),
        seq: master.seq.wrapping_add(seq as u64),
    })
}

/// Live entries and tombstones of a node, from its master entry.
pub fn counts(lp: &[u8]) -> (i64, i64) {
    let Ok(lp) = Listpack::trusted(lp) else {
        return (0, 0);
    };
    let mut it = lp.iter();
    let c = it.next().and_then(elem_int).unwrap_or(0);
    let d = it.next().and_then(elem_int).unwrap_or(0);
    (c, d)
}

/// A new node holding one entry, its fields becoming the master fields.
pub fn create(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut w = ListpackWriter::new();
    w.push_int(1);
    w.push_int(0);
    w.push_int(fields.len() as i64);
    for (f, _) in fields {
        w.push_str(f);
    }
    w.push_int(0);
    w.push_int(FLAG_SAMEFIELDS);
    w.push_int(0);
    w.push_int(0);
    for (_, v) in fields {
        w.push_str(v);
    }
    w.push_int(3 + fields.len() as i64);
    // Only a string over 4 GiB fails, and XADD refuses those first.
    w.finish()
        .unwrap_or_else(|_| Listpack::empty().as_bytes().to_vec())
}

/// Appends an entry to a node stored under `master` (live count + 1),
/// encoding it in place at the node's end.
pub fn append(lp: &mut Vec<u8>, master: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) {
    let Some((count, same)) = master_matches(lp, fields) else {
        return;
    };
    let Some(old_len) = Listpack::trusted(lp).ok().map(|l| l.len()) else {
        return;
    };
    lp.pop(); // the end byte
    let flags = if same { FLAG_SAMEFIELDS } else { 0 };
    listpack::write_int_entry(lp, flags);
    listpack::write_int_entry(lp, id.ms.wrapping_sub(master.ms) as i64);
    listpack::write_int_entry(lp, id.seq.wrapping_sub(master.seq) as i64);
    if !same {
        listpack::write_int_entry(lp, fields.len() as i64);
    }
    for (f, v) in fields {
        if !same {
            listpack::write_entry(lp, f);
        }
        listpack::write_entry(lp, v);
    }
    let lp_count = 3 + fields.len() + if same { 0 } else { fields.len() + 1 };
    listpack::write_int_entry(lp, lp_count as i64);
    lp.push(0xFF);
    listpack::set_header(lp, old_len + lp_count + 1);
    set_int(lp, 0, count + 1);
}

/// The live count, and whether `fields` has the master entry's field names
/// in its order (the entry is then stored with SAMEFIELDS).
fn master_matches(lp: &[u8], fields: &[(&[u8], &[u8])]) -> Option<(i64, bool)> {
    let l = Listpack::trusted(lp).ok()?;
    let mut it = l.iter();
    let count = elem_int(it.next()?)?;
    it.next()?;
    let n = usize::try_from(elem_int(it.next()?)?).ok()?;
    let same = n == fields.len()
        && it.take(n).zip(fields).all(|(m, (f, _))| match m {
            Element::Str(s) => s == *f,
            Element::Int(i) => itoa::Buffer::new().format(i).as_bytes() == *f,
        });
    Some((count, same))
}

/// Replaces element `index` of the listpack with the integer `v`.
pub fn set_int(lp: &mut Vec<u8>, index: usize, v: i64) {
    let mut pos = HEADER_BYTES;
    for _ in 0..index {
        match listpack::entry_at(lp, pos) {
            Some((_, size)) => pos += size,
            None => return,
        }
    }
    let Some((_, size)) = listpack::entry_at(lp, pos) else {
        return;
    };
    let mut w = ListpackWriter::new();
    w.push_int(v);
    let Ok(bytes) = w.finish() else {
        return;
    };
    let enc = &bytes[HEADER_BYTES..bytes.len() - 1];
    let count = Listpack::trusted(lp).map_or(0, |l| l.len());
    lp.splice(pos..pos + size, enc.iter().copied());
    listpack::set_header(lp, count);
}

/// Marks the entries whose flags sit at `flags_indexes` deleted (they are
/// live) and moves them from the live count to the tombstones.
pub fn mark_deleted(lp: &mut Vec<u8>, marks: &[(usize, i64)]) {
    let (c, d) = counts(lp);
    for &(index, flags) in marks {
        set_int(lp, index, flags | FLAG_DELETED);
    }
    let n = marks.len() as i64;
    set_int(lp, 0, c - n);
    set_int(lp, 1, d + n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_walks_both_ways_as_decode_lists() {
        let m = StreamId { ms: 5, seq: 0 };
        let mut lp = create(&[(b"a", b"1"), (b"b", b"x")]);
        append(&mut lp, m, StreamId { ms: 5, seq: 1 }, &[(b"a", b"2")]);
        append(
            &mut lp,
            m,
            StreamId { ms: 7, seq: 0 },
            &[(b"a", b"3"), (b"b", b"z")],
        );
        let d = decode(m, &lp).expect("decodes");
        let want: Vec<_> = d
            .entries
            .iter()
            .map(|e| (e.flags, e.id, e.fields.clone()))
            .collect();
        let mut c = Cursor::new(m, &lp).expect("cursor");
        let mut fwd = Vec::new();
        while let Some((flags, id)) = c.next_front() {
            fwd.push((flags, id, c.fields().to_vec()));
        }
        assert_eq!(fwd.len(), 3);
        for (a, b) in fwd.iter().zip(&want) {
            assert_eq!((a.0, a.1, &a.2), (b.0, b.1, &b.2));
        }
        let mut c = Cursor::new(m, &lp).expect("cursor");
        let mut back = Vec::new();
        while let Some((flags, id)) = c.next_back() {
            back.push((flags, id, c.fields().to_vec()));
        }
        back.reverse();
        for (a, b) in back.iter().zip(&want) {
            assert_eq!((a.0, a.1, &a.2), (b.0, b.1, &b.2));
        }
        assert_eq!(back.len(), 3);
        // Both ends meet without visiting an entry twice.
        let mut c = Cursor::new(m, &lp).expect("cursor");
        assert_eq!(
            c.next_front().map(|e| e.1),
            Some(StreamId { ms: 5, seq: 0 })
        );
        assert_eq!(c.next_back().map(|e| e.1), Some(StreamId { ms: 7, seq: 0 }));
        assert_eq!(c.next_back().map(|e| e.1), Some(StreamId { ms: 5, seq: 1 }));
        assert_eq!(c.next_front(), None);
    }

    #[test]
    fn create_append_delete_decode() {
        let m = StreamId { ms: 5, seq: 0 };
        let mut lp = create(&[(b"a", b"1"), (b"b", b"x")]);
        append(
            &mut lp,
            m,
            StreamId { ms: 5, seq: 1 },
            &[(b"a", b"2"), (b"b", b"y")],
        );
        append(&mut lp, m, StreamId { ms: 7, seq: 0 }, &[(b"c", b"3")]);
        assert!(Listpack::parse(&lp).is_ok());
        let d = decode(m, &lp).expect("decodes");
        assert_eq!((d.count, d.deleted), (3, 0));
        assert_eq!(d.entries[1].flags, FLAG_SAMEFIELDS);
        assert_eq!(d.entries[2].id, StreamId { ms: 7, seq: 0 });
        assert_eq!(d.entries[2].flags, 0);
        let mark = (d.entries[1].flags_index, d.entries[1].flags);
        mark_deleted(&mut lp, &[mark]);
        let d = decode(m, &lp).expect("decodes");
        assert_eq!((d.count, d.deleted), (2, 1));
        assert!(d.entries[1].deleted());
        assert_eq!(first_id(m, &lp), Some(m));
        assert_eq!(counts(&lp), (2, 1));
    }
}
