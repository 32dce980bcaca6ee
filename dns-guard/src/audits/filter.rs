//! Which events a report shows: `--since`, `--container`, `--kind`, `--action`.

use serde_json::Value;

/// The sidecar's own events (DNS, WAF, policy) carry no container; `--container sidecar`
/// selects them.
pub const SIDECAR: &str = "sidecar";

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Milliseconds since the epoch; older events (and events without a readable time) are
    /// left out.
    pub since_ms: Option<i64>,
    pub containers: Vec<String>,
    pub kinds: Vec<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--since {0:?}: expected a duration (30s, 15m, 2h, 1d, 1h30m) or an RFC 3339 time (2026-11-25T10:00:00Z)"
)]
pub struct SinceError(pub String);

impl Filter {
    pub fn matches(&self, e: &Value) -> bool {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        if let Some(since) = self.since_ms {
            match time_ms(e) {
                Some(t) if t >= since => {}
                _ => return false,
            }
        }
        let container = container_of(e);
        (self.containers.is_empty() || self.containers.iter().any(|c| c == container))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == field("kind")))
            && (self.actions.is_empty() || self.actions.iter().any(|a| a == field("action")))
    }
}

/// The container an event happened in, [`SIDECAR`] for the sidecar's own.
pub fn container_of(e: &Value) -> &str {
    match e.get("container").and_then(Value::as_str) {
        Some(c) if !c.is_empty() => c,
        _ => SIDECAR,
    }
}

/// The event's `time` in milliseconds since the epoch.
pub fn time_ms(e: &Value) -> Option<i64> {
    e.get("time")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
}

/// `--since`: a duration back from `now_ms`, or an absolute RFC 3339 time.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, SinceError> {
    let err = || SinceError(text.to_string());
    if let Some(t) = parse_rfc3339(text) {
        return Ok(t);
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        digits.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => return Err(err()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(err());
    }
    Ok(now_ms - total)
}

/// RFC 3339 (`2026-11-25T10:00:00.123Z`, `...+02:00`), also with a space for the `T` as
/// Insights writes `@timestamp`, to milliseconds since the epoch. A time without a zone is UTC.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = std::str::from_utf8(b.get(r)?).ok()?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = std::str::from_utf8(&b[start..i.min(start + 3)]).ok()?;
        ms = format!("{frac:0<3}").parse().ok()?;
    }
    let offset_s = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) - offset_s) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_agrees_with_the_audit_writer() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let text = crate::audit::rfc3339_millis(t);
        assert_eq!(parse_rfc3339(&text), Some(1_700_000_000_123));
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14 22:13:20.123"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in [
            "2023-13-01T00:00:00Z",
            "yesterday",
            "2023-11-14T22:13:20Zjunk",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = 10_000_000;
        assert_eq!(parse_since("30s", now), Ok(now - 30_000));
        assert_eq!(parse_since("1h30m", now), Ok(now - 5_400_000));
        assert_eq!(parse_since("250ms", now), Ok(now - 250));
        assert_eq!(parse_since("1970-01-01T00:00:01Z", now), Ok(1000));
        for bad in ["", "10", "5x", "m", "1h30"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
