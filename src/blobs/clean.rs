//! Placeholder with the cleaner's interface; replaced by the real cleaner.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Webp,
    Pdf,
    Heif,
    Other,
}

impl Kind {
    pub fn cleanable(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png | Kind::Webp | Kind::Pdf)
    }
}

pub struct Sniffed {
    pub media_type: &'static str,
    pub kind: Kind,
}

pub fn sniff(head: &[u8]) -> Sniffed {
    match infer::get(head) {
        Some(t) => Sniffed { media_type: t.mime_type(), kind: Kind::Other },
        None => Sniffed { media_type: "application/octet-stream", kind: Kind::Other },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("unsupported")]
    Unsupported,
    #[error("malformed")]
    Malformed,
    #[error("too large")]
    TooLarge,
    #[error("timeout")]
    Timeout,
}

pub fn clean(_kind: Kind, _bytes: &[u8]) -> Result<Vec<u8>, CleanError> {
    Err(CleanError::Unsupported)
}

pub fn clean_within(kind: Kind, bytes: Vec<u8>, _limit: std::time::Duration) -> Result<Vec<u8>, CleanError> {
    clean(kind, &bytes)
}
