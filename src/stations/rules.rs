//! Rules for registry entries (SPEC §7), shared by the API and the CSV import.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{StationStatus, Visibility};
use crate::fields::text;

pub const NAME_MAX: usize = 200;
pub const BUREAU_MAX: usize = 120;
pub const ADDRESS_MAX: usize = 500;
pub const NOTES_MAX: usize = 5_000;
pub const SOURCES_MAX: usize = 50;
pub const SOURCE_TITLE_MAX: usize = 500;
pub const URL_MAX: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub title: String,
    pub url: Option<String>,
    pub published_on: Option<NaiveDate>,
}

/// The fields of a station as given. On create every required field is `Some`; on update
/// only the fields sent are. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StationFields {
    pub name: Option<String>,
    pub city: Option<Option<String>>,
    pub country: Option<String>,
    pub address: Option<Option<String>>,
    pub operating_bureau: Option<String>,
    pub status: Option<StationStatus>,
    pub visibility: Option<Visibility>,
    pub sources: Option<Vec<Source>>,
    pub first_reported_on: Option<Option<NaiveDate>>,
    pub notes: Option<Option<String>>,
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
}

pub fn single_line(max: usize) -> impl Fn(String) -> Result<String, String> {
    move |v: String| {
        if v.trim().is_empty() {
            return Err("must not be empty".into());
        }
        text(&v, max, false)?;
        Ok(crate::fields::shown_text(v.trim())?)
    }
}

pub fn date(value: &str) -> Result<NaiveDate, &'static str> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| "must be a date as YYYY-MM-DD")
}

/// A source URL: an absolute `http://` or `https://` URL with a host and without credentials,
/// as the WHATWG URL standard (the `url` crate) parses it. The text must start with the scheme
/// in lower case and the host right after `//`, which the contract's pattern can say; the
/// parser then refuses what no pattern can (a broken IPv6 literal, an IPv4 part over 255, a
/// port over 65535). The stored form is the parser's serialization, so an address is always
/// written one way and whatever shows it gets a URL that parses.
pub fn url(value: &str) -> Result<String, &'static str> {
    const PROBLEM: &str = "must be an http(s) URL with a host";
    let Some(rest) = value.strip_prefix("http://").or_else(|| value.strip_prefix("https://")) else {
        return Err(PROBLEM);
    };
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains('@')
        || value.len() > URL_MAX
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(PROBLEM);
    }
    // For `http` and `https` the parser refuses an empty host, so a parsed URL has one.
    let parsed = ::url::Url::parse(value).map_err(|_| PROBLEM)?;
    if parsed.as_str().len() <= URL_MAX {
        Ok(parsed.into())
    } else {
        Err(PROBLEM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls_must_parse_with_a_host() {
        for bad in [
            "http://[",
            "https://[::1",
            "http://exa mple.org/",
            "https://",
            "http:///path",
            "https://user:secret@example.org/",
            "https://1.2.3.999/",
            "https://example.org:99999/",
            "javascript:alert(1)",
            "ftp://example.org/",
        ] {
            assert_eq!(url(bad), Err("must be an http(s) URL with a host"), "{bad}");
        }
        assert_eq!(url("https://example.org/st").as_deref(), Ok("https://example.org/st"));
        assert_eq!(url("HTTPS://example.org/"), Err("must be an http(s) URL with a host"));
        assert_eq!(url("https://Example.ORG").as_deref(), Ok("https://example.org/"));
        assert_eq!(url("https://[::1]:8443/a?b#c").as_deref(), Ok("https://[::1]:8443/a?b#c"));
        assert_eq!(url("https://例え.jp/記事").as_deref(), Ok("https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B"));
    }
}
