//! The compact-encoding limits (`*-max-listpack-*`, `set-max-intset-entries`,
//! `list-max-listpack-size`, `list-compress-depth`): when a collection leaves
//! its compact form. `Encodings` is what the config holds; `HotEncodings` is
//! what commands read on every write, updated by `CONFIG SET`.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

macro_rules! encoding_fields {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// The limits as configured (defaults come from the option table).
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Encodings {
            $($(#[$doc])* pub $field: i64,)*
        }

        /// The limits the write path reads.
        #[derive(Debug, Default)]
        pub struct HotEncodings {
            $($(#[$doc])* pub $field: AtomicI64,)*
        }

        impl HotEncodings {
            /// A plain copy of the current limits (one read per command).
            pub fn now(&self) -> Encodings {
                Encodings { $($field: self.$field.load(Relaxed),)* }
            }
        }
    };
}

encoding_fields! {
    /// `hash-max-listpack-entries`: most fields a hash keeps in a listpack.
    hash_max_listpack_entries,
    /// `hash-max-listpack-value`: longest field or value a listpack hash keeps.
    hash_max_listpack_value,
    /// `list-max-listpack-size`: entries per quicklist node when positive, or
    /// a node size class when negative (-1 4 KB … -5 64 KB).
    list_max_listpack_size,
    /// `list-compress-depth`: quicklist nodes left uncompressed at each end (0: none).
    list_compress_depth,
    /// `set-max-intset-entries`: most members a set of integers keeps as an intset.
    set_max_intset_entries,
    /// `zset-max-listpack-entries`: most members a sorted set keeps in a listpack.
    zset_max_listpack_entries,
    /// `zset-max-listpack-value`: longest member a listpack sorted set keeps.
    zset_max_listpack_value,
    /// `hll-sparse-max-bytes`: longest sparse HyperLogLog string before it turns dense.
    hll_sparse_max_bytes,
    /// `stream-node-max-bytes`: largest stream node (listpack) in bytes (0: no limit).
    stream_node_max_bytes,
    /// `stream-node-max-entries`: most entries in a stream node (0: no limit).
    stream_node_max_entries,
}
