//! Rules for case fields (SPEC §6).

use crate::db::Id;
use crate::http::body::{one_of, Form};
use crate::reports::rules::text;
use crate::triage::rules::PRIORITIES;

pub const STATUSES: [&str; 3] = ["open", "monitoring", "closed"];
pub const RELATIONS: [&str; 3] = ["operates_from", "mentioned", "suspected"];
pub const CONFIDENCES: [&str; 3] = ["low", "medium", "high"];
pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 20_000;
pub const LINK_NOTE_MAX: usize = 2_000;
pub const REPORTS_MAX: usize = 100;

/// A case reference: `CASE-` and 6 Crockford symbols.
pub fn reference() -> String {
    format!("CASE-{}", crate::codes::random(6))
}

pub fn title(value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    text(&value, TITLE_MAX, false).map(|_| value.trim().to_string())
}

#[derive(Debug, Default, PartialEq)]
pub struct CaseFields {
    pub title: Option<String>,
    /// `Some(None)` clears it.
    pub summary: Option<Option<String>>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub assignee_id: Option<Option<Id>>,
}

pub fn read(form: &mut Form, with_status: bool) -> CaseFields {
    let title_raw = form.opt_string("title");
    let summary = form.opt_nullable_string("summary");
    let status = if with_status { form.opt_string("status") } else { None };
    let priority = form.opt_string("priority");
    let assignee = form.opt_nullable_string("assignee_id");
    CaseFields {
        title: title_raw.and_then(|v| form.check("title", title(v))),
        summary: summary.map(|s| {
            s.filter(|v| !v.trim().is_empty())
                .and_then(|v| form.check("summary", text(&v, SUMMARY_MAX, true).map(|_| v)))
        }),
        status: status.and_then(|v| form.check("status", one_of(v, &STATUSES, "must be open, monitoring or closed"))),
        priority: priority
            .and_then(|v| form.check("priority", one_of(v, &PRIORITIES, "must be low, normal, high or urgent"))),
        assignee_id: assignee.map(|a| {
            a.and_then(|v| {
                form.check("assignee_id", crate::http::path_id(&v).map_err(|_| "must be a user's UUID or null"))
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_and_titles() {
        let r = reference();
        assert!(r.starts_with("CASE-") && r.len() == 11, "{r}");
        assert_eq!(title("  Rotterdam station ".into()).as_deref(), Ok("Rotterdam station"));
        assert!(title(" ".into()).is_err());
        assert!(title("a\nb".into()).is_err());
    }

    #[test]
    fn reads_fields() {
        let mut form =
            Form::new(json!({"title": "T", "summary": null, "status": "monitoring", "assignee_id": null})).unwrap();
        let fields = read(&mut form, true);
        assert!(form.finish().is_ok());
        assert_eq!(fields.summary, Some(None));
        assert_eq!(fields.assignee_id, Some(None));
        assert_eq!(fields.status.as_deref(), Some("monitoring"));
        let mut form = Form::new(json!({"status": "done", "priority": "asap"})).unwrap();
        read(&mut form, true);
        assert!(form.finish().is_err());
    }
}
