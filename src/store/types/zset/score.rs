//! Scores as text, exactly as Redis writes them: `%.17g` in replies, the
//! digest and the AOF; `d2string` (integers without a fraction) in listpacks.

/// Formats `v` as C's `%.17g` (`inf`, `-inf`, `-0` included).
pub fn g17(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    if v == v.trunc() && v.abs() < 1e17 {
        return itoa::Buffer::new().format(v as i64).to_string();
    }
    let sci = format!("{v:.16e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp).max(0) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mant), exp.abs())
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Writes `v` as Redis's `d2string` into `buf`; returns the length used.
pub fn d2string(v: f64, buf: &mut [u8; 32]) -> usize {
    // Redis's `double2ll` range: integers print as integers.
    let half = (i64::MAX / 2) as f64;
    let text;
    let s: &[u8] = if v.is_finite() && v >= -half && v <= half && v == v.trunc() {
        text = itoa::Buffer::new().format(v as i64).to_string();
        text.as_bytes()
    } else {
        text = g17(v);
        text.as_bytes()
    };
    let n = s.len().min(32);
    buf[..n].copy_from_slice(&s[..n]);
    n
}

/// Parses a stored score as `strtod` would read Redis's own text
/// (`None` for anything else, NaN included).
pub fn parse(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    let v: f64 = match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => t.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_c_does() {
        assert_eq!(g17(1.5), "1.5");
        assert_eq!(g17(0.1), "0.10000000000000001");
        assert_eq!(g17(-0.0), "-0");
        assert_eq!(g17(1e17), "1e+17");
        assert_eq!(g17(1.0e-5), "1.0000000000000001e-05");
        assert_eq!(g17(0.0001), "0.0001");
        assert_eq!(g17(f64::NEG_INFINITY), "-inf");
        let mut b = [0u8; 32];
        let n = d2string(1e17, &mut b);
        assert_eq!(&b[..n], b"100000000000000000");
        let n = d2string(-0.0, &mut b);
        assert_eq!(&b[..n], b"0", "double2ll takes -0 as the integer 0");
        let n = d2string(2.5, &mut b);
        assert_eq!(&b[..n], b"2.5");
        assert_eq!(parse(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse(b"nan"), None);
    }
}
