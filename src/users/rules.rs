//! Rules for account fields (SPEC §3), plain functions tested without a database.

use super::Role;

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
    Ok(name.to_string())
}

pub fn role(text: &str) -> Result<Role, &'static str> {
    Role::parse(text).ok_or("must be one of reporter, caseworker, admin")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
