//! Glob-style pattern matching as Redis's `stringmatchlen` (KEYS, SCAN MATCH,
//! CONFIG GET, PSUBSCRIBE): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x` escapes.

/// Redis gives up (no match) on patterns whose matching would recurse through
/// more than this many `*` groups (`stringmatchlen`'s abuse protection).
const MAX_STAR_GROUPS: usize = 1000;

/// True when `s` matches `pattern`; `nocase` folds ASCII case.
pub fn matches(p: &[u8], s: &[u8], nocase: bool) -> bool {
    if inner_star_groups(p) > MAX_STAR_GROUPS {
        // Any successful match passes through every group, which Redis refuses.
        return false;
    }
    // Greedy matching with one backtrack point (the last '*'): every other token
    // matches exactly one byte, so this is complete and never exponential.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    let (ok, next) = match_class(p, pi + 1, s[si], nocase);
                    if ok {
                        pi = next;
                        si += 1;
                        continue;
                    }
                }
                b'\\' if pi + 1 < p.len() => {
                    if eq(p[pi + 1], s[si], nocase) {
                        pi += 2;
                        si += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, s[si], nocase) {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Number of `*` runs that are not at the very end of the pattern (those are
/// the ones Redis recurses into), skipping escapes and `[...]` classes.
fn inner_star_groups(p: &[u8]) -> usize {
    let (mut i, mut groups) = (0, 0);
    while i < p.len() {
        match p[i] {
            b'\\' => i += 2,
            b'[' => i = skip_class(p, i + 1),
            b'*' => {
                while i < p.len() && p[i] == b'*' {
                    i += 1;
                }
                if i < p.len() {
                    groups += 1;
                }
            }
            _ => i += 1,
        }
    }
    groups
}

/// Index after the class that starts after a '['.
fn skip_class(p: &[u8], mut i: usize) -> usize {
    if i < p.len() && p[i] == b'^' {
        i += 1;
    }
    while i < p.len() {
        match p[i] {
            b'\\' => i += 2,
            b']' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Matches `c` against the class starting after '['; returns (matched, index
/// after the closing ']').
fn match_class(p: &[u8], mut i: usize, c: u8, nocase: bool) -> (bool, usize) {
    let negate = i < p.len() && p[i] == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        if i >= p.len() {
            // Unterminated class: Redis treats the end of pattern as the end.
            break;
        }
        if p[i] == b'\\' && i + 1 < p.len() {
            i += 1;
            if eq(p[i], c, nocase) {
                matched = true;
            }
            i += 1;
        } else if p[i] == b']' {
            i += 1;
            break;
        } else if i + 2 < p.len() && p[i + 1] == b'-' {
            let (mut lo, mut hi) = (p[i], p[i + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let (lo, hi, cc) = if nocase {
                (
                    lo.to_ascii_lowercase(),
                    hi.to_ascii_lowercase(),
                    c.to_ascii_lowercase(),
                )
            } else {
                (lo, hi, c)
            };
            if cc >= lo && cc <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if eq(p[i], c, nocase) {
                matched = true;
            }
            i += 1;
        }
    }
    (matched != negate, i)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        let yes: &[(&str, &str)] = &[
            ("*", "anything"),
            ("*", ""),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("a\\*b", "a*b"),
            ("foo*bar*", "foo_x_bar_y"),
            ("*o", "foo"),
        ];
        for (p, s) in yes {
            assert!(matches(p.as_bytes(), s.as_bytes(), false), "{p} ~ {s}");
        }
        let no: &[(&str, &str)] = &[
            ("h?llo", "hllo"),
            ("h[^e]llo", "hello"),
            ("a\\*b", "axb"),
            ("foo", "foobar"),
            ("*x", "abc"),
        ];
        for (p, s) in no {
            assert!(!matches(p.as_bytes(), s.as_bytes(), false), "{p} !~ {s}");
        }
        assert!(matches(b"MAXMEM*", b"maxmemory", true));
    }

    #[test]
    fn too_many_star_groups_never_match() {
        // Redis's keyspace.tcl: KEYS of 50000 × "*?" against a 50000-byte key is empty.
        let p = "*?".repeat(50_000);
        assert!(!matches(p.as_bytes(), "a".repeat(50_000).as_bytes(), false));
        let ok = "*a".repeat(1000) + "*";
        assert!(matches(ok.as_bytes(), "a".repeat(1000).as_bytes(), false));
        let over = "*a".repeat(1001);
        assert!(!matches(
            over.as_bytes(),
            "a".repeat(1001).as_bytes(),
            false
        ));
        assert!(matches(b"[*]\\**x", b"**x", false));
    }

    #[test]
    fn pathological_pattern_terminates() {
        let p = "*a".repeat(30) + "b";
        let s = "a".repeat(60);
        assert!(!matches(p.as_bytes(), s.as_bytes(), false));
    }
}
