//! Settings from the environment (and `.env`). A bad value is an error naming the variable.
//! Secrets are never printed: [`Secret`] has no `Display` and a redacting `Debug`.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::db::DatabaseUrl;

/// Shortest secret accepted from the environment.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub jwt_secret: Secret,
    /// The master keys (SPEC §4.4, §13), from the keyring file, which a rotation changes.
    pub keyring: crate::crypto::envelope::Keyring,
    /// `TIPLINE_KEYRING`, else `DATA_DIR/keyring`.
    pub keyring_file: crate::keys::KeyringFile,
    /// Keys receipts, login names, owner tags and throttles (`TIPLINE_INDEX_KEY`); no rotation
    /// changes it.
    pub index_key: Secret,
    pub allow_registration: bool,
    /// Whether responses carry `Strict-Transport-Security` (for a deployment served only over
    /// TLS, behind a proxy).
    pub hsts: bool,
    /// Whether staff must sign in with a second factor (`TIPLINE_REQUIRE_STAFF_2FA`, SPEC §12.1).
    pub require_staff_2fa: bool,
    /// Database connections in the pool.
    pub db_pool_size: u32,
    /// Signs the audit tree's checkpoints (SPEC §15), under the log's name: a key kept outside
    /// the database.
    pub audit_signer: std::sync::Arc<crate::audit::checkpoint::NoteSigner>,
    /// Requests per minute of each anonymous write endpoint, cluster-wide (SPEC §12.3).
    pub rates: crate::limits::Rates,
    /// Password-hashing threads (default: one per core).
    pub hash_threads: Option<usize>,
    /// Hashing jobs that may wait for a thread before login and registration answer 503
    /// (default: [`HASH_JOBS_PER_THREAD`] per thread).
    pub hash_queue: Option<usize>,
    /// Who runs this deployment, as the reporter's pages show it (SPEC §16).
    pub organisation: Organisation,
    /// Where sealed evidence files live: `TIPLINE_BLOB_URL`, else the folder `TIPLINE_BLOB_DIR`
    /// (default `DATA_DIR/blobs`), which an object store uses to spool uploads.
    pub blobs: std::sync::Arc<crate::blobs::BlobStore>,
    /// Sizes and counts of evidence files (SPEC §11).
    pub attachments: crate::attachments::Limits,
    /// Days kept per status before shredding (`TIPLINE_RETAIN_<STATUS>_DAYS`, SPEC §13).
    pub retention: crate::retention::Policy,
    /// How often the retention sweeper runs (`TIPLINE_RETENTION_INTERVAL_SECS`).
    pub retention_interval: std::time::Duration,
}

/// The organisation's name and a way to reach it, shown on every reporter page; plain text.
#[derive(Debug, Clone, Default)]
pub struct Organisation {
    pub name: Option<String>,
    pub contact: Option<String>,
}

