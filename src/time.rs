//! Timestamps as the API shows them: RFC 3339, UTC, microseconds.

use chrono::NaiveDateTime;

pub fn format(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
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
