//! Druid's time conventions: instants as `2026-01-31T00:00:00.000Z`, durations as ISO-8601 periods.
//!
//! Every configuration timeout in Druid is an ISO-8601 period (`PT5M`); Steward reads the same
//! strings. Only fixed-length units are accepted for durations (weeks, days of 24 hours, hours,
//! minutes, seconds): a timeout of "one month" has no fixed length and is refused.

use std::time::Duration;

pub use jiff::Timestamp;

/// Formats an instant the way Druid's Jackson mapper does: UTC, milliseconds, `Z`.
pub fn format_ts(ts: Timestamp) -> String {
    format!("{ts:.3}")
}

/// The current instant, formatted for JSON.
pub fn now_iso() -> String {
    format_ts(Timestamp::now())
}

/// Parses an ISO-8601 instant (`2024-01-01`, `2024-01-01T10:00Z`, `2024-01-01T10:00:00.000Z`).
/// A date or date-time without an offset is taken as UTC, as Druid does.
pub fn parse_instant(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "Invalid format: \"{s}\" is not an ISO-8601 instant"
    ))
}

/// Parses an ISO-8601 interval `start/end` into its two instants.
pub fn parse_interval(s: &str) -> Result<(Timestamp, Timestamp), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| format!("Invalid interval [{s}]: expected <start>/<end>"))?;
    let (start, end) = (parse_instant(a)?, parse_instant(b)?);
    if end < start {
        return Err(format!(
            "Invalid interval [{s}]: the end is before the start"
        ));
    }
    Ok((start, end))
}

/// Parses an ISO-8601 period with fixed-length units (`PT5M`, `P1D`, `PT0.5S`, `P1W`).
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let bad = || format!("Invalid ISO-8601 period [{s}] (expected e.g. PT5M, PT30S, P1D)");
    let rest = s
        .strip_prefix('P')
        .or_else(|| s.strip_prefix('p'))
        .ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut seen_unit = false;
    for ch in rest.chars() {
        match ch.to_ascii_uppercase() {
            'T' if !in_time && number.is_empty() => in_time = true,
            c @ ('0'..='9' | '.' | ',') => number.push(if c == ',' { '.' } else { c }),
            unit => {
                let n: f64 = number.parse().map_err(|_| bad())?;
                number.clear();
                let secs = match (in_time, unit) {
                    (false, 'W') => 7.0 * 86_400.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3_600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return Err(bad()),
                };
                total += n * secs;
                seen_unit = true;
            }
        }
    }
    if !number.is_empty() || !seen_unit {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration as an ISO-8601 period, the inverse of [`parse_period`].
pub fn format_period(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("PT{}S", d.as_secs_f64());
    }
    let s = ms / 1000;
    if s == 0 {
        "PT0S".to_string()
    } else if s.is_multiple_of(86_400) {
        format!("P{}D", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("PT{}H", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("PT{}M", s / 60)
    } else {
        format!("PT{s}S")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_to_fixed_durations() {
        assert_eq!(parse_period("PT5M").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_period("PT15M").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_period("P1D").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_period("P1DT1H").unwrap(), Duration::from_secs(90_000));
        assert_eq!(parse_period("PT0.5S").unwrap(), Duration::from_millis(500));
        assert_eq!(
            parse_period("P2W").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        for bad in ["", "P", "5M", "PT", "P1M", "PTX", "PT5"] {
            assert!(parse_period(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn periods_round_trip() {
        for p in ["PT5M", "PT15M", "P1D", "PT1H", "PT30S", "PT0S"] {
            assert_eq!(format_period(parse_period(p).unwrap()), p);
        }
    }

    #[test]
    fn instants_format_like_druid() {
        let ts = parse_instant("2026-03-08T10:30:00Z").unwrap();
        assert_eq!(format_ts(ts), "2026-03-08T10:30:00.000Z");
        assert_eq!(
            format_ts(parse_instant("2026-03-08").unwrap()),
            "2026-03-08T00:00:00.000Z"
        );
        assert!(parse_instant("yesterday").is_err());
        let (a, b) = parse_interval("2026-01-01/2026-02-01").unwrap();
        assert!(a < b);
        assert!(parse_interval("2026-02-01/2026-01-01").is_err());
    }
}
