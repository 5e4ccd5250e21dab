//! The pages' words, from one Fluent file per language (`src/pages/locales/{lang}.ftl`),
//! compiled into the binary. A message missing from a language falls back to English at run
//! time, but the unit tests below refuse a language file that lacks any message of `en.ftl`.

use std::collections::HashMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::FluentResource;

use super::Lang;

fn source(lang: Lang) -> &'static str {
    match lang {
        Lang::En => include_str!("locales/en.ftl"),
        Lang::ZhHans => include_str!("locales/zh-Hans.ftl"),
        Lang::ZhHant => include_str!("locales/zh-Hant.ftl"),
        Lang::Ug => include_str!("locales/ug.ftl"),
        Lang::Bo => include_str!("locales/bo.ftl"),
    }
}

type Bundles = HashMap<Lang, FluentBundle<FluentResource>>;

fn bundles() -> &'static Bundles {
    static BUNDLES: OnceLock<Bundles> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        Lang::ALL
            .into_iter()
            .map(|lang| {
                let id = lang.code().parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // The pages set `dir` on their own elements; no invisible isolation marks.
                bundle.set_use_isolating(false);
                // A file with a syntax error still loads what it can; the unit test below
                // refuses such a file before it ships.
                let resource = FluentResource::try_new(source(lang).to_string()).unwrap_or_else(|(partial, _)| partial);
                let _ = bundle.add_resource(resource);
                (lang, bundle)
            })
            .collect()
    })
}

fn lookup(lang: Lang, id: &str) -> Option<String> {
    let bundle = bundles().get(&lang)?;
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    Some(bundle.format_pattern(pattern, None, &mut errors).into_owned())
}

/// The message `id` in `lang`, else in English, else the id itself (a visible gap, never a crash).
pub fn text(lang: Lang, id: &str) -> String {
    lookup(lang, id).or_else(|| lookup(Lang::En, id)).unwrap_or_else(|| id.to_string())
}

/// Whether `lang` has its own translation of `id`.
pub fn has(lang: Lang, id: &str) -> bool {
    lookup(lang, id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses() {
        for lang in Lang::ALL {
            assert!(FluentResource::try_new(source(lang).to_string()).is_ok(), "{} has a syntax error", lang.code());
        }
    }

    #[test]
    fn every_language_names_itself_and_marks_its_review() {
        for lang in Lang::ALL {
            assert!(has(lang, "language-name"), "{}", lang.code());
            assert!(has(lang, "report-title"), "{}", lang.code());
            if lang != Lang::En {
                assert!(source(lang).contains("# Review: "), "{} does not say whether it is reviewed", lang.code());
            }
        }
    }

    #[test]
    fn every_language_has_every_english_message() {
        // Message ids are the lines of the English source that start a message: `id = text`.
        let ids: Vec<&str> = source(Lang::En)
            .lines()
            .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim()))
            .collect();
        assert!(ids.len() > 100, "only {} message ids found in en.ftl", ids.len());
        for lang in Lang::ALL {
            let missing: Vec<&str> = ids.iter().copied().filter(|id| !has(lang, id)).collect();
            assert!(missing.is_empty(), "{} falls back to English for {:?}", lang.code(), missing);
        }
    }

    #[test]
    fn missing_messages_fall_back_to_english() {
        assert_eq!(text(Lang::Bo, "no-such-message"), "no-such-message");
        assert_eq!(text(Lang::Ug, "language-name"), "ئۇيغۇرچە");
    }
}
