//! Triage rules (SPEC §5): the status machine, priorities and tags. Plain functions, tested
//! without a database.

pub const STATUSES: [&str; 4] = ["new", "triaged", "investigating", "closed"];
pub const RESOLUTIONS: [&str; 5] = ["substantiated", "unsubstantiated", "duplicate", "referred", "withdrawn"];
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
pub const TAG_MAX_CHARS: usize = 40;
pub const TAGS_MAX: usize = 20;
pub const REASON_MAX: usize = 2_000;

/// Where a report may go from `from`.
pub fn allowed_next(from: &str) -> &'static [&'static str] {
    match from {
        "new" => &["triaged", "closed"],
        "triaged" => &["investigating", "closed"],
        "investigating" => &["closed"],
        "closed" => &["investigating"],
        _ => &[],
    }
}

/// The order of a priority in the queue (low 0 … urgent 3).
pub fn priority_rank(priority: &str) -> Option<i32> {
    PRIORITIES.iter().position(|p| *p == priority).map(|i| i as i32)
}

/// What a status change brings along.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatusChange<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub resolution: Option<&'a str>,
    pub has_duplicate_of: bool,
    pub reason: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// 409: the move is not in the machine; here is where the report may go.
    NotAllowed { from: String, allowed: &'static [&'static str] },
    /// 422: the move is allowed but lacks (or has a stray) field.
    Invalid { field: &'static str, message: &'static str },
}

/// Checks one status change against the machine and its required fields.
pub fn check_transition(change: &StatusChange<'_>) -> Result<(), TransitionError> {
    let StatusChange { from, to, resolution, has_duplicate_of, reason } = change;
    if from != to && !allowed_next(from).contains(to) {
        return Err(TransitionError::NotAllowed { from: from.to_string(), allowed: allowed_next(from) });
    }
    let invalid = |field, message| Err(TransitionError::Invalid { field, message });
    if *to == "closed" && from != to {
        match resolution {
            None => return invalid("resolution", "is required to close a report"),
            Some("duplicate") if !has_duplicate_of => {
                return invalid("duplicate_of", "is required when the resolution is duplicate");
            }
            Some(r) if *r != "duplicate" && *has_duplicate_of => {
                return invalid("duplicate_of", "is only for the resolution duplicate");
            }
            _ => {}
        }
    } else if resolution.is_some() {
        return invalid("resolution", "is only given when closing a report");
    } else if *has_duplicate_of {
        return invalid("duplicate_of", "is only given when closing a report as a duplicate");
    }
    let reopening = *from == "closed" && *to != "closed";
    if reopening && reason.is_none_or(|r| r.trim().is_empty()) {
        return invalid("reason", "is required to reopen a closed report");
    }
    if !reopening && reason.is_some() {
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
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change<'a>(from: &'a str, to: &'a str) -> StatusChange<'a> {
        StatusChange { from, to, ..Default::default() }
    }

    #[test]
    fn the_machine_of_the_specification() {
        let allowed = [
            ("new", "triaged"),
            ("triaged", "investigating"),
            ("investigating", "closed"),
            ("new", "closed"),
            ("triaged", "closed"),
            ("closed", "investigating"),
        ];
        for from in STATUSES {
            for to in STATUSES {
                let expected = from == to || allowed.contains(&(from, to));
                let mut c = change(from, to);
                if to == "closed" && from != to {
                    c.resolution = Some("referred");
                }
                if from == "closed" && to != "closed" {
                    c.reason = Some("new evidence");
                }
                assert_eq!(check_transition(&c).is_ok(), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_forbidden_move_lists_the_allowed_ones() {
        assert_eq!(
            check_transition(&change("triaged", "new")),
            Err(TransitionError::NotAllowed { from: "triaged".into(), allowed: &["investigating", "closed"] })
        );
    }

    #[test]
    fn closing_needs_a_resolution_and_duplicates_their_original() {
        let field = |c: &StatusChange| match check_transition(c) {
            Err(TransitionError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&change("new", "closed")), "resolution");
        let mut dup = change("new", "closed");
        dup.resolution = Some("duplicate");
        assert_eq!(field(&dup), "duplicate_of");
        dup.has_duplicate_of = true;
        assert!(check_transition(&dup).is_ok());
        let mut stray = change("new", "triaged");
        stray.resolution = Some("referred");
        assert_eq!(field(&stray), "resolution");
    }

    #[test]
    fn reopening_needs_a_reason() {
        let mut c = change("closed", "investigating");
        assert!(matches!(check_transition(&c), Err(TransitionError::Invalid { field: "reason", .. })));
        c.reason = Some("   ");
        assert!(check_transition(&c).is_err());
        c.reason = Some("the reporter wrote again");
        assert!(check_transition(&c).is_ok());
    }

    #[test]
    fn ranks_and_tags() {
        assert_eq!(priority_rank("urgent"), Some(3));
        assert_eq!(priority_rank("low"), Some(0));
        assert_eq!(priority_rank("whenever"), None);
        assert_eq!(tag(" Fuzhou-PSB ").as_deref(), Ok("fuzhou-psb"));
        assert_eq!(tag("福州").as_deref(), Ok("福州"));
        assert!(tag("").is_err());
        assert!(tag("a;b").is_err());
        assert!(tag(&"x".repeat(41)).is_err());
    }
}
