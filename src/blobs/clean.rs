//! Clean copies of evidence files (SPEC §11): the real type from the bytes, and for JPEG, PNG,
//! WebP and PDF a copy without the metadata that gives a reporter away (where a photo was taken,
//! with which phone, by whom), keeping what the file shows.
//!
//! What a clean copy keeps and drops, by type:
//! - **JPEG** ([`jpeg`]): the segments are walked and copied as they are, so the pixels stay
//!   bit-identical: the frame, tables, restart interval and scans, APP14 `Adobe` (the colour
//!   transform) and the JFIF APP0 cut down to its 16 bytes (its optional thumbnail dropped).
//!   Dropped: APP1 (EXIF with GPS, serials and the IFD1 thumbnail; XMP), APP2 (ICC profile,
//!   FlashPix, MPF), APP12, APP13 (IPTC, Photoshop), every other APPn, COM, and everything after
//!   EOI (phones append preview and depth images there). Without its ICC profile a wide-gamut
//!   photo shows in sRGB colours: a profile can name the device and its owner.
//! - **PNG** ([`png`]): the critical chunks and `tRNS gAMA cHRM sRGB sBIT bKGD pHYs cICP`, and the
//!   animation chunks `acTL fcTL fdAT` (frames are content); everything else is dropped (`tEXt
//!   zTXt iTXt tIME eXIf iCCP`, unknown chunks) and so is anything after IEND. Chunks are copied
//!   with their CRCs, which cover one chunk each.
//! - **WebP** ([`webp`]): `EXIF`, `XMP ` and `ICCP` chunks and unknown chunks (also inside
//!   animation frames) dropped, their VP8X flags cleared and the RIFF size rewritten.
//! - **PDF** ([`pdf`]): the trailer's `/Info` and `/ID`, every `/Metadata` (XMP of the catalog,
//!   pages, images, fonts), `/PieceInfo` and `/LastModified` removed, unreachable objects pruned,
//!   and the document written afresh: one revision, so what earlier revisions held is gone.
//!   Annotations, form fields and embedded files are content and stay as they are. Encrypted PDFs
//!   are [`CleanError::Unsupported`].
//! - **HEIC/HEIF**: sniffed but not cleaned (stored sealed only): no maintained pure-Rust crate
//!   rewrites HEIF containers, and a hand-made rewrite of ISO-BMFF item boxes is not a safe bet.
//!
//! A photo turned by EXIF orientation 2 to 8 (JPEG APP1, PNG `eXIf`, WebP `EXIF`) is decoded,
//! turned and encoded again (JPEG at quality 92; PNG; lossless WebP), which keeps no metadata
//! at all. An animated PNG or WebP with such an orientation is not cleaned (decoding keeps one
//! frame).
//!
//! Untrusted input, so bounded: an image over [`MAX_PIXELS`] (read from its header before any
//! decoding) is [`CleanError::TooLarge`]; decoding runs under [`image::Limits`] ([`MAX_ALLOC`]);
//! a PDF stream may inflate to [`MAX_PDF_STREAM`] and a PDF may hold [`MAX_PDF_OBJECTS`] objects.
//! [`clean_within`] bounds the time. Whatever fails is an `Err`: the caller then keeps the
//! original sealed only. A panic inside a third-party parser is caught and becomes
//! [`CleanError::Malformed`].
//!
//! Pure: bytes in, bytes out.

mod jpeg;
mod pdf;
mod png;
mod webp;

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

/// Images with more pixels than this are not cleaned.
pub const MAX_PIXELS: u64 = 100_000_000;
/// What the image decoder may allocate (the decoded image included).
pub const MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// What one PDF stream may inflate to while the document is read.
pub const MAX_PDF_STREAM: usize = 64 * 1024 * 1024;
/// Objects a PDF may hold.
pub const MAX_PDF_OBJECTS: usize = 200_000;
/// JPEG quality of a photo encoded again after turning it.
pub const JPEG_QUALITY: u8 = 92;
/// Stack of the thread [`clean_within`] starts (the PDF reader walks object graphs recursively).
const STACK: usize = 16 * 1024 * 1024;

/// What the bytes are. `media_type` is what the server serves the file as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sniffed {
    pub media_type: &'static str,
    pub kind: Kind,
}

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
    /// Whether [`clean`] makes clean copies of this kind.
    pub fn cleanable(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png | Kind::Webp | Kind::Pdf)
    }
}

pub const OCTET_STREAM: &str = "application/octet-stream";

