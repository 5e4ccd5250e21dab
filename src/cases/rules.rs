//! Rules for cases (SPEC §6): field checks and what an edit changes. Plain functions over typed
//! values, tested without a database.

use serde_json::{json, Value};

use super::{CaseRow, CaseStatus};
use crate::db::Id;
use crate::fields::text;
use crate::reports::Priority;

pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 20_000;
pub const LINK_NOTE_MAX: usize = 2_000;
pub const REPORTS_MAX: usize = 100;

/// A case reference: `CASE-` and 6 Crockford symbols.
pub fn reference() -> String {
    format!("CASE-{}", crate::codes::random(6))
}

pub fn title(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    text(value, TITLE_MAX, false)?;
    Ok(crate::fields::shown_text(value.trim())?)
}

/// A summary: blank clears it.
pub fn summary(value: &str) -> Result<Option<String>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    text(value, SUMMARY_MAX, true).map(|_| Some(value.to_string()))
}

/// A station link's note: blank is none.
pub fn link_note(value: &str) -> Result<Option<String>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    text(value, LINK_NOTE_MAX, true).map(|_| Some(value.to_string()))
}

/// The fields of a case as sent: only those present are `Some`; `Some(None)` clears.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CaseFields {
    pub title: Option<String>,
    pub summary: Option<Option<String>>,
    pub status: Option<CaseStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<Id>>,
}

/// Applies an edit: the case as it will be, and the changes for the audit trail (empty when
/// nothing differs). The summary is the caseworkers' own writing: recorded as changed, never
/// quoted.
pub fn apply(row: &CaseRow, fields: &CaseFields) -> (CaseRow, Vec<Value>) {
    let mut next = row.clone();
    let mut changes = Vec::new();
    if let Some(title) = fields.title.as_ref().filter(|t| **t != row.title) {
        changes.push(json!({"field": "title", "old": row.title, "new": title}));
        next.title = title.clone();
    }
    if let Some(summary) = fields.summary.as_ref().filter(|s| **s != row.summary) {
        changes.push(json!({"field": "summary"}));
        next.summary = summary.clone();
    }
    if let Some(status) = fields.status.filter(|s| *s != row.status) {
        changes.push(json!({"field": "status", "old": row.status, "new": status}));
        next.status = status;
    }
    if let Some(priority) = fields.priority.filter(|p| *p != row.priority) {
        changes.push(json!({"field": "priority", "old": row.priority, "new": priority}));
        next.priority = priority;
    }
    if let Some(assignee) = fields.assignee_id.filter(|a| *a != row.assignee_id) {
        changes.push(json!({"field": "assignee_id", "old": row.assignee_id, "new": assignee}));
        next.assignee_id = assignee;
    }
    (next, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> CaseRow {
        let now = crate::db::now();
        CaseRow {
            id: Id::new(),
            reference: reference(),
            title: "Rotterdam".into(),
            summary: None,
            status: CaseStatus::Open,
            priority: Priority::Normal,
            assignee_id: None,
            created_by: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn references_and_titles() {
        let r = reference();
        assert!(r.starts_with("CASE-") && r.len() == 11, "{r}");
        assert_eq!(title("  Rotterdam station ").as_deref(), Ok("Rotterdam station"));
        assert!(title(" ").is_err());
        assert!(title("a\nb").is_err());
        assert_eq!(summary("  "), Ok(None));
        assert!(link_note(&"x".repeat(LINK_NOTE_MAX + 1)).is_err());
    }

    #[test]
    fn only_what_differs_is_a_change_and_the_summary_is_never_quoted() {
        let row = case();
        let same = CaseFields { title: Some("Rotterdam".into()), status: Some(CaseStatus::Open), ..Default::default() };
        assert!(apply(&row, &same).1.is_empty());
        let edit = CaseFields {
            title: Some("Rotterdam, Zuid".into()),
            summary: Some(Some("what the reports say".into())),
            status: Some(CaseStatus::Monitoring),
            ..Default::default()
        };
        let (next, changes) = apply(&row, &edit);
        assert_eq!((next.title.as_str(), next.status), ("Rotterdam, Zuid", CaseStatus::Monitoring));
        assert_eq!(
            changes,
            vec![
                json!({"field": "title", "old": "Rotterdam", "new": "Rotterdam, Zuid"}),
                json!({"field": "summary"}),
                json!({"field": "status", "old": "open", "new": "monitoring"})
            ]
        );
    }
}
