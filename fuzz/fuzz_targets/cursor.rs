//! Cursor decoding: any string a client sends as `cursor` must decode or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tipline::db::Id;
use tipline::http::cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = cursor::decode::<tipline::triage::queue::Position>(text);
    let _ = cursor::decode::<(chrono::NaiveDateTime, Id)>(text);
    let _ = cursor::decode::<(String, Id)>(text);
    let _ = cursor::decode::<i64>(text);
    let _ = cursor::limit(Some(text));
    let _ = tipline::http::path_id(text);
});
