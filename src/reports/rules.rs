//! The rules of a submission (SPEC §4.1), as plain functions tested without a database.

use chrono::NaiveDate;

use crate::db::Id;
use crate::http::body::Form;

/// SPEC §4.3, after Freedom House's categories of transnational repression.
pub const TACTICS: [&str; 12] = [
    "threat_to_family",
    "coerced_return",
    "surveillance",
    "summons_or_visit",
    "information_demand",
    "online_harassment",
    "digital_intrusion",
    "physical_assault",
    "detention_or_rendition",
    "document_denial",
    "financial_pressure",
    "other",
];

pub const NARRATIVE_MAX: usize = 20_000;
pub const CITY_MAX: usize = 120;
pub const LOCATION_DETAIL_MAX: usize = 2_000;
pub const STATION_HINT_MAX: usize = 2_000;
pub const CONTACT_MAX: usize = 1_000;
pub const LANGUAGE_MAX: usize = 35;
pub const MESSAGE_MAX: usize = 20_000;

/// A valid submission, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub kind: String,
    pub tactics: Vec<String>,
    pub narrative: String,
    pub occurred_on: Option<NaiveDate>,
    pub occurred_on_precision: Option<String>,
    pub country: String,
    pub city: Option<String>,
    pub location_detail: Option<String>,
    pub station_id: Option<Id>,
    pub station_hint: Option<String>,
    pub contact: Option<String>,
    pub contact_ok: bool,
    pub share_with_authorities: bool,
    pub on_behalf_of_other: bool,
    pub language: Option<String>,
}

/// Free text: any script, at most `max` characters, no control characters other than line
/// breaks and tabs (and none of those in single-line fields).
pub fn text(value: &str, max: usize, multiline: bool) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters long"));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(if multiline {
            "must not contain control characters other than line breaks and tabs".into()
        } else {
            "must not contain control characters or line breaks".into()
        });
    }
    Ok(())
}

/// Required free text: as [`text`], and not blank.
pub fn required_text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    text(value, max, true)
}

pub fn country(code: &str) -> Result<String, &'static str> {
    let upper = code.to_ascii_uppercase();
    match upper.len() == 2 && isocountry::CountryCode::for_alpha2(&upper).is_ok() {
        true => Ok(upper),
        false => Err("must be an ISO 3166-1 alpha-2 country code, such as NL or CA"),
    }
}

pub fn language(tag: &str) -> Result<String, &'static str> {
    if tag.len() > LANGUAGE_MAX || oxilangtag::LanguageTag::parse(tag).is_err() {
        return Err("must be a BCP 47 language tag, such as zh-Hans or ug");
    }
    Ok(tag.to_string())
}

pub fn occurred_on(date: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| "must be a date as YYYY-MM-DD")?;
    if date > today {
        return Err("must not be in the future");
    }
    Ok(date)
}

/// Reads a whole submission, collecting every violation into `form`.
pub fn submission(form: &mut Form, today: NaiveDate) -> Option<Submission> {
    let kind = form.string("kind");
    let tactics = form.opt_strings("tactics");
    let narrative = form.string("narrative");
    let occurred_on_raw = form.opt_string("occurred_on");
    let precision = form.opt_string("occurred_on_precision");
    let country_raw = form.string("country");
    let city = form.opt_string("city");
    let location_detail = form.opt_string("location_detail");
    let station_raw = form.opt_string("station_id");
    let station_hint = form.opt_string("station_hint");
    let contact = form.opt_string("contact");
    let consent = form.opt_object("consent", |c| (c.opt_bool("contact_ok"), c.opt_bool("share_with_authorities")));
    let on_behalf_of_other = form.opt_bool("on_behalf_of_other");
    let language_raw = form.opt_string("language");

    let kind = kind.and_then(|k| {
        form.check("kind", if k == "incident" || k == "station" { Ok(k) } else { Err("must be incident or station") })
    });
    let mut tactic_list = Vec::new();
    for (i, tactic) in tactics.clone().unwrap_or_default().into_iter().enumerate() {
        if !TACTICS.contains(&tactic.as_str()) {
            form.error(&format!("tactics[{i}]"), "is not a known tactic (see §4.3 of the specification)");
        } else if tactic_list.contains(&tactic) {
            form.error(&format!("tactics[{i}]"), "is listed twice");
        } else {
            tactic_list.push(tactic);
        }
    }
    if kind.as_deref() == Some("incident") && tactics.as_ref().is_none_or(|t| t.is_empty()) {
        form.error("tactics", "must name at least one tactic for an incident");
    }
    if let Some(n) = &narrative {
        form.check("narrative", required_text(n, NARRATIVE_MAX));
    }
    let occurred_on = occurred_on_raw.and_then(|d| form.check("occurred_on", occurred_on(&d, today)));
    let precision = match precision {
        Some(p) if !["day", "month", "year"].contains(&p.as_str()) => {
            form.error("occurred_on_precision", "must be day, month or year");
            None
        }
        Some(_) if occurred_on.is_none() && form_has_no_error(form, "occurred_on") => {
            form.error("occurred_on_precision", "needs occurred_on");
            None
        }
        Some(p) => Some(p),
        None => occurred_on.map(|_| "day".to_string()),
    };
    let country = country_raw.and_then(|c| form.check("country", country(&c)));
    for (name, value, max, multiline) in [
        ("city", &city, CITY_MAX, false),
        ("location_detail", &location_detail, LOCATION_DETAIL_MAX, true),
        ("station_hint", &station_hint, STATION_HINT_MAX, true),
        ("contact", &contact, CONTACT_MAX, true),
    ] {
        if let Some(v) = value {
            form.check(name, text(v, max, multiline));
        }
    }
    let station_id =
        station_raw.and_then(|s| form.check("station_id", crate::http::path_id(&s).map_err(|_| STATION_UNKNOWN)));
    let language = language_raw.and_then(|l| form.check("language", language(&l)));
    let (contact_ok, share_with_authorities) = consent.unwrap_or((None, None));

    Some(Submission {
        kind: kind?,
        tactics: tactic_list,
        narrative: narrative?,
        occurred_on,
        occurred_on_precision: precision,
        country: country?,
        city: city.filter(|c| !c.trim().is_empty()),
        location_detail: location_detail.filter(|v| !v.trim().is_empty()),
        station_id,
        station_hint: station_hint.filter(|v| !v.trim().is_empty()),
        contact: contact.filter(|v| !v.trim().is_empty()),
        contact_ok: contact_ok.unwrap_or(false),
        share_with_authorities: share_with_authorities.unwrap_or(false),
        on_behalf_of_other: on_behalf_of_other.unwrap_or(false),
        language,
    })
}

