//! One anonymous report submission as the service stores it, for the intake baselines
//! (`examples/bench_sql.rs`, `examples/sqlite_intake_baseline.rs`): the rows come from the
//! service's own validation and sealing of a request body, so they hold the same data.

use tipline::crypto::envelope::Keyring;
use tipline::http::body::Form;
use tipline::reports::handlers::{seal, submission, Submitter};
use tipline::reports::{KeyRow, ReportRow, Tactic};

pub struct Submission {
    pub row: ReportRow,
    pub key: KeyRow,
    pub tactics: Vec<Tactic>,
}

impl Submission {
    /// What the service would store for `POST /api/v1/reports` with the body in `body_file` and
    /// no token, sealed under a master key of its own.
    pub fn anonymous(body_file: &str) -> Result<Submission, String> {
        let text = std::fs::read_to_string(body_file).map_err(|e| format!("cannot read {body_file}: {e}"))?;
        let body = serde_json::from_str(&text).map_err(|e| format!("{body_file}: {e}"))?;
        let mut form = Form::new(body).map_err(|e| format!("{body_file}: {e}"))?;
        let submission = submission(&mut form, chrono::Utc::now().date_naive());
        let submission =
            form.finish_with(submission).map_err(|e| format!("{body_file} is not a valid submission: {e:?}"))?;
        let keyring = Keyring::new(&tipline::crypto::random_bytes::<32>());
        let (row, key) = seal(&keyring, &submission, &Submitter::anonymous(), Some(receipt_hash()));
        Ok(Submission { row, key, tactics: submission.tactics })
    }
}

/// What the service stores of a receipt: a 64-character hex digest.
pub fn receipt_hash() -> String {
    tipline::crypto::sha256_hex(&tipline::crypto::random_bytes::<16>())
}