/// Types served under their own name when sniffed (never as a clean copy): common evidence that
/// a browser cannot run as a page or script. Anything else is served as [`OCTET_STREAM`].
const SERVED_AS_SNIFFED: &[&str] = &[
    "image/gif",
    "image/bmp",
    "image/tiff",
    "image/avif",
    "video/mp4",
    "video/x-m4v",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/mpeg",
    "audio/mpeg",
    "audio/m4a",
    "audio/ogg",
    "audio/opus",
    "audio/x-wav",
    "audio/x-flac",
    "audio/amr",
    "audio/aac",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "application/zip",
    "application/gzip",
    "application/x-7z-compressed",
    "application/vnd.rar",
];

/// From the first bytes of a file (the caller passes up to the first 8 KiB); unknown types are
/// `application/octet-stream`.
pub fn sniff(head: &[u8]) -> Sniffed {
    let sniffed = |media_type, kind| Sniffed { media_type, kind };
    let Some(found) = infer::get(head) else {
        return match heif_brand(head) {
            Some(media_type) => sniffed(media_type, Kind::Heif),
            None => sniffed(OCTET_STREAM, Kind::Other),
        };
    };
    match found.mime_type() {
        "image/jpeg" => sniffed("image/jpeg", Kind::Jpeg),
        "image/png" => sniffed("image/png", Kind::Png),
        "image/webp" => sniffed("image/webp", Kind::Webp),
        "application/pdf" => sniffed("application/pdf", Kind::Pdf),
        "image/heif" => sniffed(heif_brand(head).unwrap_or("image/heif"), Kind::Heif),
        other => match SERVED_AS_SNIFFED.iter().find(|served| **served == other) {
            Some(served) => sniffed(served, Kind::Other),
            None => sniffed(OCTET_STREAM, Kind::Other),
        },
    }
}

/// `image/heic` or `image/heif` from an ISO-BMFF `ftyp` box whose brands say HEIF (and not
/// AVIF, which shares the `mif1` brand).
fn heif_brand(head: &[u8]) -> Option<&'static str> {
    if head.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let size = usize::try_from(u32::from_be_bytes(head.get(..4)?.try_into().ok()?)).ok()?;
    let major = head.get(8..12)?;
    let compatible: Vec<&[u8]> = head.get(16..size.min(head.len()))?.chunks_exact(4).collect();
    let heic = |brand: &[u8]| matches!(brand, b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx");
    if heic(major) {
        return Some("image/heic");
    }
    if matches!(major, b"mif1" | b"msf1") {
        if compatible.iter().any(|brand| heic(brand)) {
            return Some("image/heic");
        }
        if !compatible.iter().any(|brand| matches!(*brand, b"avif" | b"avis")) {
            return Some("image/heif");
        }
    }
    None
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CleanError {
    /// A type, or a variant of one (encrypted PDF, animated and turned image), not cleaned.
    #[error("this file type is not cleaned")]
    Unsupported,
    #[error("the file does not parse")]
    Malformed,
    /// Over the pixel, allocation or object bounds.
    #[error("the file is too large to clean")]
    TooLarge,
    #[error("cleaning took too long")]
    Timeout,
}

/// A clean copy of `bytes` (whole file in memory; the caller bounds size and concurrency).
pub fn clean(kind: Kind, bytes: &[u8]) -> Result<Vec<u8>, CleanError> {
    let run = || match kind {
        Kind::Jpeg => jpeg::clean(bytes),
        Kind::Png => png::clean(bytes),
        Kind::Webp => webp::clean(bytes),
        Kind::Pdf => pdf::clean(bytes),
        Kind::Heif | Kind::Other => Err(CleanError::Unsupported),
    };
    // Last resort: the parsers are meant to fail with errors, not panics.
    catch_unwind(AssertUnwindSafe(run)).unwrap_or(Err(CleanError::Malformed))
}

/// `clean` on its own thread; gives up with `Timeout` after `limit` (the thread's result is dropped).
///
/// Blocks the calling thread until then (call it from a blocking pool). A thread that is given
/// up on runs on to the end of its bounded work and exits; its memory is bounded as above. A
/// thread that cannot be started counts as `Timeout` (the machine is too busy to clean now).
pub fn clean_within(kind: Kind, bytes: Vec<u8>, limit: Duration) -> Result<Vec<u8>, CleanError> {
    let (sender, receiver) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new().name("clean".into()).stack_size(STACK).spawn(move || {
        // The receiver may have given up already; then the result is dropped.
        let _ = sender.send(clean(kind, &bytes));
    });
    if spawned.is_err() {
        return Err(CleanError::Timeout);
    }
    match receiver.recv_timeout(limit) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(CleanError::Timeout),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(CleanError::Malformed),
    }
}

