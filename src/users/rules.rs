//! Rules for account fields (SPEC §3), plain functions tested without a database.

use serde_json::{json, Map, Value};

use super::{Role, UserRow};

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 254;

/// Lower-cases and trims; emails are unique in this form.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces or
/// control characters. Deliverability is not our concern.
pub fn email(raw: &str) -> Result<String, &'static str> {
    let email = normalize_email(raw);
    if email.is_empty() || email.chars().count() > EMAIL_MAX_CHARS {
        return Err("must be an email address of at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address");
    };
    let valid = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err("must be an email address")
    }
}

/// 12..=128 characters, no composition rules, not the email itself.
pub fn password(password: &str, email: Option<&str>) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err("must be at least 12 characters long");
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err("must be at most 128 characters long");
    }
    if email.is_some_and(|email| normalize_email(password) == normalize_email(email)) {
        return Err("must not be your email address");
    }
    Ok(())
}

/// 1..=100 characters after trimming, no control characters.
pub fn display_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > DISPLAY_NAME_MAX_CHARS {
        return Err("must be at most 100 characters long");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    crate::fields::shown_text(name)
}

pub fn role(text: &str) -> Result<Role, &'static str> {
    Role::parse(text).ok_or("must be one of reporter, caseworker, admin")
}

/// The role of an account an admin creates: staff only. Reporters register themselves and are
/// known by no email (SPEC §14.1).
pub fn staff_role(text: &str) -> Result<Role, &'static str> {
    match Role::parse(text) {
        Some(Role::Reporter) => Err("must be caseworker or admin: reporters register themselves"),
        Some(role) => Ok(role),
        None => Err("must be one of caseworker, admin"),
    }
}

/// What an admin's PATCH asks to change.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub display_name: Option<String>,
}

/// What a change does to an account.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub user: UserRow,
    /// Field by field, old and new: the audit details. Empty when nothing differs.
    pub diff: Map<String, Value>,
    /// A role change or deactivation ends the user's sessions: they sign in again with what
    /// they may now do, or not at all.
    pub end_sessions: bool,
    /// Whether an admin is demoted or deactivated, so the last-admin rule must be checked.
    pub loses_admin: bool,
}

/// A role change may not cross between reporter and staff: a reporter account has no email to
/// sign in with as staff, and a staff account's email must not become a reporter's.
pub fn check_role_change(from: Role, to: Role) -> Result<(), &'static str> {
    if (from == Role::Reporter) != (to == Role::Reporter) {
        return Err("cannot turn a reporter account into a staff account, or the other way round");
    }
    Ok(())
}

pub fn apply(user: &UserRow, changes: &UserChanges) -> Outcome {
    let mut next = user.clone();
    let mut diff = Map::new();
    if let Some(role) = changes.role.filter(|r| *r != user.role) {
        diff.insert("role".into(), json!({"old": user.role, "new": role}));
        next.role = role;
    }
    if let Some(active) = changes.active.filter(|a| *a != user.active) {
        diff.insert("active".into(), json!({"old": user.active, "new": active}));
        next.active = active;
    }
    if let Some(name) = changes.display_name.as_ref().filter(|n| **n != user.display_name) {
        diff.insert("display_name".into(), json!({"old": user.display_name, "new": name}));
        next.display_name = name.clone();
    }
    let end_sessions = diff.contains_key("role") || (diff.contains_key("active") && !next.active);
    let loses_admin = user.role == Role::Admin && (next.role != Role::Admin || diff.contains_key("active"));
    Outcome { user: next, diff, end_sessions, loses_admin }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> UserRow {
        UserRow::new("a@example.org".into(), "A".into(), Role::Admin, "hash".into())
    }

    #[test]
    fn changes_sessions_and_the_last_admin_rule() {
        let same = apply(&admin(), &UserChanges { role: Some(Role::Admin), ..Default::default() });
        assert!(same.diff.is_empty() && !same.end_sessions && !same.loses_admin);
        let demoted = apply(&admin(), &UserChanges { role: Some(Role::Caseworker), ..Default::default() });
        assert_eq!(demoted.diff["role"], json!({"old": "admin", "new": "caseworker"}));
        assert!(demoted.end_sessions && demoted.loses_admin);
        let renamed = apply(&admin(), &UserChanges { display_name: Some("B".into()), ..Default::default() });
        assert!(!renamed.end_sessions && !renamed.loses_admin);
        let off = apply(&admin(), &UserChanges { active: Some(false), ..Default::default() });
        assert!(off.end_sessions && off.loses_admin && !off.user.active);
    }

    #[test]
    fn emails() {
        assert_eq!(email("  Ana@Example.ORG ").as_deref(), Ok("ana@example.org"));
        for bad in ["", "ana", "ana@", "@example.org", "ana@example", "a b@example.org", "a@b@c.org", "ana@.org"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(email(&format!("{}@example.org", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords() {
        assert!(password("short", None).is_err());
        assert!(password("twelve chars", None).is_ok());
        assert!(password("密码密码密码密码密码密码", None).is_ok(), "counts characters, not bytes");
        assert!(password(&"x".repeat(129), None).is_err());
        assert_eq!(password("Ana@Example.org", Some("ana@example.org")), Err("must not be your email address"));
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name(" Ana ").as_deref(), Ok("Ana"));
        assert!(display_name("  ").is_err());
        assert!(display_name("a\u{0}b").is_err());
        assert!(display_name(&"x".repeat(101)).is_err());
        assert_eq!(display_name("阿娜").as_deref(), Ok("阿娜"));
    }

    #[test]
    fn roles() {
        assert_eq!(role("caseworker"), Ok(Role::Caseworker));
        assert!(role("root").is_err());
        assert!(staff_role("reporter").is_err());
        assert_eq!(staff_role("admin"), Ok(Role::Admin));
        assert!(check_role_change(Role::Reporter, Role::Caseworker).is_err());
        assert!(check_role_change(Role::Admin, Role::Reporter).is_err());
        assert!(check_role_change(Role::Caseworker, Role::Admin).is_ok());
    }
}