/// The one answer for an unknown and for an internal station, so the registry's hidden
/// entries cannot be probed.
pub const STATION_UNKNOWN: &str = "is not a station in the public registry";

fn form_has_no_error(form: &Form, field: &str) -> bool {
    !form.has_error(field)
}

/// A message body (SPEC §5: `{body}`, 1..=20000 characters).
pub fn message_body(body: &str) -> Result<(), String> {
    required_text(body, MESSAGE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AppError, FieldError};
    use serde_json::{json, Value};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    fn read(body: Value) -> Result<Submission, Vec<FieldError>> {
        let mut form = Form::new(body).unwrap();
        let submission = submission(&mut form, today());
        match form.finish() {
            Ok(()) => Ok(submission.unwrap()),
            Err(AppError::Validation(errors)) => Err(errors),
            Err(other) => panic!("{other:?}"),
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_incident() {
        let s = read(json!({"kind": "incident", "tactics": ["threat_to_family"], "narrative": "x", "country": "nl"}))
            .unwrap();
        assert_eq!(s.country, "NL");
        assert!(!s.contact_ok && !s.share_with_authorities && !s.on_behalf_of_other);
    }

    #[test]
    fn every_violation_at_once() {
        let errors = read(json!({
            "kind": "incident",
            "tactics": ["not_a_tactic", 3],
            "narrative": "   ",
            "occurred_on": "2999-01-01",
            "country": "XX",
            "city": "a\nb",
            "contact": "c".repeat(1001),
            "consent": {"contact_ok": "yes", "other": 1},
            "language": "not a tag!",
            "station_id": "nope",
            "surprise": true
        }))
        .unwrap_err();
        assert_eq!(
            fields(errors),
            vec![
                "tactics[1]",
                "tactics[0]",
                "narrative",
                "occurred_on",
                "country",
                "city",
                "station_id",
                "contact",
                "consent.contact_ok",
                "consent",
                "language",
                ""
            ]
        );
    }

    #[test]
    fn incidents_need_tactics_stations_do_not() {
        let errors = read(json!({"kind": "incident", "narrative": "x", "country": "NL"})).unwrap_err();
        assert_eq!(fields(errors), vec!["tactics"]);
        assert!(read(json!({"kind": "station", "narrative": "x", "country": "NL"})).is_ok());
    }

    #[test]
    fn texts_in_any_script_round_trip() {
        for narrative in ["我的家人受到威胁", "ئائىلەمگە تەھدىت قىلدى", "ང་ཚོའི་ནང་མི་ལ་", "🙏🏽 family\n\ttabs"]
        {
            let s = read(json!({"kind": "station", "narrative": narrative, "country": "CA"})).unwrap();
            assert_eq!(s.narrative, narrative);
        }
    }

    #[test]
    fn control_characters_and_nul_are_refused() {
        let errors = read(json!({"kind": "station", "narrative": "a\u{0}b", "country": "CA"})).unwrap_err();
        assert_eq!(fields(errors), vec!["narrative"]);
        let errors = read(json!({"kind": "station", "narrative": "a\u{1b}[31m", "country": "CA"})).unwrap_err();
        assert_eq!(fields(errors), vec!["narrative"]);
    }

    #[test]
    fn lengths_count_characters() {
        let ok = "字".repeat(NARRATIVE_MAX);
        assert!(read(json!({"kind": "station", "narrative": ok, "country": "CA"})).is_ok());
        let long = "字".repeat(NARRATIVE_MAX + 1);
        assert!(read(json!({"kind": "station", "narrative": long, "country": "CA"})).is_err());
    }

    #[test]
    fn dates_and_precision() {
        let s =
            read(json!({"kind": "station", "narrative": "x", "country": "CA", "occurred_on": "2026-11-28"})).unwrap();
        assert_eq!(s.occurred_on_precision.as_deref(), Some("day"));
        let errors =
            read(json!({"kind": "station", "narrative": "x", "country": "CA", "occurred_on_precision": "month"}))
                .unwrap_err();
        assert_eq!(fields(errors), vec!["occurred_on_precision"]);
        let errors = read(json!({"kind": "station", "narrative": "x", "country": "CA", "occurred_on": "2026-13-01"}))
            .unwrap_err();
        assert_eq!(fields(errors), vec!["occurred_on"]);
    }

    #[test]
    fn duplicate_tactics_are_refused() {
        let errors =
            read(json!({"kind": "incident", "tactics": ["other", "other"], "narrative": "x", "country": "CA"}))
                .unwrap_err();
        assert_eq!(fields(errors), vec!["tactics[1]"]);
    }
}
