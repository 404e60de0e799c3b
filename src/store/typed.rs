//! Typed access to a slot's values: commands name the type they work on and
//! get WRONGTYPE, creation of a missing container, and removal of one they
//! emptied from here, never by matching on `Value` themselves.

use super::keyspace::{MultiGuard, SlotGuard};
use super::types::{Container, StrRef, ValueType, WrongType};

impl SlotGuard<'_> {
    /// Reads `key` as `T` (counts a hit or miss, touches access metadata);
    /// `Ok(None)` when the key is missing.
    pub fn read<T: Container>(&mut self, key: &[u8]) -> Result<Option<&T>, WrongType> {
        match self.get(key) {
            Some(e) => e.value().as_type::<T>().map(Some),
            None => Ok(None),
        }
    }

    /// Reads `key` as a string (counts a hit or miss, touches access
    /// metadata); `Ok(None)` when the key is missing.
    pub fn read_str(&mut self, key: &[u8]) -> Result<Option<StrRef<'_>>, WrongType> {
        match self.get(key) {
            Some(e) => e.value().as_str().map(Some),
            None => Ok(None),
        }
    }

    /// Runs `f` on `key`'s `T` for writing; `Ok(None)` when the key is missing.
    /// A container `f` leaves empty is removed, as Redis never keeps one.
    pub fn update<T: ValueType, R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<Option<R>, WrongType> {
        let Some(e) = self.get_mut(key) else {
            return Ok(None);
        };
        let t = e.value_mut().as_type_mut::<T>()?;
        let r = f(t);
        if t.is_emptied() {
            self.remove(key);
        }
        Ok(Some(r))
    }

    /// Runs `f` on `key`'s `T`, creating an empty one (no TTL) when the key is
    /// missing; removed again if `f` leaves it empty.
    pub fn update_or_create<T: ValueType + Default, R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, WrongType> {
        if !self.contains(key) {
            self.set(key, T::default().into_value(), Some(0));
        }
        let r = self.update(key, f)?;
        // `contains` just made sure the key exists: update found it.
        Ok(r.expect("the key was just created"))
    }
}

impl MultiGuard<'_> {
    /// Reads every key of `keys` (all passed to `lock_many`) in `db` as `T`
    /// at once, as a command reading several keys does: each lookup counts a
    /// hit or miss and expires lazily; WRONGTYPE when any key holds another
    /// type; `None` for a missing key.
    pub fn read_all<T: Container>(
        &mut self,
        db: usize,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<&T>>, WrongType> {
        let mut present = Vec::with_capacity(keys.len());
        for k in keys {
            let here = match self.slot(db, k).get(k) {
                Some(e) => e.value().as_type::<T>().map(|_| true)?,
                None => false,
            };
            present.push(here);
        }
        let this = &*self;
        keys.iter()
            .zip(present)
            .map(|(k, here)| {
                let e = here
                    .then(|| this.slot_ref(db, k).and_then(|g| g.stored(k)))
                    .flatten();
                e.map(|e| e.value().as_type::<T>()).transpose()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::keyspace::{Keyspace, NoSink};
    use crate::store::types::{Str, StrRef, Value};
    use std::sync::Arc;

    #[test]
    fn typed_reads_answer_missing_and_present() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        let mut g = ks.lock_key(0, b"k", 0);
        assert_eq!(g.read_str(b"k"), Ok(None));
        g.set(b"k", Value::string(b"12"), Some(0));
        assert_eq!(g.read_str(b"k"), Ok(Some(StrRef::Int(12))));
        let len = g.update::<Str, _>(b"k", |s| s.len());
        assert_eq!(len, Ok(Some(2)));
        assert_eq!(g.update::<Str, _>(b"missing", |s| s.len()), Ok(None));
    }
}