/// Refuses `width × height` over [`MAX_PIXELS`]; a side of 0 is malformed.
fn check_pixels(width: u32, height: u32) -> Result<(), CleanError> {
    if width == 0 || height == 0 {
        return Err(CleanError::Malformed);
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CleanError::TooLarge);
    }
    Ok(())
}

/// The orientation in an EXIF block (a TIFF header and IFD0; an `Exif\0\0` prefix is skipped),
/// `NoTransforms` when absent or invalid.
fn exif_orientation(exif: &[u8]) -> Orientation {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    Orientation::from_exif_chunk(tiff).unwrap_or(Orientation::NoTransforms)
}

fn image_error(error: ImageError) -> CleanError {
    match error {
        ImageError::Limits(_) => CleanError::TooLarge,
        ImageError::Unsupported(_) => CleanError::Unsupported,
        _ => CleanError::Malformed,
    }
}

/// Decodes `bytes` (already stripped of metadata) under the limits, applies `orientation` and
/// encodes the result in the same format: nothing but pixels survives.
fn reorient(bytes: &[u8], format: ImageFormat, orientation: Orientation) -> Result<Vec<u8>, CleanError> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height)?;
    if decoder.total_bytes() > MAX_ALLOC {
        return Err(CleanError::TooLarge);
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    encode(&image, format)
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, CleanError> {
    use image::codecs::{jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder};
    let mut out = Vec::new();
    let written = match format {
        ImageFormat::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            match image {
                DynamicImage::ImageLuma8(_) => image.write_with_encoder(encoder),
                _ => DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder),
            }
        }
        ImageFormat::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        ImageFormat::WebP => {
            let encoder = WebPEncoder::new_lossless(&mut out);
            if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8()).write_with_encoder(encoder)
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)
            }
        }
        _ => return Err(CleanError::Unsupported),
    };
    written.map_err(image_error)?;
    Ok(out)
}

/// A big-endian `u16` at `at`, if there.
fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_names_the_kinds_and_serves_the_rest_safely() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0").kind, Kind::Jpeg);
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n").media_type, "application/pdf");
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        assert_eq!(sniff(heic), Sniffed { media_type: "image/heic", kind: Kind::Heif });
        let heif = b"\0\0\0\x14ftypmif1\0\0\0\0mif1";
        assert_eq!(sniff(heif), Sniffed { media_type: "image/heif", kind: Kind::Heif });
        let avif = b"\0\0\0\x18ftypavif\0\0\0\0mif1avif";
        assert_eq!(sniff(avif).media_type, "image/avif");
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0").media_type, "image/gif");
        assert_eq!(sniff(b"<!DOCTYPE html><html><script>").media_type, OCTET_STREAM);
        assert_eq!(sniff(b"\x7FELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").media_type, OCTET_STREAM);
        assert_eq!(sniff(b""), Sniffed { media_type: OCTET_STREAM, kind: Kind::Other });
        assert!(!Kind::Heif.cleanable() && !Kind::Other.cleanable() && Kind::Pdf.cleanable());
    }

    #[test]
    fn pixel_bounds() {
        assert_eq!(check_pixels(10_000, 10_000), Ok(()));
        assert_eq!(check_pixels(10_000, 10_001), Err(CleanError::TooLarge));
        assert_eq!(check_pixels(u32::MAX, u32::MAX), Err(CleanError::TooLarge));
        assert_eq!(check_pixels(0, 5), Err(CleanError::Malformed));
    }

    #[test]
    fn orientation_from_exif_with_or_without_its_prefix() {
        // Big-endian TIFF, IFD0 with one entry: Orientation (0x0112), SHORT, 1, value 6.
        let tiff = b"MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        assert_eq!(exif_orientation(tiff), Orientation::Rotate90);
        assert_eq!(exif_orientation(&[b"Exif\0\0".as_slice(), tiff].concat()), Orientation::Rotate90);
        assert_eq!(exif_orientation(&tiff[..12]), Orientation::NoTransforms);
        assert_eq!(exif_orientation(b""), Orientation::NoTransforms);
    }

    #[test]
    fn unsupported_kinds_and_garbage_are_errors() {
        assert_eq!(clean(Kind::Heif, b"\0\0\0\x18ftypheic"), Err(CleanError::Unsupported));
        assert_eq!(clean(Kind::Other, b"anything"), Err(CleanError::Unsupported));
        for kind in [Kind::Jpeg, Kind::Png, Kind::Webp, Kind::Pdf] {
            assert!(clean(kind, b"").is_err());
            assert!(clean(kind, b"\xFF\xD8\x89PNGRIFF%PDF-").is_err());
        }
    }
}
