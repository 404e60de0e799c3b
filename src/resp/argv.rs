//! `Argv`: the parsed request as ranges over the read buffer.

/// The argument vector of one command: ranges over a borrowed buffer, so decoding
/// a request allocates nothing.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    src: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Argv<'a> {
    /// Arguments `src[a..b]` for each `(a, b)` in `ranges`.
    pub fn new(src: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Argv { src, ranges }
    }

    /// Number of arguments including the command name.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when there are no arguments (never for a dispatched command).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command name). Callers index within `len()`, which
    /// the table's arity check guarantees for fixed positions.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (a, b) = self.ranges[i];
        &self.src[a..b]
    }

    /// Argument `i` if present.
    pub fn opt(&self, i: usize) -> Option<&'a [u8]> {
        self.ranges.get(i).map(|&(a, b)| &self.src[a..b])
    }

    /// All arguments.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let src = self.src;
        self.ranges.iter().map(move |&(a, b)| &src[a..b])
    }

    /// Arguments from index `from` on.
    pub fn tail(&self, from: usize) -> Argv<'a> {
        Argv {
            src: self.src,
            ranges: &self.ranges[from.min(self.ranges.len())..],
        }
    }
}
