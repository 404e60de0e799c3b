//! Key specs: where a command's keys are among its arguments and how it uses
//! them, as Redis 7.0 declares them (`begin_search`, `find_keys`, flags), and
//! the extraction that cluster routing, isolation and `COMMAND GETKEYS` share.

use super::Argv;

/// How a command uses a key: Redis's key-spec flags (`CMD_KEY_*`) as bits,
/// combined with `|`; the bits and their names are in `key_flags`.
pub type KeyFlags = u16;

/// The key-spec flags, one bit each, and the names `COMMAND INFO` gives them.
pub mod key_flags {
    use super::KeyFlags;

    /// Reads the value without changing it.
    pub const RO: KeyFlags = 1 << 0;
    /// Reads and changes the value.
    pub const RW: KeyFlags = 1 << 1;
    /// Overwrites the value without reading it.
    pub const OW: KeyFlags = 1 << 2;
    /// Deletes the key.
    pub const RM: KeyFlags = 1 << 3;
    /// Returns, copies or uses the user data of the value.
    pub const ACCESS: KeyFlags = 1 << 4;
    /// Updates the value; the new one may depend on the old.
    pub const UPDATE: KeyFlags = 1 << 5;
    /// Adds data to the value and never changes or removes what is there.
    pub const INSERT: KeyFlags = 1 << 6;
    /// Explicitly deletes some content of the value.
    pub const DELETE: KeyFlags = 1 << 7;
    /// Not a key, but routed as one (a shard channel).
    pub const NOT_KEY: KeyFlags = 1 << 8;
    /// The spec may miss keys: the command's key function has the last word.
    pub const INCOMPLETE: KeyFlags = 1 << 9;
    /// The flags depend on the arguments: the command's key function gives them.
    pub const VARIABLE_FLAGS: KeyFlags = 1 << 10;

    /// Every flag with its name, in the order `COMMAND INFO` lists them.
    pub const NAMES: &[(KeyFlags, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

use key_flags::{INCOMPLETE, NOT_KEY, VARIABLE_FLAGS};

/// Where the search for a spec's keys starts (Redis's `begin_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At a fixed argument index.
    Index(i32),
    /// Just after `keyword` (any case), looked for from index `startfrom`
    /// towards the end, or when negative from `argc + startfrom` towards the
    /// start; the spec finds nothing when the keyword is absent.
    Keyword {
        /// The keyword.
        keyword: &'static str,
        /// Where the search starts (negative: counted from the end).
        startfrom: i32,
    },
    /// Only the command's key function can tell (SORT's `STORE`).
    Unknown,
}

/// Which arguments, from where the search began, are keys (Redis's `find_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// Every `step`th argument up to `lastkey`: relative to the beginning when
    /// `>= 0`, else counted from the end (-1 = the last argument); with a
    /// `limit` > 0 (and `lastkey` -1), the first 1/`limit` of the arguments left
    /// (`STREAMS k1 k2 id1 id2`).
    Range {
        /// Last key, relative to the beginning or (negative) from the end.
        lastkey: i32,
        /// Distance between keys.
        step: i32,
        /// Divides the arguments left when `lastkey` is -1; 0 = no limit.
        limit: i32,
    },
    /// The argument at `keynumidx` (relative to the beginning) holds the number
    /// of keys, which start at `firstkey` (relative too), every `step`.
    Keynum {
        /// Index of the key count, relative to the beginning.
        keynumidx: i32,
        /// Index of the first key, relative to the beginning.
        firstkey: i32,
        /// Distance between keys.
        step: i32,
    },
    /// Only the command's key function can tell.
    Unknown,
}

/// One key spec: where to begin, which keys from there, and how the command
/// uses them (Redis 7.0's model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Where the search begins.
    pub begin: BeginSearch,
    /// Which arguments from there are keys.
    pub find: FindKeys,
    /// How the command uses these keys.
    pub flags: KeyFlags,
    /// Redis's remark on the spec, shown by `COMMAND INFO`.
    pub notes: Option<&'static str>,
}

