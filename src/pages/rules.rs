//! The pages' rules as plain functions: reading a posted form into the API's JSON shape, the
//! signed form token and the cross-site check. No I/O here.

use serde_json::{Map, Value};

/// How long a form token stays good: long enough to write a careful report.
pub const TOKEN_TTL_SECS: i64 = 24 * 60 * 60;
/// Clock skew tolerated between instances for a token from the future.
const TOKEN_SKEW_SECS: i64 = 300;

/// The name of the hidden field holding the form token.
pub const TOKEN_FIELD: &str = "form_token";

/// A form token: the time it was issued and an HMAC over it under the pages' key.
pub fn sign_token(key: &[u8], issued_at: i64) -> String {
    format!("{issued_at}.{}", crate::crypto::hmac_hex(key, format!("page-form:{issued_at}").as_bytes()))
}

/// Whether `token` was issued by this service (any instance sharing its keys) and is still good.
pub fn token_is_good(key: &[u8], token: &str, now: i64) -> bool {
    let Some((issued, _)) = token.split_once('.') else { return false };
    let Ok(issued_at) = issued.parse::<i64>() else { return false };
    let expected = sign_token(key, issued_at);
    let age = now - issued_at;
    // Compared in constant time over the whole token.
    let same = expected.len() == token.len()
        && expected.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same && (-TOKEN_SKEW_SECS..=TOKEN_TTL_SECS).contains(&age)
}

/// Whether a POST comes from another site: the browser says so in `Sec-Fetch-Site`, or the
/// `Origin` it sends names another host than the one asked. `Origin: null` (sent for a form
/// post from a page with `Referrer-Policy: no-referrer`) and a missing header prove nothing
/// either way; the form token is then what stands.
pub fn is_cross_site(sec_fetch_site: Option<&str>, origin: Option<&str>, host: Option<&str>) -> bool {
    if let Some(site) = sec_fetch_site {
        if !matches!(site.trim(), "same-origin" | "none") {
            return true;
        }
    }
    match origin.map(str::trim) {
        None | Some("null") => false,
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            match host {
                Some(host) => !authority.eq_ignore_ascii_case(host.trim()),
                None => true,
            }
        }
    }
}

/// What the person typed into the report form, kept to fill the form again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Typed {
    pub kind: String,
    pub tactics: Vec<String>,
    pub narrative: String,
    pub occurred_on: String,
    pub occurred_on_precision: String,
    pub country: String,
    pub city: String,
    pub location_detail: String,
    pub station_id: String,
    pub station_hint: String,
    pub contact: String,
    pub contact_ok: bool,
    pub share_with_authorities: bool,
    pub on_behalf_of_other: bool,
    pub language: String,
}

/// A posted report form, read into the JSON body the API takes (so the same intake reads it):
/// empty optional fields are left out, checkboxes become booleans, a name the form does not
/// have is passed on for the intake to refuse. Answers the body, what was typed and the token.
pub fn report_body(pairs: Vec<(String, String)>) -> (Value, Typed, Option<String>) {
    let mut typed = Typed::default();
    let mut body = Map::new();
    let mut consent = Map::new();
    let mut token = None;
    let checked = |v: &str| matches!(v, "true" | "on" | "1");
    for (name, value) in pairs {
        match name.as_str() {
            TOKEN_FIELD => token = Some(value),
            "tactics" => typed.tactics.push(value),
            "consent.contact_ok" => typed.contact_ok = checked(&value),
            "consent.share_with_authorities" => typed.share_with_authorities = checked(&value),
            "on_behalf_of_other" => typed.on_behalf_of_other = checked(&value),
            _ => {
                let slot = match name.as_str() {
                    "kind" => &mut typed.kind,
                    "narrative" => &mut typed.narrative,
                    "occurred_on" => &mut typed.occurred_on,
                    "occurred_on_precision" => &mut typed.occurred_on_precision,
                    "country" => &mut typed.country,
                    "city" => &mut typed.city,
                    "location_detail" => &mut typed.location_detail,
                    "station_id" => &mut typed.station_id,
                    "station_hint" => &mut typed.station_hint,
                    "contact" => &mut typed.contact,
                    "language" => &mut typed.language,
                    _ => {
                        body.insert(name, Value::String(value));
                        continue;
                    }
                };
                *slot = value;
            }
        }
    }
    // A browser sends `\r\n` for a line break in a text area; the stored text keeps `\n`.
    for text in [&mut typed.narrative, &mut typed.location_detail, &mut typed.station_hint, &mut typed.contact] {
        if text.contains("\r\n") {
            *text = text.replace("\r\n", "\n");
        }
    }
    // Required fields always go through, even empty, so the intake names them; optional ones
    // only when filled in.
    body.insert("narrative".into(), Value::String(typed.narrative.clone()));
    body.insert("country".into(), Value::String(typed.country.trim().to_string()));
    if !typed.kind.is_empty() {
        body.insert("kind".into(), Value::String(typed.kind.clone()));
    }
    body.insert("tactics".into(), Value::Array(typed.tactics.iter().cloned().map(Value::String).collect()));
    for (name, value) in [
        ("occurred_on", typed.occurred_on.trim()),
        ("occurred_on_precision", typed.occurred_on_precision.trim()),
        ("city", typed.city.as_str()),
        ("location_detail", typed.location_detail.as_str()),
        ("station_id", typed.station_id.trim()),
        ("station_hint", typed.station_hint.as_str()),
        ("contact", typed.contact.as_str()),
        ("language", typed.language.trim()),
    ] {
        if !value.trim().is_empty() {
            body.insert(name.into(), Value::String(value.to_string()));
        }
    }
    consent.insert("contact_ok".into(), Value::Bool(typed.contact_ok));
    consent.insert("share_with_authorities".into(), Value::Bool(typed.share_with_authorities));
    body.insert("consent".into(), Value::Object(consent));
    body.insert("on_behalf_of_other".into(), Value::Bool(typed.on_behalf_of_other));
    (Value::Object(body), typed, token)
}

