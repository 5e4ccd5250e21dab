//! Field rules shared by every feature: free text, country codes, language tags. Plain
//! functions over values, tested without a database.

/// Longest city name, for reports and stations alike.
pub const CITY_MAX: usize = 120;

/// Longest accepted BCP 47 language tag.
pub const LANGUAGE_MAX: usize = 35;

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

/// Characters that make text shown to staff read differently from what it holds: bidirectional
/// overrides, embeddings, isolates and marks (which can reorder a name so it impersonates
/// another, or hide part of it), and zero-width characters (which make two different names look
/// the same).
fn deceptive(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
        || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// A name or title shown to staff (display names, case titles, station names, tags), SPEC
/// §12.3: NFC-normalised, so one name has one form whatever keyboard typed it, and without
/// bidirectional-control or zero-width characters.
pub fn shown_text(value: &str) -> Result<String, &'static str> {
    if value.chars().any(deceptive) {
        return Err("must not contain bidirectional-control or zero-width characters");
    }
    Ok(icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_text_is_nfc_without_deceptive_characters() {
        // "é" typed as e + combining acute becomes the single code point.
        assert_eq!(shown_text("Cafe\u{301}").as_deref(), Ok("Caf\u{e9}"));
        assert_eq!(shown_text("ئۇيغۇر 福州").as_deref(), Ok("ئۇيغۇر 福州"));
        for bad in ["admin\u{202E}txt", "a\u{200B}b", "\u{2066}x\u{2069}", "x\u{FEFF}"] {
            assert!(shown_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn free_text() {
        assert!(text("福州 ئۇيغۇر བོད", 20, false).is_ok());
        assert!(text("a\nb", 10, false).is_err());
        assert!(text("a\nb", 10, true).is_ok());
        assert!(text("a\u{1b}b", 10, true).is_err());
        assert!(text(&"x".repeat(11), 10, true).is_err());
        assert!(required_text("  ", 10).is_err());
    }

    #[test]
    fn countries_and_languages() {
        assert_eq!(country("nl"), Ok("NL".to_string()));
        assert!(country("XX").is_err());
        assert!(country("NLD").is_err());
        assert_eq!(language("zh-Hans"), Ok("zh-Hans".to_string()));
        assert!(language("not a tag").is_err());
    }
}