/// One key at the search's beginning: the find part of most specs.
const ONE_KEY: FindKeys = FindKeys::Range {
    lastkey: 0,
    step: 1,
    limit: 0,
};

impl KeySpec {
    /// One key at argument `pos` (widen it with `range` or `keynum`).
    pub const fn at(pos: i32, flags: KeyFlags) -> KeySpec {
        KeySpec {
            begin: BeginSearch::Index(pos),
            find: ONE_KEY,
            flags,
            notes: None,
        }
    }

    /// One key right after `keyword`, searched from `startfrom` (see
    /// `BeginSearch::Keyword`; widen it with `range` or `keynum`).
    pub const fn after(keyword: &'static str, startfrom: i32, flags: KeyFlags) -> KeySpec {
        KeySpec {
            begin: BeginSearch::Keyword { keyword, startfrom },
            find: ONE_KEY,
            flags,
            notes: None,
        }
    }

    /// Keys only the command's key function can find.
    pub const fn unknown(flags: KeyFlags) -> KeySpec {
        KeySpec {
            begin: BeginSearch::Unknown,
            find: FindKeys::Unknown,
            flags,
            notes: None,
        }
    }

    /// The same beginning, with keys found as a range (see `FindKeys::Range`).
    pub const fn range(self, lastkey: i32, step: i32, limit: i32) -> KeySpec {
        assert!(step >= 1 && limit >= 0 && (limit == 0 || lastkey == -1));
        KeySpec {
            find: FindKeys::Range {
                lastkey,
                step,
                limit,
            },
            ..self
        }
    }

    /// The same beginning, with a key count then keys (see `FindKeys::Keynum`).
    pub const fn keynum(self, keynumidx: i32, firstkey: i32, step: i32) -> KeySpec {
        assert!(step >= 1);
        KeySpec {
            find: FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            },
            ..self
        }
    }

    /// The same spec with Redis's remark on it.
    pub const fn notes(self, notes: &'static str) -> KeySpec {
        KeySpec {
            notes: Some(notes),
            ..self
        }
    }

    /// The arguments this spec makes keys, as Redis's `getKeysUsingKeySpecs`
    /// finds them: `Ok(None)` when its keyword is absent, `Err` when the
    /// arguments do not fit (a bad key count, a range past the end) or only a
    /// key function can tell.
    fn span(&self, argv: &Argv<'_>) -> Result<Option<Span>, Unfit> {
        let argc = argv.len() as i64;
        let begin = match self.begin {
            BeginSearch::Index(pos) => pos as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                match find_keyword(argv, keyword, startfrom) {
                    Some(i) => i + 1,
                    None => return Ok(None),
                }
            }
            BeginSearch::Unknown => return Err(Unfit),
        };
        let (first, last, step) = match self.find {
            FindKeys::Range {
                lastkey,
                step,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    begin + lastkey as i64
                } else if limit == 0 {
                    argc + lastkey as i64
                } else {
                    begin + ((argc - begin) / limit as i64 + lastkey as i64)
                };
                (begin, last, step)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            } => {
                let count = argv
                    .opt((begin + keynumidx as i64) as usize)
                    .and_then(super::parse_int_strict)
                    .filter(|n| *n >= 0)
                    .ok_or(Unfit)?;
                let first = begin + firstkey as i64;
                // Redis adds the count as a C int: a count past i32 wraps as there.
                (first, first + (count as i32) as i64 - 1, step)
            }
            FindKeys::Unknown => return Err(Unfit),
        };
        if last >= argc || last < first || first >= argc {
            return Err(Unfit);
        }
        Ok(Some(Span {
            first: first as usize,
            last: last as usize,
            step: step as usize,
            flags: self.flags,
        }))
    }
}

