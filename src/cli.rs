//! The command line (SPEC §1): `serve` (default), `migrate`, `admin create`, `audit verify`.

use std::io::Read;

use clap::{Parser, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

use crate::audit::checkpoint::{Checkpoint, NoteVerifier};
use crate::audit::{self, Action, Context};
use crate::config::Config;
use crate::db::{self, write_tx};
use crate::error::AppError;
use crate::users::{rules, store, Role, UserRow};
use crate::StartupError;

const ENVIRONMENT_HELP: &str = "\
Configuration (environment variables; a .env file in the working folder is read too):
  DATABASE_URL                sqlite://PATH or postgres://USER@HOST/DB   [default: sqlite://data/tipline.db]
  TIPLINE_BIND                address to listen on                       [default: 127.0.0.1:8080]
  TIPLINE_DATA_DIR            folder for the SQLite file and generated secrets [default: data]
  TIPLINE_JWT_SECRET          token signing secret, >= 32 bytes  [default: generated into DATA_DIR/jwt_secret]
  TIPLINE_KEYRING             the keyring file of master keys for data at rest [default: DATA_DIR/keyring, generated]
  TIPLINE_INDEX_KEY           keys receipts, login names and throttles, >= 32 bytes [default: generated into DATA_DIR/index_key]
  TIPLINE_DATA_KEY            read once, by a deployment from before the keyring: its one master key [default: DATA_DIR/data_key]
  TIPLINE_AUDIT_SIGNING_KEY   seeds the audit checkpoints' Ed25519 key, >= 32 bytes [default: generated into DATA_DIR/audit_signing_key]
  TIPLINE_AUDIT_LOG_NAME      the audit log's name in checkpoints       [default: tipline.invalid/audit]
  TIPLINE_ALLOW_REGISTRATION  reporters may create accounts (true/false) [default: true]
  TIPLINE_REQUIRE_STAFF_2FA   staff sign in with a TOTP second factor (true/false) [default: true]
  TIPLINE_HSTS                send Strict-Transport-Security (true/false; only behind TLS) [default: false]
  TIPLINE_DB_POOL_SIZE        database connections, 1..=256              [default: 16]
  TIPLINE_BLOB_DIR            folder of the sealed evidence files        [default: DATA_DIR/blobs]
  TIPLINE_BLOB_URL            object store for them instead: s3://bucket/prefix (--features s3) or file:///folder [default: none]
  TIPLINE_ATTACHMENT_MAX_BYTES        largest evidence file, in bytes    [default: 26214400 (25 MiB)]
  TIPLINE_ATTACHMENT_MAX_FILES        evidence files per report          [default: 20]
  TIPLINE_ATTACHMENT_MAX_TOTAL_BYTES  evidence bytes per report          [default: 209715200 (200 MiB)]
  TIPLINE_ORG_NAME            organisation named on the reporter pages   [default: none]
  TIPLINE_ORG_CONTACT         how reporters reach it, shown on the pages [default: none]
  TIPLINE_RETAIN_NEW_DAYS     days a report stays new before it is shredded, 0 = keep [default: 0]
  TIPLINE_RETAIN_TRIAGED_DAYS       the same for triaged reports        [default: 0]
  TIPLINE_RETAIN_INVESTIGATING_DAYS the same for reports under investigation [default: 0]
  TIPLINE_RETAIN_CLOSED_DAYS        the same for closed reports         [default: 730]
  TIPLINE_RETAIN_WITHDRAWN_DAYS     the same for withdrawn reports      [default: 30]
  TIPLINE_RETENTION_INTERVAL_SECS   seconds between retention sweeps, 1..=86400 [default: 300]
  RUST_LOG                    log filter, e.g. info or tipline=debug     [default: info]";

#[derive(Parser, Debug)]
#[command(name = "tipline", version, about = "Reporting and case management for people targeted by transnational repression", after_help = ENVIRONMENT_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage the station registry.
    Stations {
        #[command(subcommand)]
        command: StationsCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Retention (shredding what the policy says is due).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// The master keys of the keyring (SPEC §13).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new current master key and re-wrap every data key and second-factor secret under
    /// it, in batches, while the service runs. An interrupted rotation is finished by running it
    /// again (which then makes no new key). Only one runs at a time.
    Rotate {
        /// Rows re-wrapped per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        batch: i64,
        /// Milliseconds to rest between batches, leaving the database to the service.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
        pause_ms: u64,
    },
    /// Remove a master key from the keyring: refused for the current key and, with the count, for
    /// a key that still wraps anything.
    Retire {
        /// The key's id, as `tipline keys status` prints it.
        id: String,
    },
    /// Print each master key with what it wraps; exit 1 when something is wrapped under a key the
    /// keyring lacks.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Shred every report due now under the TIPLINE_RETAIN_*_DAYS policy (as the sweeper of each
    /// running instance does), print how many, and exit.
    Sweep,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an admin. Without --password-stdin a password is generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "Administrator")]
        display_name: String,
    },
    /// Clear the login throttle of a staff account locked by failed logins (reporter accounts,
    /// which have no email, are unlocked by an admin with POST /api/v1/users/{id}/unlock).
    Unlock {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum StationsCommand {
    /// Import stations from a CSV file (e.g. data/stations.csv). Every row is checked first;
    /// a file with a bad row imports nothing. Running the same file again changes nothing.
    Import {
        /// The CSV file: name,city,country,address,operating_bureau,status,visibility,sources,first_reported_on,notes
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain and the Merkle tree: exit 0 when intact, 1 when broken (naming the
    /// first bad seq) or when the trail no longer extends the checkpoint given.
    Verify {
        /// A signed checkpoint saved earlier (from `tipline audit checkpoint` or
        /// GET /api/v1/audit/checkpoint): the trail must still extend it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Print the latest signed checkpoint of the audit tree (C2SP tlog-checkpoint note).
    Checkpoint,
    /// Print the verifier key of the checkpoints (C2SP signed-note verifier key).
    PublicKey,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

impl From<AppError> for CliError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Validation(errors) => CliError::Invalid(
                errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
            ),
            AppError::Conflict(detail) => CliError::Invalid(detail),
            other => CliError::Failed(other.to_string()),
        }
    }
}

pub fn migrate(config: &Config) -> Result<(), CliError> {
    let mut conn = db::connect(&config.database_url).map_err(|e| StartupError::Connect(e.to_string()))?;
    let applied = db::migrate(&mut conn).map_err(|e| StartupError::Migrate(e.to_string()))?;
    println!("{applied} migration(s) applied; the database is up to date");
    Ok(())
}

/// `tipline admin unlock --email E`: clears the throttle of that staff account; audited.
pub fn admin_unlock(config: &Config, email: &str) -> Result<(), CliError> {
    let email = rules::normalize_email(email);
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let login_hash = crate::auth::token::login_hash(&crate::state::login_key(config), &email);
    let key = crate::auth::throttle_key_with(&crate::state::throttle_key(config), &login_hash);
    let cleared = write_tx(&mut conn, |conn| {
        let user = store::find_by_login(conn, std::slice::from_ref(&email))?
            .filter(|u| u.role != Role::Reporter)
            .ok_or_else(|| AppError::Conflict("no staff account has this email".into()))?;
        let cleared = crate::auth::store::clear_throttle(conn, &key)?;
        let entry =
            Context::system().entry(Action::UserUnlock).target("user", user.id).details(json!({"was_locked": cleared}));
        audit::record(conn, entry)?;
        Ok::<_, AppError>(cleared)
    })?;
    println!("{}", if cleared { "unlocked" } else { "was not locked" });
    Ok(())
}

pub fn admin_create(config: &Config, email: &str, password_stdin: bool, display_name: &str) -> Result<(), CliError> {
    let email = rules::email(email).map_err(|m| CliError::Invalid(format!("--email {m}")))?;
    let display_name =
        rules::display_name(display_name).map_err(|m| CliError::Invalid(format!("--display-name {m}")))?;
    let (password, generated) = if password_stdin {
        let mut input = Zeroizing::new(String::new());
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut input)
            .map_err(|e| CliError::Failed(format!("cannot read the password from stdin: {e}")))?;
        let line = input.lines().next().unwrap_or("").to_string();
        (Zeroizing::new(line), false)
    } else {
        (Zeroizing::new(crate::auth::token::new_refresh_token().0[..24].to_string()), true)
    };
    rules::password(&password, Some(&email)).map_err(|m| CliError::Invalid(format!("password {m}")))?;
    let pool = crate::open_database(config)?;
    let hash = crate::auth::password::hash(&password)?;
    let user = UserRow::new(email, display_name, Role::Admin, hash);
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    write_tx(&mut conn, |conn| {
        if store::login_taken(conn, &user.login)? {
            return Err(AppError::Conflict("an account with this email already exists".into()));
        }
        store::insert(conn, &user)?;
        let entry = Context::system()
            .entry(Action::UserCreate)
            .target("user", user.id)
            .details(json!({"role": "admin", "via": "cli"}));
        audit::record(conn, entry)?;
        Ok(())
    })?;
    println!("created admin {} ({})", user.login, user.id);
    if generated {
        println!("password (shown once, store it now): {}", password.as_str());
    }
    Ok(())
}

/// Returns whether the trail is intact (and extends `checkpoint`, when one is given).
pub fn audit_verify(config: &Config, checkpoint: Option<&std::path::Path>) -> Result<bool, CliError> {
    let saved = match checkpoint {
        None => None,
        Some(path) => {
            let note = std::fs::read_to_string(path)
                .map_err(|e| CliError::Invalid(format!("cannot read {}: {e}", path.display())))?;
            let verifier = NoteVerifier::parse(&config.audit_signer.verifier_key())
                .map_err(|e| CliError::Failed(format!("verifier key: {e}")))?;
            let saved = Checkpoint::open(&note, &verifier).map_err(|e| {
                CliError::Invalid(format!("{}: not a checkpoint signed by this log's key: {e}", path.display()))
            })?;
            Some(saved)
        }
    };
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let result =
        audit::store::verify_against(&mut conn, saved.as_ref().map(|c| (c.size, c.root))).map_err(AppError::from)?;
    let extends = result.extends_checkpoint.unwrap_or(true);
    write_tx(&mut conn, |conn| {
        let mut details = json!({
            "ok": result.ok, "entries": result.entries, "first_bad_seq": result.first_bad_seq, "via": "cli"
        });
        if let Some(saved) = &saved {
            details["checkpoint_size"] = json!(saved.size);
            details["extends_checkpoint"] = json!(extends);
        }
        audit::record(conn, Context::system().entry(Action::AuditVerify).details(details))?;
        Ok::<_, AppError>(())
    })?;
    match result.first_bad_seq {
        None => println!(
            "audit trail intact: {} entries, head {}, tree size {}, root {}",
            result.entries,
            result.head_hash.as_deref().unwrap_or("-"),
            result.tree_size,
            result.root_hash
        ),
        Some(seq) => println!("audit trail BROKEN: first bad entry is seq {seq} (of {} entries)", result.entries),
    }
    if let Some(saved) = &saved {
        if extends {
            println!("it extends the checkpoint of size {}", saved.size);
        } else {
            println!(
                "audit trail BROKEN: it does not extend the checkpoint of size {} (truncated or rewritten)",
                saved.size
            );
        }
    }
    Ok(result.ok && extends)
}

/// Prints the latest signed checkpoint, after sequencing what is pending.
pub fn audit_checkpoint(config: &Config) -> Result<(), CliError> {
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let note = audit::signed_checkpoint(&mut conn, &config.audit_signer)?;
    print!("{note}");
    Ok(())
}

/// `tipline retention sweep`: one sweep; each report is shredded in a transaction of its own, so
/// an interrupted sweep leaves every report whole or shredded, and the next one carries on.
pub fn retention_sweep(config: &Config) -> Result<(), CliError> {
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let shredded = crate::retention::sweeper::sweep(&mut conn, &config.blobs, &config.retention, &stop)?;
    println!("{shredded} report(s) shredded");
    Ok(())
}

/// `tipline keys rotate`.
pub fn keys_rotate(config: &Config, batch: i64, pause_ms: u64) -> Result<bool, CliError> {
    use crate::keys::rotation::{self, Options, Uses};
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let options = Options { batch, pause: std::time::Duration::from_millis(pause_ms) };
    let progress = rotation::every(std::time::Duration::from_secs(5), |done: &Uses| {
        println!("re-wrapped so far: {}", done.total());
    });
    let outcome = rotation::rotate(&mut conn, &config.keyring_file, options, progress).map_err(rotation_error)?;
    let done = &outcome.rewrapped;
    println!(
        "{} key {}: re-wrapped {} report keys, {} case and station keys, {} second-factor secrets",
        if outcome.resumed { "finished the rotation to" } else { "rotated to the new" },
        outcome.key,
        done.report_keys,
        done.data_keys,
        done.totp_secrets
    );
    if outcome.unreadable > 0 {
        println!(
            "{} key(s) did not open under the key they name and were left as they are (see the log)",
            outcome.unreadable
        );
    }
    if outcome.left.total() > 0 {
        println!(
            "{} key(s) are still wrapped under earlier keys: an instance may not read {}; run `tipline keys rotate` again",
            outcome.left.total(),
            config.keyring_file.path.display()
        );
        return Ok(false);
    }
    Ok(true)
}

/// `tipline keys retire ID`. A retired key is gone from the keyring; the data key file of a
/// deployment from before the keyring, if it holds that key, goes too.
pub fn keys_retire(config: &Config, id: &str) -> Result<(), CliError> {
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    crate::keys::rotation::retire(&mut conn, &config.keyring_file, id).map_err(rotation_error)?;
    println!("retired key {id}");
    let earlier = config.data_dir.join("data_key");
    if let Ok(text) = std::fs::read_to_string(&earlier) {
        if crate::crypto::envelope::MasterKey::from_secret(text.trim().as_bytes()).id() == id {
            std::fs::remove_file(&earlier)
                .map_err(|e| CliError::Failed(format!("cannot remove {}: {e}", earlier.display())))?;
            println!("removed {}, which held it", earlier.display());
        }
    }
    if std::env::var("TIPLINE_DATA_KEY")
        .is_ok_and(|v| crate::crypto::envelope::MasterKey::from_secret(v.as_bytes()).id() == id)
    {
        println!("TIPLINE_DATA_KEY holds this key: remove it from the environment");
    }
    Ok(())
}

/// `tipline keys status`: returns false when something is wrapped under a key the keyring lacks.
pub fn keys_status(config: &Config) -> Result<bool, CliError> {
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let lines = crate::keys::rotation::status(&mut conn, &config.keyring_file).map_err(rotation_error)?;
    println!("keyring {}", config.keyring_file.path.display());
    let mut whole = true;
    for line in &lines {
        let id = if line.id.is_empty() { "(unnamed)" } else { &line.id };
        let state = match (line.current, line.in_keyring) {
            (true, _) => "current",
            (false, true) => "earlier",
            (false, false) if line.id.is_empty() => "unnamed: re-sealed by the next rotation",
            (false, false) => {
                whole = false;
                "MISSING from the keyring: what it wraps cannot be read"
            }
        };
        println!(
            "{id}  {state}: {} report keys, {} case and station keys, {} second-factor secrets",
            line.uses.report_keys, line.uses.data_keys, line.uses.totp_secrets
        );
    }
    Ok(whole)
}

fn rotation_error(e: crate::keys::rotation::RotationError) -> CliError {
    use crate::keys::rotation::RotationError;
    match e {
        RotationError::App(e) => e.into(),
        RotationError::Keyring(e) => CliError::Failed(e.to_string()),
        refused => CliError::Invalid(refused.to_string()),
    }
}

/// Prints the checkpoints' verifier key.
pub fn audit_public_key(config: &Config) {
    println!("{}", config.audit_signer.verifier_key());
}

pub fn stations_import(config: &Config, file: &std::path::Path) -> Result<(), CliError> {
    let input =
        std::fs::File::open(file).map_err(|e| CliError::Invalid(format!("cannot open {}: {e}", file.display())))?;
    let rows = crate::stations::import::parse(input).map_err(|problems| {
        CliError::Invalid(format!(
            "{} has {} problem(s); nothing was imported:\n  {}",
            file.display(),
            problems.len(),
            problems.join("\n  ")
        ))
    })?;
    let pool = crate::open_database(config)?;
    let mut conn = pool.get().map_err(|e| CliError::Failed(format!("database: {e}")))?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let outcome = crate::stations::import::apply(&mut conn, &config.keyring, rows, &name)?;
    if outcome.created == 0 && outcome.updated == 0 {
        println!("{} rows read; the registry already matches the file: nothing changed", outcome.rows);
    } else {
        println!(
            "{} rows read: {} created, {} updated, {} unchanged",
            outcome.rows, outcome.created, outcome.updated, outcome.unchanged
        );
    }
    Ok(())
}
