//! The rules of a submission (SPEC §4.1), as plain functions tested without a database.

use chrono::NaiveDate;

use super::{Kind, Precision, Tactic};
use crate::db::Id;
use crate::fields::required_text;

pub const NARRATIVE_MAX: usize = 20_000;
pub const LOCATION_DETAIL_MAX: usize = 2_000;
pub const STATION_HINT_MAX: usize = 2_000;
pub const CONTACT_MAX: usize = 1_000;
pub const MESSAGE_MAX: usize = 20_000;

/// A valid submission, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub kind: Kind,
    pub tactics: Vec<Tactic>,
    pub narrative: String,
    pub occurred_on: Option<NaiveDate>,
    pub occurred_on_precision: Option<Precision>,
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

pub fn occurred_on(date: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| "must be a date as YYYY-MM-DD")?;
    if date > today {
        return Err("must not be in the future");
    }
    Ok(date)
}

/// The one answer for an unknown and for an internal station, so the registry's hidden
/// entries cannot be probed.
pub const STATION_UNKNOWN: &str = "is not a station in the public registry";

/// A message body (SPEC §5: `{body}`, 1..=20000 characters).
pub fn message_body(body: &str) -> Result<(), String> {
    required_text(body, MESSAGE_MAX)
}

/// A tactic from the list: known, and not listed twice.
pub fn tactic(raw: &str, so_far: &[Tactic]) -> Result<Tactic, &'static str> {
    let tactic = Tactic::parse(raw).ok_or("is not a known tactic (see §4.3 of the specification)")?;
    if so_far.contains(&tactic) {
        return Err("is listed twice");
    }
    Ok(tactic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_not_in_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(occurred_on("2026-11-28", today), Ok(today));
        assert!(occurred_on("2026-11-29", today).is_err());
        assert!(occurred_on("2026-13-01", today).is_err());
    }

    #[test]
    fn tactics_are_known_and_listed_once() {
        assert_eq!(tactic("other", &[]), Ok(Tactic::Other));
        assert!(tactic("other", &[Tactic::Other]).is_err());
        assert!(tactic("not_a_tactic", &[]).is_err());
    }
}
