//! JPEG: the segments are walked and those that decoding needs are copied unchanged.

use image::metadata::Orientation;
use image::ImageFormat;

use super::{be16, check_pixels, exif_orientation, reorient, CleanError};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

pub(super) fn clean(bytes: &[u8]) -> Result<Vec<u8>, CleanError> {
    let (stripped, orientation) = strip(bytes)?;
    if orientation == Orientation::NoTransforms {
        Ok(stripped)
    } else {
        reorient(&stripped, ImageFormat::Jpeg, orientation)
    }
}

/// What to do with a marker segment.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Keep,
    Drop,
    /// The JFIF APP0, kept without its thumbnail.
    Jfif,
    /// An EXIF APP1: read for its orientation, then dropped.
    Exif,
    /// A frame header (SOF0..SOF15): kept once its size is checked.
    Frame,
    /// Start of scan: kept with the entropy-coded data that follows.
    Scan,
}

/// The rule for marker `marker` whose segment holds `payload` (after the length).
fn rule(marker: u8, payload: &[u8]) -> Result<Segment, CleanError> {
    Ok(match marker {
        0xE0 if payload.starts_with(b"JFIF\0") && payload.len() >= 14 => Segment::Jfif,
        0xE1 if payload.starts_with(b"Exif\0\0") => Segment::Exif,
        // Adobe: version, two flag words and the colour transform; nothing else fits in it.
        0xEE if payload.starts_with(b"Adobe") && payload.len() == 12 => Segment::Keep,
        0xE0..=0xEF | 0xFE => Segment::Drop,
        0xC4 | 0xCC => Segment::Keep,                // DHT, DAC
        0xC8 => return Err(CleanError::Unsupported), // JPG, reserved
        0xC0..=0xCF => Segment::Frame,
        SOS => Segment::Scan,
        0xDB..=0xDD => Segment::Keep, // DQT, DNL, DRI
        // Hierarchical (DHP, EXP), JPEG extensions (JPGn, JPEG-LS) and reserved markers.
        _ => return Err(CleanError::Unsupported),
    })
}

