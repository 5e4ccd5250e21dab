//! Token parsing: any `Authorization` header value must be refused or accepted, never panic,
//! and nothing but a token this key signed may validate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tipline::auth::token::{bearer, Tokens, TYP_ACCESS};
use tipline::config::Secret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let tokens = Tokens::new(&Secret::new(b"fuzzing-secret-fuzzing-secret-0123".to_vec()));
    let token = bearer(text).unwrap_or(text);
    assert!(tokens.validate(token, TYP_ACCESS).is_none(), "a forged token validated");
    let _ = tokens.decode(token);
});
