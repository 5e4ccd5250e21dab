//! WebP: the RIFF chunks are walked; metadata chunks are dropped and the VP8X flags and the RIFF
//! size made to match.

use image::metadata::Orientation;
use image::ImageFormat;

use super::{check_pixels, exif_orientation, le32, reorient, CleanError};

/// VP8X flags of the chunks dropped: ICC profile, EXIF, XMP.
const METADATA_FLAGS: u8 = 0x20 | 0x08 | 0x04;

pub(super) fn clean(bytes: &[u8]) -> Result<Vec<u8>, CleanError> {
    let (stripped, orientation, animated) = strip(bytes)?;
    match orientation {
        Orientation::NoTransforms => Ok(stripped),
        _ if animated => Err(CleanError::Unsupported),
        _ => reorient(&stripped, ImageFormat::WebP, orientation),
    }
}

/// Chunks in file order: fourcc and data.
type Chunks<'a> = Vec<(&'a [u8], &'a [u8])>;

/// The chunks of a RIFF body (or of an animation frame's data).
fn chunks(mut body: &[u8]) -> Result<Chunks<'_>, CleanError> {
    let mut found = Vec::new();
    while !body.is_empty() {
        let fourcc = body.get(..4).ok_or(CleanError::Malformed)?;
        let size = usize::try_from(le32(body, 4).ok_or(CleanError::Malformed)?).map_err(|_| CleanError::Malformed)?;
        let end = size.checked_add(8).filter(|end| *end <= body.len()).ok_or(CleanError::Malformed)?;
        found.push((fourcc, &body[8..end]));
        // Chunks are padded to an even size; the last one's padding may be missing.
        body = body.get(end + (size & 1)..).unwrap_or_default();
    }
    Ok(found)
}

