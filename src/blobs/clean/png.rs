//! PNG: the chunks are walked and those on the allow-list copied with their CRCs.

use image::metadata::Orientation;
use image::ImageFormat;

use super::{be32, check_pixels, exif_orientation, reorient, CleanError};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Ancillary chunks that change how the pixels look (or, for APNG, are the pixels) and carry
/// no text.
const KEPT_ANCILLARY: &[&[u8; 4]] =
    &[b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"pHYs", b"cICP", b"acTL", b"fcTL", b"fdAT"];

/// What to do with a chunk of type `kind`.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    Keep,
    Drop,
    /// `eXIf`: read for its orientation, then dropped.
    Exif,
}

fn rule(kind: &[u8; 4]) -> Result<Chunk, CleanError> {
    if !kind.iter().all(u8::is_ascii_alphabetic) {
        return Err(CleanError::Malformed);
    }
    Ok(match kind {
        b"IHDR" | b"PLTE" | b"IDAT" | b"IEND" => Chunk::Keep,
        b"eXIf" => Chunk::Exif,
        kind if KEPT_ANCILLARY.contains(&kind) => Chunk::Keep,
        // An unknown critical chunk (upper-case first letter): no decoder would show the image.
        kind if kind[0].is_ascii_uppercase() => return Err(CleanError::Unsupported),
        _ => Chunk::Drop,
    })
}

pub(super) fn clean(bytes: &[u8]) -> Result<Vec<u8>, CleanError> {
    let (stripped, orientation, animated) = strip(bytes)?;
    match orientation {
        Orientation::NoTransforms => Ok(stripped),
        _ if animated => Err(CleanError::Unsupported),
        _ => reorient(&stripped, ImageFormat::Png, orientation),
    }
}

/// The kept chunks up to IEND, the `eXIf` orientation and whether the image is animated.
fn strip(bytes: &[u8]) -> Result<(Vec<u8>, Orientation, bool), CleanError> {
    let mut rest = bytes.strip_prefix(SIGNATURE).ok_or(CleanError::Malformed)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(SIGNATURE);
    let mut orientation = None;
    let mut animated = false;
    let mut first = true;
    loop {
        let length = usize::try_from(be32(rest, 0).ok_or(CleanError::Malformed)?).map_err(|_| CleanError::Malformed)?;
        // Type, data and CRC.
        let total = length.checked_add(12).filter(|total| *total <= rest.len()).ok_or(CleanError::Malformed)?;
        let (chunk, after) = rest.split_at(total);
        rest = after;
        let kind: &[u8; 4] = chunk[4..8].try_into().map_err(|_| CleanError::Malformed)?;
        let data = &chunk[8..8 + length];
        if first != (kind == b"IHDR") {
            return Err(CleanError::Malformed);
        }
        if first {
            let width = be32(data, 0).ok_or(CleanError::Malformed)?;
            let height = be32(data, 4).ok_or(CleanError::Malformed)?;
            check_pixels(width, height)?;
            first = false;
        }
        match rule(kind)? {
            Chunk::Keep => out.extend_from_slice(chunk),
            Chunk::Drop => {}
            Chunk::Exif => {
                orientation.get_or_insert_with(|| exif_orientation(data));
            }
        }
        animated |= kind == b"acTL";
        if kind == b"IEND" {
            // Whatever follows IEND is dropped.
            return Ok((out, orientation.unwrap_or(Orientation::NoTransforms), animated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk with a made-up CRC (the walk copies CRCs, it does not check them).
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let length = u32::try_from(data.len()).unwrap_or_else(|e| panic!("{e}"));
        [&length.to_be_bytes()[..], kind, data, &[1, 2, 3, 4]].concat()
    }

    fn ihdr(width: u32, height: u32) -> Vec<u8> {
        chunk(b"IHDR", &[&width.to_be_bytes()[..], &height.to_be_bytes(), &[8, 6, 0, 0, 0]].concat())
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        for part in chunks {
            bytes.extend_from_slice(part);
        }
        bytes
    }

    #[test]
    fn the_allow_list() {
        for kept in [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"sRGB", b"pHYs", b"fdAT"] {
            assert_eq!(rule(kept), Ok(Chunk::Keep), "{kept:?}");
        }
        for dropped in [b"tEXt", b"zTXt", b"iTXt", b"tIME", b"iCCP", b"sPLT", b"hIST", b"caNv", b"prVW"] {
            assert_eq!(rule(dropped), Ok(Chunk::Drop), "{dropped:?}");
        }
        assert_eq!(rule(b"eXIf"), Ok(Chunk::Exif));
        assert_eq!(rule(b"ABCD"), Err(CleanError::Unsupported));
        assert_eq!(rule(b"tE\0t"), Err(CleanError::Malformed));
    }

    #[test]
    fn text_and_time_chunks_and_the_trailer_are_dropped() {
        let kept = [ihdr(2, 2), chunk(b"gAMA", &[0, 0, 0xB1, 0x8F]), chunk(b"IDAT", b"pixels"), chunk(b"IEND", b"")];
        let dirty = png(&[
            kept[0].clone(),
            chunk(b"tEXt", b"Author\0someone"),
            kept[1].clone(),
            chunk(b"tIME", &[7, 0xEA, 12, 4, 18, 0, 0]),
            kept[2].clone(),
            chunk(b"iTXt", b"Comment\0\0\0\0\0text"),
            kept[3].clone(),
            b"trailing bytes".to_vec(),
        ]);
        let (clean, orientation, animated) = strip(&dirty).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(clean, png(&kept));
        assert_eq!((orientation, animated), (Orientation::NoTransforms, false));
    }

    #[test]
    fn broken_structures_and_huge_headers_are_refused() {
        let good = png(&[ihdr(2, 2), chunk(b"IDAT", b"x"), chunk(b"IEND", b"")]);
        assert!(strip(&good).is_ok());
        for cut in [0, 7, 8, 20, good.len() - 1] {
            assert_eq!(strip(&good[..cut]), Err(CleanError::Malformed), "cut at {cut}");
        }
        let mut long = good.clone();
        long[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        assert_eq!(strip(&long), Err(CleanError::Malformed));
        let headless = png(&[chunk(b"IDAT", b"x"), chunk(b"IEND", b"")]);
        assert_eq!(strip(&headless), Err(CleanError::Malformed));
        let huge = png(&[ihdr(1 << 20, 1 << 20), chunk(b"IEND", b"")]);
        assert_eq!(strip(&huge), Err(CleanError::TooLarge));
    }
}