/// The form field an intake error belongs to: `tactics[2]` is the tactics group.
pub fn field_of(path: &str) -> &str {
    match path.split_once('[') {
        Some((base, _)) => base,
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn tokens_are_signed_and_expire() {
        let key = [7u8; 32];
        let token = sign_token(&key, 1_000_000);
        assert!(token_is_good(&key, &token, 1_000_000));
        assert!(token_is_good(&key, &token, 1_000_000 + TOKEN_TTL_SECS));
        assert!(!token_is_good(&key, &token, 1_000_000 + TOKEN_TTL_SECS + 1));
        assert!(!token_is_good(&key, &token, 1_000_000 - 301));
        assert!(!token_is_good(&[8u8; 32], &token, 1_000_000));
        assert!(!token_is_good(&key, &token.replace("1000000.", "1000001."), 1_000_001));
        assert!(!token_is_good(&key, "", 0));
        assert!(!token_is_good(&key, "x.y", 0));
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let host = Some("tipline.example:8080");
        assert!(!is_cross_site(Some("same-origin"), Some("http://tipline.example:8080"), host));
        assert!(!is_cross_site(None, None, host));
        assert!(!is_cross_site(None, Some("null"), host));
        assert!(!is_cross_site(Some("none"), None, host));
        assert!(is_cross_site(Some("cross-site"), None, host));
        assert!(is_cross_site(Some("same-site"), None, host));
        assert!(is_cross_site(None, Some("https://evil.example"), host));
        assert!(is_cross_site(None, Some("http://tipline.example"), host));
        assert!(is_cross_site(None, Some("https://tipline.example:8080"), None));
    }

    #[test]
    fn a_form_reads_into_the_api_body() {
        let (body, typed, token) = report_body(pairs(&[
            ("form_token", "t"),
            ("kind", "incident"),
            ("tactics", "surveillance"),
            ("tactics", "other"),
            ("narrative", "line one\r\nline two"),
            ("country", " nl "),
            ("city", ""),
            ("consent.contact_ok", "true"),
            ("on_behalf_of_other", "true"),
        ]));
        assert_eq!(token.as_deref(), Some("t"));
        assert_eq!(typed.narrative, "line one\nline two");
        assert_eq!(
            body,
            json!({
                "kind": "incident",
                "tactics": ["surveillance", "other"],
                "narrative": "line one\nline two",
                "country": "nl",
                "consent": {"contact_ok": true, "share_with_authorities": false},
                "on_behalf_of_other": true
            })
        );
    }

    #[test]
    fn unknown_names_pass_through_for_the_intake_to_refuse() {
        let (body, _, token) = report_body(pairs(&[("surprise", "x")]));
        assert_eq!(body["surprise"], "x");
        assert!(token.is_none());
        assert!(body.get("kind").is_none());
    }

    #[test]
    fn error_paths_name_their_field() {
        assert_eq!(field_of("tactics[3]"), "tactics");
        assert_eq!(field_of("consent.contact_ok"), "consent.contact_ok");
        assert_eq!(field_of("narrative"), "narrative");
    }
}
