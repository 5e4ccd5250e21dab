//! SPEC §16: the reporter's website, served by the same binary. Server-rendered pages that work
//! without JavaScript and without cookies, in the reporter's language, over the API's own intake,
//! receipt and message use cases (no second set of rules).

pub mod handlers;
pub mod i18n;
pub mod rules;

/// A language the pages speak; its code is the first path segment and `<html lang>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    ZhHans,
    ZhHant,
    Ug,
    Bo,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::ZhHans, Lang::ZhHant, Lang::Ug, Lang::Bo];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhHans => "zh-Hans",
            Lang::ZhHant => "zh-Hant",
            Lang::Ug => "ug",
            Lang::Bo => "bo",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// Uyghur is written right to left in its Arabic-derived script.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ug => "rtl",
            _ => "ltr",
        }
    }
}
