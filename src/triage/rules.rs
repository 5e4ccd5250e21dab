//! Triage rules (SPEC §5): the status machine, tags, and what a triage request changes. Plain
//! functions over typed values, tested without a database.

use serde_json::{json, Value};

use crate::db::Id;
use crate::reports::{Priority, Resolution, Status};

pub const TAG_MAX_CHARS: usize = 40;
pub const TAGS_MAX: usize = 20;
pub const REASON_MAX: usize = 2_000;

/// Where a report may go from `from`.
pub fn allowed_next(from: Status) -> &'static [Status] {
    match from {
        Status::New => &[Status::Triaged, Status::Closed],
        Status::Triaged => &[Status::Investigating, Status::Closed],
        Status::Investigating => &[Status::Closed],
        Status::Closed => &[Status::Investigating],
        // Only its reporter withdraws a report (SPEC §13), and for good.
        Status::Withdrawn => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriageError {
    /// 409: the move is not in the machine; here is where the report may go.
    NotAllowed { from: Status, allowed: &'static [Status] },
    /// 422: the move is allowed but lacks (or has a stray) field.
    Invalid { field: &'static str, message: &'static str },
}

impl From<TriageError> for crate::error::AppError {
    fn from(err: TriageError) -> Self {
        match err {
            TriageError::NotAllowed { from, allowed } => crate::error::AppError::Transition {
                from: from.as_str(),
                allowed: allowed.iter().map(|s| s.as_str()).collect(),
            },
            TriageError::Invalid { field, message } => crate::error::AppError::invalid(field, message),
        }
    }
}

/// A triage request, parsed: only the fields sent are `Some`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Triage {
    pub status: Option<Status>,
    pub resolution: Option<Resolution>,
    pub duplicate_of: Option<Id>,
    pub reason: Option<String>,
    pub priority: Option<Priority>,
    /// `Some(None)` unassigns.
    pub assignee_id: Option<Option<Id>>,
    /// Normalised, without duplicates, sorted.
    pub tags: Option<Vec<String>>,
}

impl Triage {
    pub fn is_empty(&self) -> bool {
        *self == Triage::default()
    }

    /// Admins may only (un)assign (SPEC §2.1).
    pub fn only_assignee(&self) -> bool {
        self.assignee_id.is_some() && Triage { assignee_id: None, ..self.clone() }.is_empty()
    }
}

/// The triage fields of a report as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageState {
    pub status: Status,
    pub resolution: Option<Resolution>,
    pub duplicate_of: Option<Id>,
    pub priority: Priority,
    pub assignee_id: Option<Id>,
    pub tags: Vec<String>,
}

/// What a request does to a report: the new state, the reason to keep when it reopens, and the
/// changes for the audit trail (empty when nothing changes).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: TriageState,
    pub reopened_because: Option<String>,
    pub changes: Vec<Value>,
}

/// Applies a request to a report's triage state: the status machine and its required fields,
/// then every field that differs. Checks that need the database (the duplicate exists, the
/// assignee is an active caseworker) are the caller's.
pub fn apply(current: &TriageState, request: &Triage) -> Result<Outcome, TriageError> {
    let from = current.status;
    let to = request.status.unwrap_or(from);
    check_transition(from, to, request)?;
    let mut next = current.clone();
    let mut changes = Vec::new();
    let mut change = |field: &str, old: Value, new: Value| {
        if old != new {
            changes.push(json!({"field": field, "old": old, "new": new}));
        }
    };
    let mut reopened_because = None;
    if to != from {
        let reopening = from == Status::Closed;
        let (resolution, duplicate_of) =
            if reopening { (None, None) } else { (request.resolution, request.duplicate_of) };
        change("status", json!(from), json!(to));
        change("resolution", json!(current.resolution), json!(resolution));
        change("duplicate_of", json!(current.duplicate_of), json!(duplicate_of));
        next.status = to;
        next.resolution = resolution;
        next.duplicate_of = duplicate_of;
        if reopening {
            reopened_because = request.reason.clone();
        }
    }
    if let Some(priority) = request.priority {
        change("priority", json!(current.priority), json!(priority));
        next.priority = priority;
    }
    if let Some(assignee) = request.assignee_id {
        change("assignee_id", json!(current.assignee_id), json!(assignee));
        next.assignee_id = assignee;
    }
    if let Some(tags) = &request.tags {
        change("tags", json!(current.tags), json!(tags));
        next.tags = tags.clone();
    }
    Ok(Outcome { state: next, reopened_because, changes })
}

/// Checks one status change against the machine and its required fields.
pub fn check_transition(from: Status, to: Status, request: &Triage) -> Result<(), TriageError> {
    if from != to && !allowed_next(from).contains(&to) {
        return Err(TriageError::NotAllowed { from, allowed: allowed_next(from) });
    }
    let invalid = |field, message| Err(TriageError::Invalid { field, message });
    let has_duplicate_of = request.duplicate_of.is_some();
    if to == Status::Closed && from != to {
        match request.resolution {
            None => return invalid("resolution", "is required to close a report"),
            Some(Resolution::Duplicate) if !has_duplicate_of => {
                return invalid("duplicate_of", "is required when the resolution is duplicate");
            }
            Some(r) if r != Resolution::Duplicate && has_duplicate_of => {
                return invalid("duplicate_of", "is only for the resolution duplicate");
            }
            _ => {}
        }
    } else if request.resolution.is_some() {
        return invalid("resolution", "is only given when closing a report");
    } else if has_duplicate_of {
        return invalid("duplicate_of", "is only given when closing a report as a duplicate");
    }
    let reopening = from == Status::Closed && to != Status::Closed;
    if reopening && request.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return invalid("reason", "is required to reopen a closed report");
    }
    if !reopening && request.reason.is_some() {
        return invalid("reason", "is only given when reopening a closed report");
    }
    Ok(())
}