fn push_chunk(out: &mut Vec<u8>, fourcc: &[u8], data: &[u8]) -> Result<(), CleanError> {
    let size = u32::try_from(data.len()).map_err(|_| CleanError::TooLarge)?;
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

/// Width and height from the start of a `VP8 ` (lossy) or `VP8L` (lossless) bitstream.
fn bitstream_size(fourcc: &[u8], data: &[u8]) -> Option<(u32, u32)> {
    match fourcc {
        // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
        b"VP8 " if data.get(3..6) == Some(&[0x9D, 0x01, 0x2A]) => {
            let width = u16::from_le_bytes(data.get(6..8)?.try_into().ok()?) & 0x3FFF;
            let height = u16::from_le_bytes(data.get(8..10)?.try_into().ok()?) & 0x3FFF;
            Some((u32::from(width), u32::from(height)))
        }
        // Signature 0x2f, then width − 1 and height − 1 in 14 bits each.
        b"VP8L" if data.first() == Some(&0x2F) => {
            let bits = le32(data, 1)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        _ => None,
    }
}

/// The clean file, the EXIF orientation and whether the image is animated.
fn strip(bytes: &[u8]) -> Result<(Vec<u8>, Orientation, bool), CleanError> {
    if bytes.get(..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WEBP") {
        return Err(CleanError::Malformed);
    }
    let riff_size = usize::try_from(le32(bytes, 4).ok_or(CleanError::Malformed)?).map_err(|_| CleanError::Malformed)?;
    // Whatever follows the RIFF body is dropped.
    let body = riff_size.checked_add(8).and_then(|end| bytes.get(12..end)).ok_or(CleanError::Malformed)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    let mut orientation = None;
    let mut animated = false;
    let mut pictures = 0;
    for (index, (fourcc, data)) in chunks(body)?.into_iter().enumerate() {
        match fourcc {
            b"VP8X" => {
                if index != 0 || data.len() < 10 {
                    return Err(CleanError::Malformed);
                }
                let width = u32::from_le_bytes([data[4], data[5], data[6], 0]) + 1;
                let height = u32::from_le_bytes([data[7], data[8], data[9], 0]) + 1;
                check_pixels(width, height)?;
                let mut header = data.to_vec();
                header[0] &= !METADATA_FLAGS;
                push_chunk(&mut out, fourcc, &header)?;
            }
            b"VP8 " | b"VP8L" => {
                let (width, height) = bitstream_size(fourcc, data).ok_or(CleanError::Malformed)?;
                check_pixels(width, height)?;
                pictures += 1;
                push_chunk(&mut out, fourcc, data)?;
            }
            b"ALPH" => push_chunk(&mut out, fourcc, data)?,
            b"ANIM" => {
                animated = true;
                push_chunk(&mut out, fourcc, data)?;
            }
            b"ANMF" => {
                // 16 bytes of frame position, size and timing, then the frame's own chunks.
                let header = data.get(..16).ok_or(CleanError::Malformed)?;
                let mut frame = header.to_vec();
                for (inner, inner_data) in chunks(&data[16..])? {
                    if matches!(inner, b"ALPH" | b"VP8 " | b"VP8L") {
                        push_chunk(&mut frame, inner, inner_data)?;
                    }
                }
                animated = true;
                pictures += 1;
                push_chunk(&mut out, fourcc, &frame)?;
            }
            b"EXIF" => {
                orientation.get_or_insert_with(|| exif_orientation(data));
            }
            // XMP, ICCP and chunks unknown to the format.
            _ => {}
        }
    }
    if pictures == 0 {
        return Err(CleanError::Malformed);
    }
    let size = u32::try_from(out.len() - 8).map_err(|_| CleanError::TooLarge)?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Ok((out, orientation.unwrap_or(Orientation::NoTransforms), animated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_chunk(&mut out, fourcc, data).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let size = u32::try_from(body.len() + 4).unwrap_or_else(|e| panic!("{e}"));
        [&b"RIFF"[..], &size.to_le_bytes(), b"WEBP", &body].concat()
    }

    /// A VP8L header for a `width` × `height` image (not a whole bitstream: the walk reads no more).
    fn vp8l(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | ((height - 1) << 14);
        chunk(b"VP8L", &[&[0x2F][..], &bits.to_le_bytes(), b"rest"].concat())
    }

    fn vp8x(flags: u8, width: u32, height: u32) -> Vec<u8> {
        let w = (width - 1).to_le_bytes();
        let h = (height - 1).to_le_bytes();
        chunk(b"VP8X", &[flags, 0, 0, 0, w[0], w[1], w[2], h[0], h[1], h[2]])
    }

    #[test]
    fn metadata_chunks_and_flags_go_and_the_size_is_fixed() {
        let dirty = riff(&[
            vp8x(0x20 | 0x10 | 0x08 | 0x04, 3, 2),
            chunk(b"ICCP", b"profile"),
            vp8l(3, 2),
            chunk(b"EXIF", b"MM\0\x2A\0\0\0\x08\0\0"),
            chunk(b"XMP ", b"<x:xmpmeta/>"),
            chunk(b"ZZZZ", b"unknown"),
        ]);
        let (clean, orientation, animated) = strip(&dirty).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(clean, riff(&[vp8x(0x10, 3, 2), vp8l(3, 2)]));
        assert_eq!((orientation, animated), (Orientation::NoTransforms, false));
    }

    #[test]
    fn animation_frames_keep_only_their_pictures() {
        let frame = [&[0u8; 16][..], &vp8l(3, 2), &chunk(b"XMP ", b"odd")].concat();
        let dirty = riff(&[vp8x(0x02 | 0x04, 3, 2), chunk(b"ANIM", &[0; 6]), chunk(b"ANMF", &frame)]);
        let (clean, _, animated) = strip(&dirty).unwrap_or_else(|e| panic!("{e}"));
        let frame = [&[0u8; 16][..], &vp8l(3, 2)].concat();
        assert_eq!(clean, riff(&[vp8x(0x02, 3, 2), chunk(b"ANIM", &[0; 6]), chunk(b"ANMF", &frame)]));
        assert!(animated);
    }

    #[test]
    fn broken_structures_and_huge_canvases_are_refused() {
        let good = riff(&[vp8l(3, 2)]);
        for cut in [0, 11, 12, 20, good.len() - 1] {
            assert_eq!(strip(&good[..cut]), Err(CleanError::Malformed), "cut at {cut}");
        }
        assert_eq!(strip(&riff(&[chunk(b"EXIF", b"")])), Err(CleanError::Malformed));
        assert_eq!(strip(&riff(&[vp8x(0, 1 << 14, 1 << 14), vp8l(3, 2)])), Err(CleanError::TooLarge));
        assert_eq!(strip(&riff(&[vp8l(16_000, 16_000)])), Err(CleanError::TooLarge));
        assert_eq!(bitstream_size(b"VP8 ", &[0, 0, 0, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]), Some((320, 240)));
    }
}
