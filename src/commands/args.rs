//! One cursor over a command's optional arguments (`NX|XX`, `EX s`, `COUNT n`,
//! `MATCH pat`, `LIMIT off count`, …), so handlers state their options instead
//! of stepping indices by hand. A missing value or an unknown word is Redis's
//! `syntax error`; numbers use the family's own parse errors.

use super::{is, parse_i64, Argv, CmdError};

/// Reads options left to right from a starting index.
pub struct ArgCursor<'v, 'a> {
    argv: &'v Argv<'a>,
    at: usize,
}

impl<'v, 'a> ArgCursor<'v, 'a> {
    /// A cursor over `argv[from..]`.
    pub fn new(argv: &'v Argv<'a>, from: usize) -> Self {
        ArgCursor { argv, at: from }
    }

    /// The next option word, consumed; `None` at the end.
    pub fn next_word(&mut self) -> Option<&'a [u8]> {
        let w = self.argv.opt(self.at)?;
        self.at += 1;
        Some(w)
    }

    /// True when another argument follows (an option's value is there).
    pub fn has_value(&self) -> bool {
        self.at < self.argv.len()
    }

    /// The value after the option just read, consumed; `syntax error` if none.
    pub fn value(&mut self) -> Result<&'a [u8], CmdError> {
        self.next_word().ok_or(CmdError::Syntax)
    }

    /// The value as an integer (`value is not an integer or out of range`).
    pub fn int(&mut self) -> Result<i64, CmdError> {
        parse_i64(self.value()?)
    }

    /// The value as a count of at least `min` (`syntax error` below it, as
    /// SCAN's and the pop commands' COUNT).
    pub fn count(&mut self, min: i64) -> Result<usize, CmdError> {
        let n = self.int()?;
        if n < min {
            return Err(CmdError::Syntax);
        }
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Two integer values (`LIMIT offset count`).
    pub fn int_pair(&mut self) -> Result<(i64, i64), CmdError> {
        Ok((self.int()?, self.int()?))
    }

    /// Consumes the next argument when it is `word` (case-insensitive).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.argv.opt(self.at) {
            Some(a) if is(a, word) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    /// True when every argument was read.
    pub fn is_done(&self) -> bool {
        self.at >= self.argv.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::argv_of;

    #[test]
    fn words_values_and_errors() {
        let (s, r) = argv_of(&[
            "zrange",
            "k",
            "0",
            "-1",
            "limit",
            "2",
            "3",
            "withscores",
            "count",
        ]);
        let a = Argv::new(&s, &r);
        let mut c = ArgCursor::new(&a, 4);
        assert!(c.eat("LIMIT"));
        assert_eq!(c.int_pair(), Ok((2, 3)));
        assert!(!c.eat("REV"));
        assert_eq!(c.next_word(), Some(&b"withscores"[..]));
        assert_eq!(c.next_word(), Some(&b"count"[..]));
        assert!(!c.has_value());
        assert_eq!(c.value(), Err(CmdError::Syntax));
        assert!(c.is_done());
        let (s, r) = argv_of(&["scan", "0", "count", "0", "count", "x"]);
        let a = Argv::new(&s, &r);
        let mut c = ArgCursor::new(&a, 3);
        assert_eq!(c.count(1), Err(CmdError::Syntax));
        c.next_word();
        assert_eq!(c.count(1), Err(CmdError::NotInteger));
    }
}
