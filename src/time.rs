//! Timestamps as the API shows them: RFC 3339, UTC, microseconds.

use chrono::{Datelike, NaiveDateTime, Timelike};

pub fn format(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// [`format`], appended to `out` digit by digit rather than through a format string that chrono
/// parses at every call: the audit trail's canonical form needs it for every entry it hashes.
/// Years outside 0–9999 and leap seconds go through [`format`].
pub fn write(at: &NaiveDateTime, out: &mut Vec<u8>) {
    let nanos = at.nanosecond();
    let year = match u32::try_from(at.year()) {
        Ok(year) if year <= 9999 && nanos < 1_000_000_000 => year,
        _ => {
            out.extend_from_slice(format(at).as_bytes());
            return;
        }
    };
    let digits = |out: &mut Vec<u8>, value: u32, width: u32| {
        for place in (0..width).rev() {
            out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    };
    digits(out, year, 4);
    out.push(b'-');
    digits(out, at.month(), 2);
    out.push(b'-');
    digits(out, at.day(), 2);
    out.push(b'T');
    digits(out, at.hour(), 2);
    out.push(b':');
    digits(out, at.minute(), 2);
    out.push(b':');
    digits(out, at.second(), 2);
    out.push(b'.');
    digits(out, nanos / 1000, 6);
    out.push(b'Z');
}

/// Parses an RFC 3339 timestamp (any offset) into naive UTC.
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.naive_utc())
}

pub mod rfc3339 {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(at))
    }
}

pub mod rfc3339_opt {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&super::format(at)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_is_format() {
        let mut samples: Vec<NaiveDateTime> = Vec::new();
        for (secs, nanos) in [
            (0i64, 0u32),
            (1_700_000_000, 123_456_789),
            (1_700_000_000, 999_999_999),
            (-62_167_219_200, 1_000),   // 0000-01-01
            (253_402_300_799, 999_999), // 9999-12-31T23:59:59
            (253_402_300_800, 0),       // 10000-01-01
            (-62_167_219_201, 0),       // year -1
        ] {
            samples.push(chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc());
        }
        // A leap second.
        samples.push(
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap(),
        );
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let secs = (state % 400_000_000_000) as i64 - 100_000_000_000;
            samples.push(
                chrono::DateTime::from_timestamp(secs, (state >> 34) as u32 % 1_000_000_000).unwrap().naive_utc(),
            );
        }
        for at in samples {
            let mut out = Vec::new();
            write(&at, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format(&at), "{at:?}");
        }
    }
}
