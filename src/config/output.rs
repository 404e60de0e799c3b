//! `client-output-buffer-limit`: per client class hard and soft limits, Redis's
//! CONFIG SET syntax and CONFIG GET rendering.

use serde::{Deserialize, Deserializer};

use super::option_lookup::find_option;
use super::value::parse_size;

/// One client class's output limits: past `hard` bytes, or past `soft`
/// bytes for `soft_seconds` in a row, the client is disconnected (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    /// Bytes that disconnect at once.
    pub hard: u64,
    /// Bytes that disconnect when held for `soft_seconds`.
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`: the limits of each client class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Ordinary clients.
    pub normal: OutputLimit,
    /// Replica links (replication output).
    pub replica: OutputLimit,
    /// Pub/sub subscribers.
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    /// Redis's defaults, as the option table declares them.
    fn default() -> Self {
        let none = OutputLimit {
            hard: 0,
            soft: 0,
            soft_seconds: 0,
        };
        let unset = OutputLimits {
            normal: none,
            replica: none,
            pubsub: none,
        };
        find_option("client-output-buffer-limit")
            .and_then(|o| unset.apply(o.default).ok())
            .unwrap_or(unset)
    }
}

impl OutputLimits {
    /// Applies `class hard soft soft-seconds` groups (sizes with Redis's
    /// units) on top of `self`, as Redis's CONFIG SET does ("" changes nothing).
    pub fn apply(mut self, text: &str) -> Result<OutputLimits, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for g in words.chunks(4) {
            let class = match g[0].to_ascii_lowercase().as_str() {
                "normal" => &mut self.normal,
                "replica" | "slave" => &mut self.replica,
                "pubsub" => &mut self.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_size(g[1]).ok_or_else(bad)?;
            let soft = parse_size(g[2]).ok_or_else(bad)?;
            let soft_seconds: u64 = g[3].parse().map_err(|_| bad())?;
            *class = OutputLimit {
                hard,
                soft,
                soft_seconds,
            };
        }
        Ok(self)
    }

    /// The value as Redis's CONFIG GET shows it.
    pub fn render(&self) -> String {
        let f = |l: &OutputLimit| format!("{} {} {}", l.hard, l.soft, l.soft_seconds);
        format!(
            "normal {} slave {} pubsub {}",
            f(&self.normal),
            f(&self.replica),
            f(&self.pubsub)
        )
    }
}

pub(super) fn output_limits<'de, D: Deserializer<'de>>(d: D) -> Result<OutputLimits, D::Error> {
    let text = String::deserialize(d)?;
    OutputLimits::default()
        .apply(&text)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::MB;

    #[test]
    fn defaults_are_the_tables() {
        let d = OutputLimits::default();
        assert_eq!(d.normal.hard, 0);
        assert_eq!((d.replica.hard, d.replica.soft), (256 * MB, 64 * MB));
        assert_eq!((d.pubsub.hard, d.pubsub.soft_seconds), (32 * MB, 60));
        let partial = d.apply("pubsub 1mb 1mb 1").unwrap();
        assert_eq!((partial.replica, partial.pubsub.hard), (d.replica, MB));
    }
}
