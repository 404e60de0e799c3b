//! Value syntax shared by every layer: Redis's size units, `yes`/`no`, save
//! points, and the `OptionType` of an option with the errors `CONFIG SET` gives.

use serde::{Deserialize, Deserializer};

/// One mebibyte, the unit of several defaults and limits.
pub(super) const MB: u64 = 1024 * 1024;

/// Parses `100mb`, `1gb`, `512k`, `4096` as Redis's `memtoull` does
/// (k/m/g = 1000-based, kb/mb/gb = 1024-based).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Parses a memory size, or `N%` as -N (Redis keeps a percentage negative);
/// `None` when it is neither.
pub fn parse_size_or_percent(s: &str) -> Option<i64> {
    if let Some(n) = parse_size(s) {
        return i64::try_from(n).ok();
    }
    let digits = s.strip_suffix('%').filter(|d| !d.is_empty())?;
    let n: i64 = digits.parse().ok()?;
    (n >= 0).then_some(-n)
}

/// Renders a value of `parse_size_or_percent` as Redis does (`10%`, `1048576`).
pub fn render_size_or_percent(v: i64) -> String {
    if v < 0 {
        format!("{}%", v.unsigned_abs())
    } else {
        v.to_string()
    }
}

/// A boolean written as TOML `true`/`false` or Redis's `yes`/`no`.
pub(super) fn yes_no_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        B(bool),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::B(b) => Ok(b),
        Raw::S(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "expected yes or no, got '{s}'"
            ))),
        },
    }
}

pub(super) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => {
            parse_size(&s).ok_or_else(|| serde::de::Error::custom(format!("bad size '{s}'")))
        }
    }
}

/// A memory size or percentage written as a TOML number or a string.
pub(super) fn size_or_percent<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(i64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) if n >= 0 => Ok(n),
        Raw::N(n) => Err(serde::de::Error::custom(format!("bad size '{n}'"))),
        Raw::S(s) => parse_size_or_percent(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("bad size or percentage '{s}'"))),
    }
}

/// How `CONFIG SET` parses an option's value (and which Redis error it gives).
#[derive(Debug, Clone, Copy)]
pub enum OptionType {
    /// `yes` or `no`.
    Bool,
    /// An integer in `min..=max`.
    Int(i64, i64),
    /// A memory size such as `100mb`, in `min..=max` bytes.
    Size(u64, u64),
    /// A memory size, or a percentage of `maxmemory` up to the given one
    /// (`10%`, kept as -10: Redis's `MEMORY_CONFIG | PERCENT_CONFIG`).
    MemoryOrPercent(i64),
    /// One of the listed words (case-insensitive).
    Enum(&'static [&'static str]),
    /// Any string.
    Str,
}

/// A value parsed according to its option's `OptionType`.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// From `OptionType::Bool`.
    Bool(bool),
    /// From `OptionType::Int` or `OptionType::Size`.
    Int(i64),
    /// From `OptionType::Enum` (lower-cased) or `OptionType::Str`.
    Str(&'a str),
}

impl Val<'_> {
    pub(super) fn int(self) -> i64 {
        match self {
            Val::Int(n) => n,
            Val::Bool(b) => b as i64,
            Val::Str(_) => 0,
        }
    }

    pub(super) fn flag(self) -> bool {
        matches!(self, Val::Bool(true))
    }

    pub(super) fn text(self) -> String {
        match self {
            Val::Str(s) => s.to_string(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => yes_no(b).to_string(),
        }
    }
}

pub(super) fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Parses save points: `seconds changes` pairs separated by spaces.
pub fn parse_save(text: &str) -> Option<Vec<(u64, u64)>> {
    let parts: Vec<u64> = text
        .split_whitespace()
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    if !parts.len().is_multiple_of(2) {
        return None;
    }
    Some(parts.chunks(2).map(|p| (p[0], p[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100mb"), Some(100 * 1024 * 1024));
        assert_eq!(parse_size("1gb"), Some(1 << 30));
        assert_eq!(parse_size("1G"), Some(1_000_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12xb"), None);
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn sizes_or_percentages() {
        assert_eq!(parse_size_or_percent("1mb"), Some(1 << 20));
        assert_eq!(parse_size_or_percent("7%"), Some(-7));
        assert_eq!(parse_size_or_percent("0%"), Some(0));
        assert_eq!(parse_size_or_percent("200%"), Some(-200));
        for bad in ["%", "-5%", "x%", "5 %", "abc"] {
            assert_eq!(parse_size_or_percent(bad), None, "{bad}");
        }
        assert_eq!(render_size_or_percent(-7), "7%");
        assert_eq!(render_size_or_percent(3_000_000), "3000000");
    }
}
