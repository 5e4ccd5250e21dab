//! Closed vocabularies (roles, statuses, priorities, tactics …): enums parsed once at the edge,
//! serialised as their text in JSON and stored as text on both backends.

/// Declares an enum whose variants each stand for one word of the API:
///
/// ```ignore
/// text_enum! { pub enum Priority { Low = "low", Normal = "normal" } }
/// ```
///
/// It gets `ALL`, `as_str`, `parse`, `expected` (the words for an error message), `Display`,
/// serde as that word, and diesel mappings to `Text` on PostgreSQL and SQLite. Reading a word
/// from the database that is not one of the variants is an error, never a default.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// "must be a, b or c": the message for a value that is none of them.
            pub fn expected() -> String {
                $crate::terms::must_be(&[$($text),+])
            }

            /// Parses a value given for `field`, or says what was expected.
            pub fn read(text: &str) -> Result<Self, String> {
                Self::parse(text).ok_or_else(Self::expected)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&text).ok_or_else(|| serde::de::Error::unknown_variant(&text, &[$($text),+]))
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                out.set_value(self.as_str());
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(value)?;
                Self::parse(&text).ok_or_else(|| format!("unknown {} stored", stringify!($name)).into())
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $name {
            fn from_sql(value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> diesel::deserialize::Result<Self> {
                let text =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::sqlite::Sqlite>>::from_sql(value)?;
                Self::parse(&text).ok_or_else(|| format!("unknown {} stored", stringify!($name)).into())
            }
        }
    };
}

/// "must be a, b or c".
pub fn must_be(words: &[&str]) -> String {
    match words {
        [] => "must be empty".to_string(),
        [one] => format!("must be {one}"),
        [init @ .., last] => format!("must be {} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    text_enum! {
        enum Sample { One = "one", Two = "two", Three = "three" }
    }

    #[test]
    fn words_round_trip() {
        assert_eq!(Sample::read("two"), Ok(Sample::Two));
        for value in Sample::ALL {
            assert_eq!(Sample::parse(value.as_str()), Some(*value));
            let json = serde_json::to_string(value).unwrap();
            assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), *value);
        }
        assert_eq!(Sample::parse("ONE"), None);
        assert!(serde_json::from_str::<Sample>("\"four\"").is_err());
        assert_eq!(Sample::expected(), "must be one, two or three");
        assert_eq!(must_be(&["a", "b"]), "must be a or b");
    }
}
