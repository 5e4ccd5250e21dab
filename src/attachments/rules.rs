//! The rules of evidence files, as plain functions: names, limits, reasons, which copy a caller
//! gets, and how a download names itself.

use super::{Copy, Limits};
use crate::db::Id;
use crate::reports::access::Side;

/// Longest file name kept, in characters.
pub const FILENAME_MAX: usize = 255;
/// Longest `X-Filename` header accepted, in bytes, before decoding (a name of 255 characters,
/// percent-encoded, with room for a folder part that is then dropped).
pub const FILENAME_HEADER_MAX: usize = 4096;
/// Longest reason for opening an original, in characters.
pub const REASON_MAX: usize = 500;

/// The file name of `X-Filename` (percent-encoded UTF-8), without any folder part; `None` when
/// absent or blank.
pub fn filename(header: Option<&[u8]>) -> Result<Option<String>, &'static str> {
    let Some(raw) = header else { return Ok(None) };
    if raw.len() > FILENAME_HEADER_MAX {
        return Err("must be at most 4096 bytes as sent");
    }
    let raw = std::str::from_utf8(raw).map_err(|_| "must be percent-encoded UTF-8")?;
    let decoded = percent_decode(raw).ok_or("must be percent-encoded UTF-8")?;
    // A name with a folder ("C:\Users\李\Desktop\threat.png", "/home/…/x.jpg") says where the
    // reporter keeps it, and often whose computer it is: keep the last part only.
    let name = decoded.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if name.is_empty() || name == "." || name == ".." {
        return Ok(None);
    }
    crate::fields::text(name, FILENAME_MAX, false)
        .map_err(|_| "must be at most 255 characters, without control characters")?;
    crate::fields::shown_text(name).map(Some)
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a new file cannot be taken at all.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Files,
    Bytes,
}

impl Full {
    pub fn detail(&self) -> &'static str {
        match self {
            Full::Files => "The report has as many files as it may hold.",
            Full::Bytes => "The report's files take all the space it may use.",
        }
    }
}

/// How many bytes a new file may have, given the report's `files` and their `bytes`.
pub fn budget(limits: &Limits, files: u64, bytes: u64) -> Result<u64, Full> {
    if files >= limits.max_files {
        return Err(Full::Files);
    }
    let left = limits.max_total_bytes.saturating_sub(bytes);
    if left == 0 {
        return Err(Full::Bytes);
    }
    Ok(left.min(limits.max_bytes))
}

/// The 413 detail for a file larger than its budget.
pub fn over_budget(limits: &Limits, budget: u64) -> &'static str {
    if budget < limits.max_bytes {
        "The file does not fit in the space the report's files may still use."
    } else {
        "The file is larger than the largest file accepted."
    }
}

/// A caseworker's reason for opening an original: one line, 1..=500 characters.
pub fn reason(raw: Option<&str>) -> Result<String, &'static str> {
    let reason = raw.map(str::trim).filter(|r| !r.is_empty()).ok_or("must say why the original is needed")?;
    crate::fields::text(reason, REASON_MAX, false).map_err(|_| "must be one line of at most 500 characters")?;
    Ok(reason.to_string())
}

/// The copy a plain download gives: staff work on the clean copy; a reporter reads back what
/// they sent.
pub fn copy_for(side: Side) -> Copy {
    match side {
        Side::Staff => Copy::Clean,
        Side::Reporter => Copy::Original,
    }
}

/// Whether `side` may see a file uploaded by `uploaded_by_role`: staff see every file of a
/// report; a reporter sees the files sent from the reporter's side, not the ones caseworkers
/// added (those are working material, like internal notes).
pub fn visible_to(side: Side, uploaded_by_role: &str) -> bool {
    side == Side::Staff || uploaded_by_role == "reporter"
}

/// What the sealed blob of `copy` is bound to: a blob moved to another file, report or copy does
/// not open.
pub fn aad(report: Id, attachment: Id, copy: Copy) -> Vec<u8> {
    format!("tipline/v1|attachments|{report}|{attachment}|{}", copy.as_str()).into_bytes()
}

