//! What every handler shares.

use crate::auth::password::Passwords;
use crate::auth::token::Tokens;
use crate::config::Config;
use crate::crypto::envelope::Keyring;
use crate::db::Pool;

/// Evidence files cleaned at the same time (each held whole in memory while it is cleaned).
const CLEANING_AT_ONCE: usize = 2;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub passwords: Passwords,
    pub tokens: Tokens,
    /// Keys the login-throttle hash of an email.
    pub throttle_key: [u8; 32],
    pub allow_registration: bool,
    /// Whether staff must sign in with a second factor (SPEC §12.1).
    pub require_staff_2fa: bool,
    /// Keys the stored hash of a recovery code.
    pub recovery_key: [u8; 32],
    /// Whether responses carry `Strict-Transport-Security`.
    pub hsts: bool,
    /// Wraps and unwraps each report's data key.
    pub keyring: Keyring,
    /// Keys the stored HMAC of a receipt.
    pub receipt_key: [u8; 32],
    /// Keys the stored hash of a reporter's login name.
    pub login_key: [u8; 32],
    /// Keys a report's owner tag (SPEC §14.2).
    pub owner_key: [u8; 32],
    /// Signs the audit tree's checkpoints (SPEC §15).
    pub audit_signer: std::sync::Arc<crate::audit::checkpoint::NoteSigner>,
    /// The token buckets' rates (SPEC §12.3).
    pub rates: crate::limits::Rates,
    /// Signs the form tokens of the reporter's pages (SPEC §16).
    pub form_key: [u8; 32],
    /// Named on the reporter's pages.
    pub organisation: crate::config::Organisation,
    /// Where sealed evidence files live (SPEC §11).
    pub blobs: std::sync::Arc<crate::blobs::BlobStore>,
    pub attachment_limits: crate::attachments::Limits,
    /// Files being cleaned at once: the cleaner holds a whole file in memory.
    pub cleaning: std::sync::Arc<tokio::sync::Semaphore>,
    /// Days kept per status before shredding (SPEC §13), for the queue's `expiring_within`.
    pub retention: crate::retention::Policy,
    /// Writes submissions, many to a transaction (SPEC §15).
    pub group_commit: crate::reports::group_commit::GroupCommit,
}

impl AppState {
    pub fn new(config: &Config, pool: Pool) -> Self {
        let group_commit = crate::reports::group_commit::GroupCommit::for_backend(
            pool.clone(),
            config.rates.submit,
            config.database_url.backend,
        );
        AppState {
            group_commit,
            pool,
            passwords: Passwords::configured(config),
            tokens: Tokens::new(&config.jwt_secret),
            throttle_key: throttle_key(config),
            allow_registration: config.allow_registration,
            hsts: config.hsts,
            require_staff_2fa: config.require_staff_2fa,
            recovery_key: crate::crypto::derive_key(config.index_key.expose(), "recovery-code"),
            keyring: config.keyring.clone(),
            receipt_key: crate::crypto::derive_key(config.index_key.expose(), "receipt"),
            login_key: login_key(config),
            owner_key: owner_key(config),
            audit_signer: config.audit_signer.clone(),
            rates: config.rates,
            form_key: crate::crypto::derive_key(config.index_key.expose(), "page-form"),
            organisation: config.organisation.clone(),
            blobs: config.blobs.clone(),
            attachment_limits: config.attachments,
            cleaning: std::sync::Arc::new(tokio::sync::Semaphore::new(CLEANING_AT_ONCE)),
            retention: config.retention,
        }
    }
}

/// The key of reporters' login hashes, derived from the index key.
pub fn login_key(config: &Config) -> [u8; 32] {
    crate::crypto::derive_key(config.index_key.expose(), "login-name")
}

/// The key of reports' owner tags, derived from the index key.
pub fn owner_key(config: &Config) -> [u8; 32] {
    crate::crypto::derive_key(config.index_key.expose(), "report-owner")
}

/// The key of the login throttle's keys, derived from the index key.
pub fn throttle_key(config: &Config) -> [u8; 32] {
    crate::crypto::derive_key(config.index_key.expose(), "login-throttle")
}