/// Hashing jobs that may wait per hashing thread: a job takes ~20 ms, so a full queue is served
/// within ~0.1 s.
pub const HASH_JOBS_PER_THREAD: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`; generates missing secrets into the data folder.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(lookup("TIPLINE_DATA_DIR").unwrap_or_else(|| "data".into()));
        let default_db = format!("sqlite://{}", data_dir.join("tipline.db").display());
        let database_url = DatabaseUrl::parse(&lookup("DATABASE_URL").unwrap_or(default_db)).map_err(ConfigError)?;
        let bind = match lookup("TIPLINE_BIND") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(value) => value.parse().map_err(|_| {
                ConfigError("TIPLINE_BIND: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080".into())
            })?,
        };
        let allow_registration = match lookup("TIPLINE_ALLOW_REGISTRATION") {
            None => true,
            Some(value) => parse_bool(&value)
                .ok_or_else(|| ConfigError("TIPLINE_ALLOW_REGISTRATION: expected true or false".into()))?,
        };
        let hsts = match lookup("TIPLINE_HSTS") {
            None => false,
            Some(value) => {
                parse_bool(&value).ok_or_else(|| ConfigError("TIPLINE_HSTS: expected true or false".into()))?
            }
        };
        let require_staff_2fa = match lookup("TIPLINE_REQUIRE_STAFF_2FA") {
            None => true,
            Some(value) => parse_bool(&value)
                .ok_or_else(|| ConfigError("TIPLINE_REQUIRE_STAFF_2FA: expected true or false".into()))?,
        };
        let db_pool_size = match lookup("TIPLINE_DB_POOL_SIZE") {
            None => 16,
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| ConfigError("TIPLINE_DB_POOL_SIZE: expected a whole number from 1 to 256".into()))?,
        };
        let defaults = crate::limits::Rates::DEFAULT;
        let rates = crate::limits::Rates {
            submit: rate(&lookup, "TIPLINE_RATE_SUBMIT", defaults.submit)?,
            register: rate(&lookup, "TIPLINE_RATE_REGISTER", defaults.register)?,
            receipt_failures: rate(&lookup, "TIPLINE_RATE_RECEIPT_FAILURES", defaults.receipt_failures)?,
            upload: rate(&lookup, "TIPLINE_RATE_UPLOAD", defaults.upload)?,
        };
        let keep = crate::retention::Policy::DEFAULT;
        let retention = crate::retention::Policy {
            new: days(&lookup, "TIPLINE_RETAIN_NEW_DAYS", keep.new)?,
            triaged: days(&lookup, "TIPLINE_RETAIN_TRIAGED_DAYS", keep.triaged)?,
            investigating: days(&lookup, "TIPLINE_RETAIN_INVESTIGATING_DAYS", keep.investigating)?,
            closed: days(&lookup, "TIPLINE_RETAIN_CLOSED_DAYS", keep.closed)?,
            withdrawn: days(&lookup, "TIPLINE_RETAIN_WITHDRAWN_DAYS", keep.withdrawn)?,
        };
        let retention_interval = std::time::Duration::from_secs(
            count(&lookup, "TIPLINE_RETENTION_INTERVAL_SECS", 1..=86_400)?.unwrap_or(300) as u64,
        );
        let hash_threads = count(&lookup, "TIPLINE_HASH_THREADS", 1..=256)?;
        let limits = crate::attachments::Limits::DEFAULT;
        let attachments = crate::attachments::Limits {
            max_bytes: count(&lookup, "TIPLINE_ATTACHMENT_MAX_BYTES", 1..=1 << 40)?
                .map_or(limits.max_bytes, |n| n as u64),
            max_files: count(&lookup, "TIPLINE_ATTACHMENT_MAX_FILES", 1..=10_000)?
                .map_or(limits.max_files, |n| n as u64),
            max_total_bytes: count(&lookup, "TIPLINE_ATTACHMENT_MAX_TOTAL_BYTES", 1..=1 << 44)?
                .map_or(limits.max_total_bytes, |n| n as u64),
        };
        let blob_dir = lookup("TIPLINE_BLOB_DIR").map_or_else(|| data_dir.join("blobs"), PathBuf::from);
        let blobs = std::sync::Arc::new(blob_store(&lookup, blob_dir)?);
        let hash_queue = count(&lookup, "TIPLINE_HASH_QUEUE", 1..=65_536)?;
        if database_url.backend == crate::db::Backend::Sqlite {
            ensure_parent_dir(Path::new(&database_url.target))?;
        }
        let jwt_secret = secret(&lookup, "TIPLINE_JWT_SECRET", &data_dir, "jwt_secret")?;
        let (keyring_file, keyring, index_key) = keys(&lookup, &data_dir)?;
        let audit_signer = audit_signer(&lookup, &data_dir)?;
        let text = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let organisation = Organisation { name: text("TIPLINE_ORG_NAME"), contact: text("TIPLINE_ORG_CONTACT") };
        Ok(Config {
            database_url,
            bind,
            data_dir,
            jwt_secret,
            keyring,
            keyring_file,
            index_key,
            allow_registration,
            hsts,
            require_staff_2fa,
            db_pool_size,
            audit_signer,
            rates,
            hash_threads,
            hash_queue,
            organisation,
            blobs,
            attachments,
            retention,
            retention_interval,
        })
    }
}

/// The keyring and the index key (SPEC §13). A deployment from before the keyring had one data
/// key, `TIPLINE_DATA_KEY` or `DATA_DIR/data_key`: it becomes the keyring's first key, so every
/// wrapped key still opens, and the index key, so every receipt and login still matches. Once the
/// keyring exists, `TIPLINE_DATA_KEY` is no longer read.
fn keys(
    lookup: &impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<(crate::keys::KeyringFile, crate::crypto::envelope::Keyring, Secret), ConfigError> {
    let file = crate::keys::KeyringFile::at(crate::keys::path(lookup("TIPLINE_KEYRING"), data_dir));
    let earlier = earlier_data_key(lookup, data_dir)?;
    let index_file = data_dir.join("index_key");
    if lookup("TIPLINE_INDEX_KEY").is_none() && !index_file.exists() {
        if let Some(earlier) = &earlier {
            write_private(&index_file, earlier.expose())
                .map_err(|e| ConfigError(format!("TIPLINE_INDEX_KEY: cannot write {}: {e}", index_file.display())))?;
        }
    }
    let index_key = secret(lookup, "TIPLINE_INDEX_KEY", data_dir, "index_key")?;
    let keyring = file
        .open_or_create(earlier.as_ref().map(Secret::expose))
        .map_err(|e| ConfigError(format!("TIPLINE_KEYRING: {e}")))?;
    Ok((file, keyring, index_key))
}

/// The one data key of a deployment from before the keyring, if there is one.
fn earlier_data_key(lookup: &impl Fn(&str) -> Option<String>, data_dir: &Path) -> Result<Option<Secret>, ConfigError> {
    if lookup("TIPLINE_DATA_KEY").is_some() || data_dir.join("data_key").exists() {
        return secret(lookup, "TIPLINE_DATA_KEY", data_dir, "data_key").map(Some);
    }
    Ok(None)
}

/// The checkpoint signer: an Ed25519 key derived from `TIPLINE_AUDIT_SIGNING_KEY` (else a secret
/// generated into the data folder), named `TIPLINE_AUDIT_LOG_NAME`.
fn audit_signer(
    lookup: &impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<std::sync::Arc<crate::audit::checkpoint::NoteSigner>, ConfigError> {
    let secret = secret(lookup, "TIPLINE_AUDIT_SIGNING_KEY", data_dir, "audit_signing_key")?;
    let seed = Zeroizing::new(crate::crypto::derive_key(secret.expose(), "audit-checkpoint-signing"));
    let name = lookup("TIPLINE_AUDIT_LOG_NAME").unwrap_or_else(|| "tipline.invalid/audit".into());
    let signer = crate::audit::checkpoint::NoteSigner::new(&name, &seed).map_err(|_| {
        ConfigError(
            "TIPLINE_AUDIT_LOG_NAME: expected a name without spaces or '+', e.g. tipline.example.org/audit".into(),
        )
    })?;
    Ok(std::sync::Arc::new(signer))
}

/// Options of an S3-compatible store, read from the environment as `object_store` names them.
const BLOB_STORE_OPTIONS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
];

/// The blob store: `TIPLINE_BLOB_URL` when set (spooling through `dir`), else the folder `dir`.
fn blob_store(lookup: &impl Fn(&str) -> Option<String>, dir: PathBuf) -> Result<crate::blobs::BlobStore, ConfigError> {
    let spool = crate::blobs::LocalStore::at(dir);
    let Some(raw) = lookup("TIPLINE_BLOB_URL").filter(|v| !v.trim().is_empty()) else {
        return Ok(crate::blobs::BlobStore::Local(spool));
    };
    let url = url::Url::parse(raw.trim()).map_err(|_| {
        ConfigError("TIPLINE_BLOB_URL: expected a URL such as s3://bucket/prefix or file:///srv/tipline-blobs".into())
    })?;
    let options = BLOB_STORE_OPTIONS
        .iter()
        .filter_map(|name| lookup(name).map(|value| (name.to_ascii_lowercase(), value)))
        .collect::<Vec<_>>();
    let backend = crate::blobs::ObjectBackend::new(&url, options, spool).map_err(|_| {
        ConfigError(
            "TIPLINE_BLOB_URL: this store cannot be opened (s3:// needs a build with --features s3, and its AWS_* settings)"
                .into(),
        )
    })?;
    Ok(crate::blobs::BlobStore::Object(backend))
}

/// A rate in requests per minute (1 to 1 000 000), or `off` (also `0`) for no limit.
fn rate(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &str,
    default: Option<u32>,
) -> Result<Option<u32>, ConfigError> {
    let Some(value) = lookup(variable) else { return Ok(default) };
    let value = value.trim();
    if value.eq_ignore_ascii_case("off") || value == "0" {
        return Ok(None);
    }
    value.parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n)).map(Some).ok_or_else(|| {
        ConfigError(format!("{variable}: expected requests per minute, a whole number from 1 to 1000000, or off"))
    })
}

/// Days of a retention policy: 0 (keep) to 36500.
fn days(lookup: &impl Fn(&str) -> Option<String>, variable: &str, default: u32) -> Result<u32, ConfigError> {
    let Some(value) = lookup(variable) else { return Ok(default) };
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= 36_500)
        .ok_or_else(|| ConfigError(format!("{variable}: expected a whole number of days from 0 (keep) to 36500")))
}

/// An optional whole number within `range`.
fn count(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<Option<usize>, ConfigError> {
    let Some(value) = lookup(variable) else { return Ok(None) };
    value.trim().parse::<usize>().ok().filter(|n| range.contains(n)).map(Some).ok_or_else(|| {
        ConfigError(format!("{variable}: expected a whole number from {} to {}", range.start(), range.end()))
    })
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn ensure_parent_dir(path: &Path) -> Result<(), ConfigError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fs::create_dir_all(parent)
            .map_err(|e| ConfigError(format!("DATABASE_URL: cannot create the folder {}: {e}", parent.display()))),
        _ => Ok(()),
    }
}

/// A secret from the environment, else from `DATA_DIR/file`, else 32 fresh random bytes written
/// there (hex, mode 0600) and reused on the next start.
fn secret(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &str,
    data_dir: &Path,
    file: &str,
) -> Result<Secret, ConfigError> {
    if let Some(value) = lookup(variable) {
        if value.len() < MIN_SECRET_BYTES {
            return Err(ConfigError(format!("{variable}: must be at least {MIN_SECRET_BYTES} bytes long")));
        }
        return Ok(Secret::new(value.into_bytes()));
    }
    let path = data_dir.join(file);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim();
            if text.len() < MIN_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "{variable}: the generated secret in {} is shorter than {MIN_SECRET_BYTES} bytes; remove the file to generate a new one",
                    path.display()
                )));
            }
            Ok(Secret::new(text.as_bytes().to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = Zeroizing::new(hex::encode(crate::crypto::random_bytes::<32>()));
            write_private(&path, value.as_bytes())
                .map_err(|e| ConfigError(format!("{variable}: cannot write {}: {e}", path.display())))?;
            Ok(Secret::new(value.as_bytes().to_vec()))
        }
        Err(e) => Err(ConfigError(format!("{variable}: cannot read {}: {e}", path.display()))),
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn generates_secrets_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let first = config(&[("TIPLINE_DATA_DIR", data)]).unwrap();
        let second = config(&[("TIPLINE_DATA_DIR", data)]).unwrap();
        assert_eq!(first.jwt_secret.expose(), second.jwt_secret.expose());
        assert_ne!(first.jwt_secret.expose(), first.index_key.expose());
        assert_eq!(first.keyring.master_key_id(), second.keyring.master_key_id());
        assert!(!dir.path().join("data_key").exists(), "a new deployment starts with a keyring");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("jwt_secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(first.database_url.target, format!("{data}/tipline.db"));
    }

    #[test]
    fn an_earlier_data_key_becomes_the_first_key_and_the_index_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let old = "an-earlier-data-key-an-earlier-data-key";
        fs::write(dir.path().join("data_key"), old).unwrap();
        let upgraded = config(&[("TIPLINE_DATA_DIR", data)]).unwrap();
        assert_eq!(upgraded.index_key.expose(), old.as_bytes(), "receipts keep their key");
        assert_eq!(
            upgraded.keyring.master_key_id(),
            crate::crypto::envelope::MasterKey::from_secret(old.as_bytes()).id(),
            "wrapped keys still open"
        );
        let rotated = upgraded.keyring_file.add_new_key().unwrap();
        let again =
            config(&[("TIPLINE_DATA_DIR", data), ("TIPLINE_DATA_KEY", "another-key-another-key-another-key-0")])
                .unwrap();
        assert_eq!(again.keyring.master_key_id(), rotated, "the keyring, not TIPLINE_DATA_KEY, names the keys");
        assert_eq!(again.index_key.expose(), old.as_bytes());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let cases = [
            ("TIPLINE_JWT_SECRET", "short"),
            ("TIPLINE_DATA_KEY", "short"),
            ("TIPLINE_BIND", "localhost"),
            ("TIPLINE_ALLOW_REGISTRATION", "maybe"),
            ("TIPLINE_HSTS", "sometimes"),
            ("TIPLINE_REQUIRE_STAFF_2FA", "perhaps"),
            ("TIPLINE_DB_POOL_SIZE", "0"),
            ("TIPLINE_RATE_SUBMIT", "lots"),
            ("TIPLINE_RATE_RECEIPT_FAILURES", "-3"),
            ("TIPLINE_HASH_QUEUE", "0"),
            ("TIPLINE_HASH_THREADS", "many"),
            ("DATABASE_URL", "mysql://db"),
            ("TIPLINE_ATTACHMENT_MAX_BYTES", "25MB"),
            ("TIPLINE_ATTACHMENT_MAX_FILES", "0"),
            ("TIPLINE_BLOB_URL", "not a url"),
            ("TIPLINE_BLOB_URL", "ftp://example.org/blobs"),
        ];
        for (variable, value) in cases {
            let err = config(&[("TIPLINE_DATA_DIR", data), (variable, value)]).unwrap_err();
            assert!(err.0.starts_with(variable), "{variable}: {}", err.0);
            assert!(!err.0.contains(value) || value == "0", "echoes the value: {}", err.0);
        }
    }

    #[test]
    fn rates_default_switch_off_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let defaults = config(&[("TIPLINE_DATA_DIR", data)]).unwrap();
        assert_eq!(defaults.rates, crate::limits::Rates::DEFAULT);
        assert_eq!((defaults.hash_threads, defaults.hash_queue), (None, None));
        let set = config(&[
            ("TIPLINE_DATA_DIR", data),
            ("TIPLINE_RATE_SUBMIT", "off"),
            ("TIPLINE_RATE_REGISTER", "0"),
            ("TIPLINE_RATE_UPLOAD", "7"),
            ("TIPLINE_HASH_QUEUE", "3"),
        ])
        .unwrap();
        assert_eq!((set.rates.submit, set.rates.register, set.rates.upload), (None, None, Some(7)));
        assert_eq!(set.hash_queue, Some(3));
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let secret = Secret::new(b"0123456789abcdef0123456789abcdef".to_vec());
        assert!(!format!("{secret:?}").contains("0123"));
    }
}