/// A tag: 1..=40 characters of lower-case letters (any script), digits, `-`, `_` or spaces.
pub fn tag(raw: &str) -> Result<String, &'static str> {
    let tag = raw.trim().to_lowercase();
    if tag.is_empty() || tag.chars().count() > TAG_MAX_CHARS {
        return Err("must be 1 to 40 characters long");
    }
    if !tag.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ')) {
        return Err("may hold letters, digits, spaces, - and _ only");
    }
    crate::fields::shown_text(&tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Status) -> TriageState {
        TriageState {
            status,
            resolution: None,
            duplicate_of: None,
            priority: Priority::Normal,
            assignee_id: None,
            tags: Vec::new(),
        }
    }

    fn to(status: Status) -> Triage {
        Triage { status: Some(status), ..Default::default() }
    }

    #[test]
    fn the_machine_of_the_specification() {
        use Status::*;
        let allowed = [
            (New, Triaged),
            (Triaged, Investigating),
            (Investigating, Closed),
            (New, Closed),
            (Triaged, Closed),
            (Closed, Investigating),
        ];
        for &from in Status::ALL {
            for &next in Status::ALL {
                let expected = from == next || allowed.contains(&(from, next));
                let mut request = to(next);
                if next == Closed && from != next {
                    request.resolution = Some(Resolution::Referred);
                }
                if from == Closed && next != Closed {
                    request.reason = Some("new evidence".into());
                }
                assert_eq!(check_transition(from, next, &request).is_ok(), expected, "{from} -> {next}");
            }
        }
    }

    #[test]
    fn a_forbidden_move_lists_the_allowed_ones() {
        assert_eq!(
            apply(&state(Status::Triaged), &to(Status::New)),
            Err(TriageError::NotAllowed { from: Status::Triaged, allowed: &[Status::Investigating, Status::Closed] })
        );
    }

    #[test]
    fn closing_needs_a_resolution_and_duplicates_their_original() {
        let field = |request: &Triage| match apply(&state(Status::New), request) {
            Err(TriageError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&to(Status::Closed)), "resolution");
        let mut dup = to(Status::Closed);
        dup.resolution = Some(Resolution::Duplicate);
        assert_eq!(field(&dup), "duplicate_of");
        dup.duplicate_of = Some(Id::new());
        let outcome = apply(&state(Status::New), &dup).unwrap();
        assert_eq!(outcome.state.resolution, Some(Resolution::Duplicate));
        assert_eq!(outcome.changes.len(), 3, "status, resolution and duplicate_of");
        let mut stray = to(Status::Triaged);
        stray.resolution = Some(Resolution::Referred);
        assert_eq!(field(&stray), "resolution");
    }

    #[test]
    fn reopening_needs_a_reason_and_clears_the_resolution() {
        let mut closed = state(Status::Closed);
        closed.resolution = Some(Resolution::Referred);
        let mut request = to(Status::Investigating);
        assert!(matches!(apply(&closed, &request), Err(TriageError::Invalid { field: "reason", .. })));
        request.reason = Some("   ".into());
        assert!(apply(&closed, &request).is_err());
        request.reason = Some("the reporter wrote again".into());
        let outcome = apply(&closed, &request).unwrap();
        assert_eq!(outcome.state.status, Status::Investigating);
        assert_eq!(outcome.state.resolution, None);
        assert_eq!(outcome.reopened_because.as_deref(), Some("the reporter wrote again"));
        let fields: Vec<&str> = outcome.changes.iter().map(|c| c["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["status", "resolution"]);
    }

    #[test]
    fn only_what_differs_is_a_change() {
        let current = state(Status::New);
        let same = Triage { priority: Some(Priority::Normal), tags: Some(Vec::new()), ..Default::default() };
        assert!(apply(&current, &same).unwrap().changes.is_empty());
        let other = Triage { priority: Some(Priority::Urgent), ..Default::default() };
        let outcome = apply(&current, &other).unwrap();
        assert_eq!(outcome.changes, vec![json!({"field": "priority", "old": "normal", "new": "urgent"})]);
        assert_eq!(outcome.state.priority, Priority::Urgent);
    }

    #[test]
    fn admins_send_the_assignee_only() {
        assert!(Triage { assignee_id: Some(None), ..Default::default() }.only_assignee());
        let both = Triage { assignee_id: Some(None), priority: Some(Priority::Low), ..Default::default() };
        assert!(!both.only_assignee());
        assert!(Triage::default().is_empty());
    }

    #[test]
    fn ranks_and_tags() {
        assert_eq!(Priority::Urgent.rank(), 3);
        assert_eq!(Priority::Low.rank(), 0);
        assert_eq!(Priority::parse("whenever"), None);
        assert_eq!(tag(" Fuzhou-PSB ").as_deref(), Ok("fuzhou-psb"));
        assert_eq!(tag("福州").as_deref(), Ok("福州"));
        assert!(tag("").is_err());
        assert!(tag("a;b").is_err());
        assert!(tag(&"x".repeat(41)).is_err());
    }
}