/// Index of `keyword` in `argv` searched as Redis's keyword begin_search: from
/// `startfrom` up to (not including) the last argument, or when negative from
/// `argc + startfrom` down to (not including) argument 1.
fn find_keyword(argv: &Argv<'_>, keyword: &str, startfrom: i32) -> Option<i64> {
    let argc = argv.len() as i64;
    let (start, end) = if startfrom > 0 {
        (startfrom as i64, argc - 1)
    } else {
        (argc + startfrom as i64, 1)
    };
    let dir = if start <= end { 1 } else { -1 };
    let mut i = start;
    while i != end && (1..argc).contains(&i) {
        if argv
            .get(i as usize)
            .eq_ignore_ascii_case(keyword.as_bytes())
        {
            return Some(i);
        }
        i += dir;
    }
    None
}

/// The arguments `first..=last`, every `step`, with one spec's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: usize,
    last: usize,
    step: usize,
    flags: KeyFlags,
}

/// The arguments do not fit a spec: its keys are not to be trusted.
struct Unfit;

/// Redis's built-in commands have at most this many key specs.
pub const MAX_KEY_SPECS: usize = 4;

/// Finds a command's keys from its arguments with each key's flags, where its
/// specs cannot (Redis's `getkeys_proc`): calls its argument with each key's
/// index and flags.
pub type KeyFunction = fn(&Argv<'_>, &mut dyn FnMut(usize, KeyFlags));

/// Where a command's keys are: its key specs in Redis's order, a key function
/// for what they cannot say, and what `COMMAND` derives from them (the legacy
/// first/last/step triple, `movablekeys`), computed when the table is built.
#[derive(Clone, Copy)]
pub struct KeySpecs {
    /// The specs, as `COMMAND INFO` lists them.
    pub specs: &'static [KeySpec],
    function: Option<KeyFunction>,
    transaction: bool,
    all_flags: KeyFlags,
    has_real_keys: bool,
    legacy: (i32, i32, i32),
    movable: bool,
}

impl KeySpecs {
    /// No key arguments.
    pub const NONE: KeySpecs = KeySpecs::new(&[]);

    /// EXEC: no key arguments of its own (none in `COMMAND INFO`), but routed
    /// and isolated by the keys of the commands it queued.
    pub const TRANSACTION: KeySpecs = KeySpecs {
        transaction: true,
        ..KeySpecs::NONE
    };

    /// The keys `specs` find; fails to build when a spec cannot be one of
    /// Redis's (more than `MAX_KEY_SPECS`).
    pub const fn new(specs: &'static [KeySpec]) -> KeySpecs {
        assert!(specs.len() <= MAX_KEY_SPECS);
        let (mut all_flags, mut has_real_keys, mut i) = (0, false, 0);
        while i < specs.len() {
            all_flags |= specs[i].flags;
            has_real_keys |= specs[i].flags & NOT_KEY == 0;
            i += 1;
        }
        let (legacy, movable) = legacy_range(specs);
        KeySpecs {
            specs,
            function: None,
            transaction: false,
            all_flags,
            has_real_keys,
            legacy,
            movable,
        }
    }

    /// The same specs with a key function, used as Redis uses a command's
    /// `getkeys_proc`: for the flags when a spec has VARIABLE_FLAGS, and for
    /// the keys when a spec is INCOMPLETE or unknown, or the arguments do not
    /// fit the specs.
    pub const fn with_function(self, function: KeyFunction) -> KeySpecs {
        KeySpecs {
            function: Some(function),
            ..self
        }
    }

    /// The legacy (first, last, step) triple `COMMAND` reports, derived from
    /// the specs as Redis does (0, 0, 0 when no plain range covers them).
    pub fn legacy(&self) -> (i32, i32, i32) {
        self.legacy
    }

    /// True when the key positions depend on the arguments (`movablekeys`):
    /// some spec is not a plain index range, or is incomplete.
    pub fn is_movable(&self) -> bool {
        self.movable
    }

    /// True for EXEC, whose keys are those of the queued commands.
    pub fn is_transaction(&self) -> bool {
        self.transaction
    }

    /// True when the command may have key arguments (Redis's
    /// `doesCommandHaveKeys`): a key function, or a spec of real keys.
    pub fn has_keys(&self) -> bool {
        self.function.is_some() || self.has_real_keys
    }

    /// Calls `f` with the index of each key argument in `argv`, allocating
    /// nothing; none when the arguments are malformed (a bad numkeys: the
    /// handler reports that error). The keys are Redis's, except that a
    /// VARIABLE_FLAGS spec is trusted for positions (only its flags vary), so
    /// SET is found without its key function. EXEC's keys are not in `argv`:
    /// none here.
    pub fn each(&self, argv: &Argv<'_>, f: &mut dyn FnMut(usize)) {
        self.find(argv, true, &mut |i, _| f(i));
    }

    /// Calls `f` with the index and flags of each key argument in `argv`, as
    /// Redis's `getKeysFromCommandWithSpecs` (the flags `COMMAND
    /// GETKEYSANDFLAGS` shows); returns how many.
    pub fn each_with_flags(&self, argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) -> usize {
        self.find(argv, false, f)
    }

    /// Calls `f` with the index of each NOT_KEY argument (the shard channels
    /// of SSUBSCRIBE/SPUBLISH, which cluster routing treats as keys).
    pub fn each_not_key(&self, argv: &Argv<'_>, f: &mut dyn FnMut(usize)) {
        for spec in self.specs.iter().filter(|s| s.flags & NOT_KEY != 0) {
            if let Ok(Some(span)) = spec.span(argv) {
                for i in (span.first..=span.last).step_by(span.step) {
                    f(i);
                }
            }
        }
    }

    /// Indices of the key arguments in `argv` (see `each`).
    pub fn positions(&self, argv: &Argv<'_>) -> Vec<usize> {
        let mut v = Vec::new();
        self.each(argv, &mut |i| v.push(i));
        v
    }

    /// Redis's `getKeysFromCommandWithSpecs`: the specs first unless their
    /// flags vary (and flags are wanted), the key function when they do not
    /// fit; returns how many keys `f` was given.
    fn find(
        &self,
        argv: &Argv<'_>,
        positions_only: bool,
        f: &mut dyn FnMut(usize, KeyFlags),
    ) -> usize {
        let flags_vary = self.all_flags & VARIABLE_FLAGS != 0;
        if self.has_real_keys && (positions_only || !flags_vary) {
            if let Some(n) = self.walk(argv, f) {
                return n;
            }
        }
        let Some(function) = self.function else {
            return 0;
        };
        let mut n = 0;
        function(argv, &mut |i, flags| {
            n += 1;
            f(i, flags)
        });
        n
    }

    /// The keys of every spec but NOT_KEY ones, or `None` when one does not
    /// fit or is INCOMPLETE (then nothing was passed to `f`).
    fn walk(&self, argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) -> Option<usize> {
        let mut spans = [None; MAX_KEY_SPECS];
        for (span, spec) in spans.iter_mut().zip(self.specs) {
            if spec.flags & NOT_KEY != 0 {
                continue;
            }
            *span = spec.span(argv).ok()?;
            if span.is_some() && spec.flags & INCOMPLETE != 0 {
                return None;
            }
        }
        let mut n = 0;
        for span in spans.iter().flatten() {
            for i in (span.first..=span.last).step_by(span.step) {
                f(i, span.flags);
                n += 1;
            }
        }
        Some(n)
    }
}

/// The legacy (first, last, step) triple and the `movablekeys` flag, derived
/// from the specs as Redis's `populateCommandLegacyRangeSpec`: one index range
/// is taken as it is; several merge when they are consecutive step-1 ranges;
/// any other spec makes the keys movable.
const fn legacy_range(specs: &[KeySpec]) -> ((i32, i32, i32), bool) {
    if specs.is_empty() {
        return ((0, 0, 0), false);
    }
    if let [only] = specs {
        if let (BeginSearch::Index(pos), FindKeys::Range { lastkey, step, .. }) =
            (only.begin, only.find)
        {
            let last = if lastkey >= 0 { pos + lastkey } else { lastkey };
            return ((pos, last, step), only.flags & INCOMPLETE != 0);
        }
    }
    let (mut first, mut last, mut prev_last, mut movable) = (i32::MAX, 0i32, 0i32, false);
    let mut i = 0;
    while i < specs.len() {
        let spec = &specs[i];
        i += 1;
        let (pos, lastkey, step) = match (spec.begin, spec.find) {
            (BeginSearch::Index(pos), FindKeys::Range { lastkey, step, .. }) => {
                (pos, lastkey, step)
            }
            _ => {
                movable = true;
                continue;
            }
        };
        if step != 1 || (prev_last != 0 && prev_last != pos - 1) {
            movable = true;
            continue;
        }
        if spec.flags & INCOMPLETE != 0 {
            movable = true;
        }
        if pos < first {
            first = pos;
        }
        let abs_last = if lastkey >= 0 { pos + lastkey } else { lastkey };
        // Unsigned, as Redis compares: a from-the-end (negative) last wins.
        if abs_last as u32 > last as u32 {
            last = abs_last;
        }
        prev_last = last;
    }
    if first == i32::MAX {
        return ((0, 0, 0), true);
    }
    ((first, last, 1), movable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::argv_of;
    use key_flags::*;

    /// The key indices `specs` find in `words`, and their flags.
    fn found(specs: &KeySpecs, words: &[&str]) -> Vec<(usize, KeyFlags)> {
        let (s, r) = argv_of(words);
        let mut v = Vec::new();
        let n = specs.each_with_flags(&Argv::new(&s, &r), &mut |i, f| v.push((i, f)));
        assert_eq!(n, v.len());
        v
    }

    /// The key indices `specs` find in `words` for routing.
    fn positions(specs: &KeySpecs, words: &[&str]) -> Vec<usize> {
        let (s, r) = argv_of(words);
        specs.positions(&Argv::new(&s, &r))
    }

    const GET: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS)]);
    const DEL: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RM | DELETE).range(-1, 1, 0)]);
    const MSET: KeySpecs = KeySpecs::new(&[KeySpec::at(1, OW | UPDATE).range(-1, 2, 0)]);
    const ALL_BUT_LAST: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW).range(-2, 1, 0)]);
    const RENAME: KeySpecs = KeySpecs::new(&[
        KeySpec::at(1, RW | ACCESS | DELETE),
        KeySpec::at(2, OW | UPDATE),
    ]);
    const EVAL: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | ACCESS | UPDATE).keynum(0, 1, 1)]);
    const ZUNIONSTORE: KeySpecs = KeySpecs::new(&[
        KeySpec::at(1, OW | UPDATE),
        KeySpec::at(2, RO | ACCESS).keynum(0, 1, 1),
    ]);
    const XREAD: KeySpecs =
        KeySpecs::new(&[KeySpec::after("STREAMS", 1, RO | ACCESS).range(-1, 1, 2)]);
    const GEORADIUS: KeySpecs = KeySpecs::new(&[
        KeySpec::at(1, RO | ACCESS),
        KeySpec::after("STORE", 6, OW | UPDATE),
        KeySpec::after("STOREDIST", 6, OW | UPDATE),
    ]);

    #[test]
    fn index_search_finds_one_key() {
        assert_eq!(found(&GET, &["get", "k"]), vec![(1, RO | ACCESS)]);
        assert_eq!(
            found(&RENAME, &["rename", "a", "b"]),
            vec![(1, RW | ACCESS | DELETE), (2, OW | UPDATE)]
        );
        assert_eq!(found(&KeySpecs::NONE, &["ping"]), vec![]);
    }

    #[test]
    fn range_counts_a_negative_lastkey_from_the_end() {
        assert_eq!(positions(&DEL, &["del", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(positions(&ALL_BUT_LAST, &["x", "a", "b", "c"]), vec![1, 2]);
        assert_eq!(positions(&MSET, &["mset", "a", "1", "b", "2"]), vec![1, 3]);
        // An odd MSET still finds its keys; the handler reports the arity.
        assert_eq!(positions(&MSET, &["mset", "a", "1", "b"]), vec![1, 3]);
    }

    #[test]
    fn range_with_a_limit_takes_its_share_of_what_is_left() {
        let words = ["xread", "COUNT", "2", "streams", "k1", "k2", "0", "0"];
        assert_eq!(positions(&XREAD, &words), vec![4, 5]);
        let words = ["xread", "STREAMS", "k1", "k2", "k3", "0", "0", "0"];
        assert_eq!(positions(&XREAD, &words), vec![2, 3, 4]);
        // No STREAMS keyword: no keys.
        assert_eq!(positions(&XREAD, &["xread", "COUNT", "2"]), vec![]);
    }

    #[test]
    fn keyword_search_starts_where_told_and_skips_an_absent_keyword() {
        let words = ["georadius", "src", "0", "0", "1", "km", "STORE", "dst"];
        assert_eq!(
            found(&GEORADIUS, &words),
            vec![(1, RO | ACCESS), (7, OW | UPDATE)]
        );
        let words = [
            "georadius",
            "src",
            "0",
            "0",
            "1",
            "km",
            "STOREDIST",
            "d",
            "STORE",
            "s",
        ];
        assert_eq!(positions(&GEORADIUS, &words), vec![1, 9, 7]);
        // A STORE before `startfrom` is a member name, not the keyword.
        let words = ["georadius", "src", "STORE", "0", "1", "km"];
        assert_eq!(positions(&GEORADIUS, &words), vec![1]);
        // The keyword as the last argument has no key after it: never matched.
        let words = ["georadius", "src", "0", "0", "1", "km", "ASC", "STORE"];
        assert_eq!(positions(&GEORADIUS, &words), vec![1]);
    }

    #[test]
    fn a_negative_startfrom_searches_backwards_from_the_end() {
        const LAST_KEYS: KeySpecs =
            KeySpecs::new(&[KeySpec::after("KEYS", -2, RW).range(-1, 1, 0)]);
        let words = ["m", "KEYS", "x", "keys", "a", "b"];
        assert_eq!(positions(&LAST_KEYS, &words), vec![4, 5]);
        // Argument 1 is where a backward search stops, unread.
        assert_eq!(positions(&LAST_KEYS, &["m", "KEYS", "a"]), vec![]);
    }

    #[test]
    fn keynum_reads_the_count_then_the_keys() {
        let words = ["eval", "body", "2", "k1", "k2", "arg"];
        assert_eq!(positions(&EVAL, &words), vec![3, 4]);
        let words = ["zunionstore", "dst", "2", "a", "b", "WEIGHTS", "1", "2"];
        assert_eq!(
            found(&ZUNIONSTORE, &words),
            vec![(1, OW | UPDATE), (3, RO | ACCESS), (4, RO | ACCESS)]
        );
        for bad in ["5", "-1", "x", "01", "+1", "0"] {
            let words = ["zunionstore", "dst", bad, "a", "b"];
            // A count that does not fit spoils every spec, as in Redis.
            assert_eq!(positions(&ZUNIONSTORE, &words), vec![], "numkeys {bad}");
        }
        assert_eq!(positions(&EVAL, &["eval", "body", "0"]), vec![]);
        // A count past i32 wraps as Redis's int does: 2^32 + 1 keys is one.
        let words = ["eval", "body", "4294967297", "k1", "arg"];
        assert_eq!(positions(&EVAL, &words), vec![3]);
    }

    fn all_keys_after_3(argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
        for i in 3..argv.len() {
            f(i, RW | DELETE);
        }
    }

    fn key_1_flags_by_get(argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
        let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"GET"));
        f(
            1,
            if get {
                RW | ACCESS | UPDATE
            } else {
                OW | UPDATE
            },
        );
    }

    #[test]
    fn an_incomplete_spec_defers_to_the_key_function_when_it_finds_keys() {
        const MIGRATE_LIKE: KeySpecs = KeySpecs::new(&[
            KeySpec::at(3, RW | ACCESS),
            KeySpec::after("KEYS", -2, RW | INCOMPLETE).range(-1, 1, 0),
        ])
        .with_function(all_keys_after_3);
        // No KEYS: the complete spec alone, with its flags.
        assert_eq!(
            found(&MIGRATE_LIKE, &["m", "h", "p", "k"]),
            vec![(3, RW | ACCESS)]
        );
        // KEYS found: the function's keys.
        let words = ["m", "h", "p", "", "KEYS", "a"];
        assert_eq!(positions(&MIGRATE_LIKE, &words), vec![3, 4, 5]);
        // Unknown specs need the function too; none without one.
        const SORT_LIKE: KeySpecs =
            KeySpecs::new(&[KeySpec::at(1, RO), KeySpec::unknown(OW | UPDATE)]);
        assert_eq!(positions(&SORT_LIKE, &["sort", "k", "STORE", "d"]), vec![]);
        assert!(SORT_LIKE.has_keys());
    }

    #[test]
    fn variable_flags_come_from_the_function_but_positions_from_the_spec() {
        const SET_LIKE: KeySpecs =
            KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS)])
                .with_function(key_1_flags_by_get);
        assert_eq!(found(&SET_LIKE, &["set", "k", "v"]), vec![(1, OW | UPDATE)]);
        let words = ["set", "k", "v", "get"];
        assert_eq!(found(&SET_LIKE, &words), vec![(1, RW | ACCESS | UPDATE)]);
        assert_eq!(positions(&SET_LIKE, &words), vec![1]);
    }

    #[test]
    fn not_key_specs_are_not_keys() {
        const SPUBLISH: KeySpecs = KeySpecs::new(&[KeySpec::at(1, NOT_KEY)]);
        assert_eq!(positions(&SPUBLISH, &["spublish", "ch", "msg"]), vec![]);
        assert!(!SPUBLISH.has_keys());
        assert_eq!(SPUBLISH.legacy(), (1, 1, 1));
    }

    #[test]
    fn legacy_triple_and_movablekeys_follow_redis() {
        let cases: [(&KeySpecs, (i32, i32, i32), bool); 8] = [
            (&KeySpecs::NONE, (0, 0, 0), false),
            (&GET, (1, 1, 1), false),
            (&MSET, (1, -1, 2), false),
            (&DEL, (1, -1, 1), false),
            (&RENAME, (1, 2, 1), false),
            (&ZUNIONSTORE, (1, 1, 1), true),
            (&EVAL, (0, 0, 0), true),
            (&GEORADIUS, (1, 1, 1), true),
        ];
        for (specs, legacy, movable) in cases {
            assert_eq!(specs.legacy(), legacy, "{:?}", specs.specs);
            assert_eq!(specs.is_movable(), movable, "{:?}", specs.specs);
        }
        // Ranges that are not consecutive: the first one only, movable.
        const GAP: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW), KeySpec::at(3, RW)]);
        assert_eq!((GAP.legacy(), GAP.is_movable()), ((1, 1, 1), true));
        const INCOMPLETE_ONE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | INCOMPLETE)]);
        assert!(INCOMPLETE_ONE.is_movable());
        assert!(!KeySpecs::TRANSACTION.has_keys() && KeySpecs::TRANSACTION.is_transaction());
    }
}