/// The kept segments up to EOI, and the EXIF orientation.
fn strip(bytes: &[u8]) -> Result<(Vec<u8>, Orientation), CleanError> {
    if !bytes.starts_with(&[0xFF, SOI]) {
        return Err(CleanError::Malformed);
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut orientation = None;
    let mut framed = false;
    let mut pos = 2;
    loop {
        if bytes.get(pos) != Some(&0xFF) {
            return Err(CleanError::Malformed);
        }
        // Any number of 0xFF fill bytes may come before a marker.
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or(CleanError::Malformed)?;
        pos += 1;
        match marker {
            EOI => {
                // Whatever follows EOI (preview, depth map, anything appended) is dropped.
                out.extend_from_slice(&[0xFF, EOI]);
                return Ok((out, orientation.unwrap_or(Orientation::NoTransforms)));
            }
            // Stuffing, TEM, restarts outside a scan, a second SOI.
            0x00 | 0x01 | 0xD0..=0xD8 => return Err(CleanError::Malformed),
            _ => {}
        }
        let length = usize::from(be16(bytes, pos).ok_or(CleanError::Malformed)?);
        let end = pos.checked_add(length).filter(|end| length >= 2 && *end <= bytes.len());
        let end = end.ok_or(CleanError::Malformed)?;
        let payload = &bytes[pos + 2..end];
        let segment = &bytes[pos..end];
        match rule(marker, payload)? {
            Segment::Drop => {}
            Segment::Keep => push(&mut out, marker, segment),
            Segment::Exif => {
                // The first EXIF block is the one viewers read.
                orientation.get_or_insert_with(|| exif_orientation(payload));
            }
            Segment::Jfif => {
                // Version, units and density; no thumbnail.
                out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
                out.extend_from_slice(&payload[..12]);
                out.extend_from_slice(&[0, 0]);
            }
            Segment::Frame => {
                // Precision, height, width. A height of 0 is given later by DNL.
                let height = be16(payload, 1).ok_or(CleanError::Malformed)?;
                let width = be16(payload, 3).ok_or(CleanError::Malformed)?;
                check_pixels(u32::from(width), u32::from(height.max(1)))?;
                framed = true;
                push(&mut out, marker, segment);
            }
            Segment::Scan => {
                if !framed {
                    return Err(CleanError::Malformed);
                }
                push(&mut out, marker, segment);
                let data_end = scan_end(bytes, end).ok_or(CleanError::Malformed)?;
                out.extend_from_slice(&bytes[end..data_end]);
                pos = data_end;
                continue;
            }
        }
        pos = end;
    }
}

fn push(out: &mut Vec<u8>, marker: u8, segment: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(segment);
}

/// Where the entropy-coded data starting at `from` ends: at the first 0xFF that is neither
/// stuffing (0xFF00) nor a restart marker (0xFFD0..0xFFD7). `None` if the file ends first.
fn scan_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|b| *b == 0xFF)?;
        match *bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            _ => return Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let length = u16::try_from(payload.len() + 2).unwrap_or_else(|e| panic!("{e}"));
        [&[0xFF, marker][..], &length.to_be_bytes(), payload].concat()
    }

    /// A file made of segments only: SOI, `middle`, a frame, a scan with stuffing and a restart,
    /// EOI and a trailer.
    fn file(middle: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = vec![0xFF, SOI];
        for part in middle {
            bytes.extend_from_slice(part);
        }
        bytes.extend(segment(0xC0, &[8, 0, 2, 0, 3, 1, 1, 0x11, 0]));
        bytes.extend(segment(0xDB, &[0; 65]));
        bytes.extend(segment(SOS, &[1, 1, 0, 0, 63, 0]));
        bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        bytes.extend_from_slice(&[0xFF, EOI]);
        bytes.extend_from_slice(b"appended after EOI");
        bytes
    }

    fn strip_ok(bytes: &[u8]) -> (Vec<u8>, Orientation) {
        strip(bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn metadata_segments_and_the_trailer_are_dropped_the_rest_kept_as_is() {
        let mut jfif = b"JFIF\0\x01\x02\x01\0\x48\0\x48\x02\x01".to_vec();
        jfif.extend_from_slice(&[0xAB; 6]); // a 2×1 RGB thumbnail
        let adobe = segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01");
        let dirty = file(&[
            segment(0xE0, &jfif),
            segment(0xE1, b"Exif\0\0MM\0\x2A\0\0\0\x08\0\0"),
            segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"),
            segment(0xE2, b"ICC_PROFILE\0\x01\x01"),
            segment(0xEC, b"Ducky"),
            segment(0xED, b"Photoshop 3.0\0"),
            segment(0xFE, b"a comment"),
            adobe.clone(),
        ]);
        let (clean, orientation) = strip_ok(&dirty);
        assert_eq!(orientation, Orientation::NoTransforms);
        let expected = file(&[segment(0xE0, b"JFIF\0\x01\x02\x01\0\x48\0\x48\0\0"), adobe]);
        let trailer = b"appended after EOI".len();
        assert_eq!(clean, expected[..expected.len() - trailer]);
        // Walking the clean copy again changes nothing.
        assert_eq!(strip_ok(&clean).0, clean);
        // Fill bytes before a marker are allowed, and not copied.
        let eoi = dirty.len() - trailer - 2;
        let filled = [&dirty[..eoi], &[0xFF, 0xFF], &dirty[eoi..]].concat();
        assert_eq!(strip_ok(&filled).0, clean);
    }

    #[test]
    fn the_first_exif_block_gives_the_orientation() {
        let turned = b"Exif\0\0MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let upright = b"Exif\0\0MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x01\0\0\0\0\0\0";
        let bytes = file(&[segment(0xE1, turned), segment(0xE1, upright)]);
        assert_eq!(strip_ok(&bytes).1, Orientation::Rotate90);
    }

    #[test]
    fn broken_and_unknown_structures_are_refused() {
        let good = file(&[]);
        let eoi = good.len() - b"appended after EOI".len();
        // Cut anywhere before EOI: no end is found.
        for cut in [1, 3, 5, 12, eoi - 3, eoi - 1] {
            assert_eq!(strip(&good[..cut]), Err(CleanError::Malformed), "cut at {cut}");
        }
        // A segment longer than the file.
        let mut long = vec![0xFF, SOI];
        long.extend_from_slice(&[0xFF, 0xFE, 0xFF, 0xF0, 1, 2]);
        assert_eq!(strip(&long), Err(CleanError::Malformed));
        // A scan before any frame.
        let mut unframed = vec![0xFF, SOI];
        unframed.extend(segment(SOS, &[1, 1, 0, 0, 63, 0]));
        unframed.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(strip(&unframed), Err(CleanError::Malformed));
        // JPEG-LS and other extensions are not cleaned.
        let ls = file(&[segment(0xF7, &[8, 0, 1, 0, 1, 1])]);
        assert_eq!(strip(&ls), Err(CleanError::Unsupported));
        // A frame over the pixel bound.
        let mut huge = vec![0xFF, SOI];
        huge.extend(segment(0xC2, &[8, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0]));
        assert_eq!(strip(&huge), Err(CleanError::TooLarge));
        assert_eq!(strip(b"\x89PNG"), Err(CleanError::Malformed));
    }

    #[test]
    fn scans_end_at_the_first_real_marker() {
        assert_eq!(scan_end(&[1, 0xFF, 0x00, 2, 0xFF, 0xD3, 3, 0xFF, 0xC4], 0), Some(7));
        assert_eq!(scan_end(&[1, 0xFF, 0x00, 2], 0), None);
        assert_eq!(scan_end(&[1, 2, 0xFF], 0), None);
    }
}
