//! Request body parsing and validation: any bytes as a report submission, a station and a
//! message body. None may panic; every rejection must be a validation error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tipline::error::AppError;
use tipline::http::body::Form;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    if let Ok(mut form) = Form::new(value.clone()) {
        let submission = tipline::reports::handlers::submission(&mut form, today);
        match form.finish() {
            Ok(()) => assert!(submission.is_some(), "a valid form yields a submission"),
            Err(AppError::Validation(errors)) => assert!(!errors.is_empty()),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    if let Ok(mut form) = Form::new(value) {
        let _ = tipline::stations::input::read(&mut form, true);
        let _ = form.finish();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tipline::reports::rules::message_body(text);
        let _ = tipline::codes::normalize(text, 20);
    }
});