/// `Content-Disposition` of a download: always `attachment`, so a browser saves the file
/// instead of rendering it. The ASCII name is a neutral one (the real name may hold any
/// script); `filename*` carries the real name, percent-encoded.
pub fn content_disposition(filename: Option<&str>, id: Id, media_type: &str) -> String {
    let fallback = format!("evidence-{}{}", &id.to_string()[..8], extension(media_type));
    match filename {
        None => format!("attachment; filename=\"{fallback}\""),
        Some(name) => format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", percent_encode(name)),
    }
}

fn extension(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/webp" => ".webp",
        "image/heif" | "image/heic" => ".heic",
        "application/pdf" => ".pdf",
        "video/mp4" => ".mp4",
        _ => "",
    }
}

/// RFC 8187 value characters: letters, digits and `!#$&+-.^_`|~`; everything else encoded.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_folders_and_are_checked() {
        let name = |raw: &str| filename(Some(raw.as_bytes()));
        assert_eq!(name("threat.png"), Ok(Some("threat.png".into())));
        assert_eq!(name("C%3A%5CUsers%5C%E6%9D%8E%5Cthreat.png"), Ok(Some("threat.png".into())));
        assert_eq!(name("%2Fhome%2Fli%2F%E5%A8%81%E8%83%81.jpg"), Ok(Some("威胁.jpg".into())));
        assert_eq!(filename(None), Ok(None));
        assert_eq!(name("   "), Ok(None));
        assert_eq!(name("..%2F.."), Ok(None));
        assert!(name("%E6%9D").is_err(), "cut UTF-8");
        assert!(name("bad%2").is_err(), "cut escape");
        assert!(name("a%0Ab.png").is_err(), "line break");
        assert!(name("gpj.%E2%80%AEexe").is_err(), "right-to-left override");
        assert!(name(&"a".repeat(256)).is_err());
        assert!(name(&format!("{}x.png", "%5C".repeat(1400))).is_err(), "over 4096 bytes as sent, folders or not");
        assert_eq!(name(&format!("{}x.png", "%5C".repeat(1300))), Ok(Some("x.png".into())));
        assert_eq!(name("e%CC%81.png"), Ok(Some("\u{e9}.png".into())), "NFC");
    }

    #[test]
    fn the_budget_is_what_is_left_within_the_file_limit() {
        let limits = Limits { max_bytes: 10, max_files: 2, max_total_bytes: 25 };
        assert_eq!(budget(&limits, 0, 0), Ok(10));
        assert_eq!(budget(&limits, 1, 20), Ok(5));
        assert_eq!(budget(&limits, 2, 0), Err(Full::Files));
        assert_eq!(budget(&limits, 1, 25), Err(Full::Bytes));
        assert_eq!(budget(&limits, 1, 30), Err(Full::Bytes));
        assert!(over_budget(&limits, 5).contains("space"));
        assert!(over_budget(&limits, 10).contains("largest"));
    }

    #[test]
    fn a_reason_is_one_line() {
        assert_eq!(reason(Some("  check the GPS claim  ")), Ok("check the GPS claim".into()));
        assert!(reason(None).is_err());
        assert!(reason(Some(" ")).is_err());
        assert!(reason(Some("a\nb")).is_err());
        assert!(reason(Some(&"x".repeat(501))).is_err());
    }

    #[test]
    fn each_side_gets_its_copy_and_files() {
        assert_eq!(copy_for(Side::Staff), Copy::Clean);
        assert_eq!(copy_for(Side::Reporter), Copy::Original);
        assert!(visible_to(Side::Staff, "caseworker"));
        assert!(visible_to(Side::Reporter, "reporter"));
        assert!(!visible_to(Side::Reporter, "caseworker"));
    }

    #[test]
    fn blobs_are_bound_to_their_place() {
        let (r, a) = (Id::new(), Id::new());
        assert_ne!(aad(r, a, Copy::Original), aad(r, a, Copy::Clean));
        assert_ne!(aad(r, a, Copy::Original), aad(a, r, Copy::Original));
    }

    #[test]
    fn downloads_are_attachments_with_a_safe_name() {
        let id = Id::new();
        let plain = content_disposition(None, id, "image/jpeg");
        assert!(plain.starts_with("attachment; filename=\"evidence-") && plain.ends_with(".jpg\""));
        let named = content_disposition(Some("威胁 \"x\";.png"), id, "image/png");
        assert!(named.contains("filename*=UTF-8''%E5%A8%81%E8%83%81%20%22x%22%3B.png"), "{named}");
        assert!(named.is_ascii());
    }
}
