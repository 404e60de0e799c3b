//! Turning relative and absolute expire arguments into absolute unix milliseconds,
//! with Redis's range checks and error strings.

use super::{parse_i64, CmdError};

/// How an expire argument is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireUnit {
    /// Seconds from now (EX, EXPIRE, SETEX).
    Seconds,
    /// Milliseconds from now (PX, PEXPIRE, PSETEX).
    Millis,
    /// Unix seconds (EXAT, EXPIREAT).
    UnixSeconds,
    /// Unix milliseconds (PXAT, PEXPIREAT).
    UnixMillis,
}

/// Converts `arg` to an absolute unix-ms deadline. `positive` requires > 0 (SET and
/// friends); EXPIRE accepts zero and negatives (the key is deleted).
pub fn deadline(
    arg: &[u8],
    unit: ExpireUnit,
    now_ms: u64,
    cmd: &str,
    positive: bool,
) -> Result<i64, CmdError> {
    let v = parse_i64(arg)?;
    let invalid = || CmdError::InvalidExpire(cmd.to_string());
    if positive && v <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        ExpireUnit::Seconds | ExpireUnit::UnixSeconds => v.checked_mul(1000).ok_or_else(invalid)?,
        ExpireUnit::Millis | ExpireUnit::UnixMillis => v,
    };
    match unit {
        ExpireUnit::Seconds | ExpireUnit::Millis => {
            ms.checked_add(now_ms as i64).ok_or_else(invalid)
        }
        ExpireUnit::UnixSeconds | ExpireUnit::UnixMillis => Ok(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_limits() {
        assert_eq!(
            deadline(b"10", ExpireUnit::Seconds, 1000, "set", true),
            Ok(11_000)
        );
        assert_eq!(
            deadline(b"10", ExpireUnit::Millis, 1000, "set", true),
            Ok(1010)
        );
        assert_eq!(
            deadline(b"5", ExpireUnit::UnixSeconds, 1000, "set", true),
            Ok(5000)
        );
        assert_eq!(
            deadline(b"0", ExpireUnit::Seconds, 0, "set", true),
            Err(CmdError::InvalidExpire("set".into()))
        );
        assert_eq!(
            deadline(b"-5", ExpireUnit::Seconds, 10_000, "expire", false),
            Ok(5000)
        );
        assert!(deadline(b"9223372036854775807", ExpireUnit::Seconds, 0, "set", true).is_err());
        assert_eq!(
            deadline(b"x", ExpireUnit::Seconds, 0, "set", true),
            Err(CmdError::NotInteger)
        );
    }
}
