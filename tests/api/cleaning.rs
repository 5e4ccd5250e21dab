//! Clean copies of evidence files (SPEC §11), through `tipline::blobs::clean` directly: no
//! planted metadata survives, the visible content does, and hostile files fail without a panic.

use std::time::Duration;

use image::GenericImageView;
use lopdf::Document;
use tipline::blobs::clean::{clean, clean_within, sniff, CleanError, Kind, OCTET_STREAM};

use crate::fixtures::{self, PLANTED};

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// The fixture holds every marker, and its clean copy none (nor anything planted).
fn assert_markers_gone(fixture: &[u8], cleaned: &[u8], markers: &[&str]) {
    for marker in markers {
        assert!(contains(fixture, marker), "the fixture plants {marker}");
        assert!(!contains(cleaned, marker), "the clean copy still holds {marker}");
    }
    assert!(!contains(cleaned, PLANTED), "the clean copy still holds something planted");
}

fn cleaned(kind: Kind, bytes: &[u8]) -> Vec<u8> {
    assert_eq!(sniff(bytes).kind, kind);
    clean(kind, bytes).unwrap_or_else(|e| panic!("{kind:?} not cleaned: {e:?}"))
}

/// Mean absolute difference per channel between two RGB images of the same size.
fn mean_difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn jpeg_loses_exif_gps_thumbnail_xmp_iptc_icc_comments_and_trailer_and_keeps_its_pixels() {
    let photo = fixtures::photo_jpeg();
    let clean_copy = cleaned(Kind::Jpeg, &photo);
    assert_markers_gone(&photo, &clean_copy, fixtures::JPEG_MARKERS);
    assert!(!contains(&clean_copy, "Exif\0\0") && !contains(&clean_copy, "http://ns.adobe.com"));
    assert_eq!(sniff(&clean_copy).kind, Kind::Jpeg);
    // Nothing was decoded: the pixels are bit for bit the same.
    assert_eq!(fixtures::decode(&clean_copy).to_rgb8(), fixtures::decode(&photo).to_rgb8());
    assert!(clean_copy.ends_with(&[0xFF, 0xD9]));
    // Cleaning a clean copy changes nothing.
    assert_eq!(cleaned(Kind::Jpeg, &clean_copy), clean_copy);
}

#[test]
fn a_turned_jpeg_is_turned_upright_and_keeps_no_metadata() {
    let photo = fixtures::turned_jpeg();
    let clean_copy = cleaned(Kind::Jpeg, &photo);
    assert_markers_gone(&photo, &clean_copy, fixtures::JPEG_MARKERS);
    let original = fixtures::decode(&photo);
    let upright = fixtures::decode(&clean_copy);
    assert_eq!(original.dimensions(), (320, 240));
    assert_eq!(upright.dimensions(), (240, 320), "width and height swapped");
    // Orientation 6: the stored picture is shown turned 90° clockwise.
    let clockwise = mean_difference(&upright.to_rgb8(), &original.rotate90().to_rgb8());
    let counter = mean_difference(&upright.to_rgb8(), &original.rotate270().to_rgb8());
    assert!(clockwise < 4.0, "close to the turned original (encoded again): {clockwise}");
    assert!(counter > 20.0, "and not turned the other way: {counter}");
    assert!(!contains(&clean_copy, "Exif\0\0"), "no orientation left to apply twice");
}

#[test]
fn png_loses_its_text_time_icc_and_exif_chunks_and_keeps_its_pixels() {
    let screenshot = fixtures::text_png();
    let clean_copy = cleaned(Kind::Png, &screenshot);
    assert_markers_gone(&screenshot, &clean_copy, fixtures::PNG_MARKERS);
    for chunk in ["tEXt", "zTXt", "iTXt", "tIME", "iCCP", "eXIf"] {
        assert!(contains(&screenshot, chunk) && !contains(&clean_copy, chunk), "{chunk}");
    }
    assert_eq!(fixtures::decode(&clean_copy).to_rgba8(), fixtures::decode(&screenshot).to_rgba8());
}

#[test]
fn a_turned_png_is_turned_without_loss() {
    let screenshot = fixtures::png_with_metadata(40, 30, 6);
    let clean_copy = cleaned(Kind::Png, &screenshot);
    assert_markers_gone(&screenshot, &clean_copy, fixtures::PNG_MARKERS);
    let upright = fixtures::decode(&clean_copy);
    assert_eq!(upright.dimensions(), (30, 40));
    assert_eq!(upright.to_rgba8(), fixtures::decode(&screenshot).rotate90().to_rgba8());
}

#[test]
fn webp_loses_exif_xmp_and_icc_and_keeps_its_pixels() {
    let photo = fixtures::photo_webp();
    let clean_copy = cleaned(Kind::Webp, &photo);
    assert_markers_gone(&photo, &clean_copy, fixtures::WEBP_MARKERS);
    for chunk in ["EXIF", "XMP ", "ICCP"] {
        assert!(contains(&photo, chunk) && !contains(&clean_copy, chunk), "{chunk}");
    }
    // VP8X keeps only the alpha flag; the RIFF size is the file's.
    assert_eq!(&clean_copy[12..16], b"VP8X");
    assert_eq!(clean_copy[20], 0x10);
    let riff_size = u32::from_le_bytes(clean_copy[4..8].try_into().unwrap());
    assert_eq!(riff_size as usize, clean_copy.len() - 8);
    assert_eq!(fixtures::decode(&clean_copy).to_rgba8(), fixtures::decode(&photo).to_rgba8());
}

#[test]
fn a_turned_webp_is_turned_without_loss() {
    let photo = fixtures::webp_with_metadata(48, 36, 6);
    let clean_copy = cleaned(Kind::Webp, &photo);
    assert_markers_gone(&photo, &clean_copy, fixtures::WEBP_MARKERS);
    let upright = fixtures::decode(&clean_copy);
    assert_eq!(upright.dimensions(), (36, 48));
    assert_eq!(upright.to_rgba8(), fixtures::decode(&photo).rotate90().to_rgba8());
}

#[test]
fn pdf_loses_info_xmp_private_data_and_earlier_revisions_and_keeps_its_pages() {
    let pdf = fixtures::revised_pdf();
    let original = Document::load_mem(&pdf).expect("the fixture loads");
    let first_page = original.page_iter().next().expect("a page");
    let revised = original.get_page_content(first_page);
    assert!(contains(&revised, fixtures::PDF_REVISED_TEXT), "the update is the revision in force");

    let clean_copy = cleaned(Kind::Pdf, &pdf);
    assert_markers_gone(&pdf, &clean_copy, fixtures::PDF_MARKERS);
    assert!(!contains(&clean_copy, "/Prev") && clean_copy.windows(5).filter(|w| w == b"%%EOF").count() == 1);

    let clean_doc = Document::load_mem(&clean_copy).expect("the clean copy loads");
    assert!(clean_doc.trailer.get(b"Info").is_err());
    assert!(clean_doc.catalog().is_ok_and(|catalog| !catalog.has(b"Metadata")));
    assert_eq!(clean_doc.get_pages().len(), 2);
    let contents =
        |doc: &Document| -> Vec<Vec<u8>> { doc.page_iter().map(|page| doc.get_page_content(page)).collect() };
    assert_eq!(contents(&clean_doc), contents(&original));
}

#[test]
fn encrypted_pdfs_are_not_cleaned() {
    for password in ["", "secret"] {
        let pdf = fixtures::encrypted_pdf(password);
        assert_eq!(sniff(&pdf).kind, Kind::Pdf);
        assert_eq!(clean(Kind::Pdf, &pdf), Err(CleanError::Unsupported), "user password {password:?}");
    }
}

#[test]
fn sniffing_reads_the_bytes_not_the_name() {
    let head = |bytes: Vec<u8>| bytes[..bytes.len().min(8192)].to_vec();
    assert_eq!(sniff(&head(fixtures::photo_jpeg())).media_type, "image/jpeg");
    assert_eq!(sniff(&head(fixtures::text_png())).media_type, "image/png");
    assert_eq!(sniff(&head(fixtures::photo_webp())).media_type, "image/webp");
    assert_eq!(sniff(&head(fixtures::revised_pdf())).media_type, "application/pdf");
    let heic = sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\x08meta");
    assert_eq!((heic.media_type, heic.kind), ("image/heic", Kind::Heif));
    assert!(!heic.kind.cleanable());
    let random = sniff(&fixtures::random_bytes(8192));
    assert_eq!((random.media_type, random.kind), (OCTET_STREAM, Kind::Other));
    assert_eq!(clean(Kind::Heif, b"\0\0\0\x18ftypheic"), Err(CleanError::Unsupported));
}

#[test]
fn malformed_files_are_errors() {
    let photo = fixtures::photo_jpeg();
    assert_eq!(clean(Kind::Jpeg, &photo[..photo.len() / 2]), Err(CleanError::Malformed), "truncated JPEG");

    let mut png = fixtures::plain_png(40, 30);
    // The first chunk after IHDR: its length now runs past the end of the file.
    png[33..37].copy_from_slice(&0x7FFF_0000u32.to_be_bytes());
    assert_eq!(clean(Kind::Png, &png), Err(CleanError::Malformed), "PNG chunk length");

    let mut garbage = b"%PDF-1.7\n".to_vec();
    garbage.extend(fixtures::random_bytes(4096));
    assert!(clean(Kind::Pdf, &garbage).is_err(), "PDF garbage after the header");

    let mut huge = b"\x89PNG\r\n\x1a\n".to_vec();
    huge.extend(fixtures::png_chunk(b"IHDR", &[0, 3, 0x0D, 0x40, 0, 3, 0x0D, 0x40, 8, 2, 0, 0, 0])); // 200 000²
    huge.extend(fixtures::png_chunk(b"IDAT", &[0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    huge.extend(fixtures::png_chunk(b"IEND", b""));
    assert_eq!(clean(Kind::Png, &huge), Err(CleanError::TooLarge), "huge PNG header");

    // The wrong kind for the bytes.
    assert!(clean(Kind::Pdf, &photo).is_err());
    assert!(clean(Kind::Webp, &png).is_err());
}

#[test]
fn damaged_files_never_panic() {
    let files = [
        (Kind::Jpeg, fixtures::photo_jpeg()),
        (Kind::Png, fixtures::text_png()),
        (Kind::Webp, fixtures::photo_webp()),
        (Kind::Pdf, fixtures::revised_pdf()),
    ];
    let noise = fixtures::random_bytes(4096);
    for (kind, file) in files {
        for (round, pair) in noise.chunks_exact(4).take(150).enumerate() {
            let mut damaged = file.clone();
            let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % damaged.len();
            if round % 3 == 0 {
                damaged.truncate(at);
            } else {
                damaged[at] = pair[2];
                let near = (at + usize::from(pair[3])) % damaged.len();
                damaged[near] ^= 0xFF;
            }
            // Ok or Err: both fine; a panic fails the test.
            let _ = clean_within(kind, damaged, Duration::from_secs(30));
        }
    }
}

#[test]
fn cleaning_is_bounded_in_time() {
    let big = fixtures::jpeg_with_metadata(3000, 2000, 6);
    assert_eq!(clean_within(Kind::Jpeg, big, Duration::from_millis(1)), Err(CleanError::Timeout));
    let photo = fixtures::photo_jpeg();
    let in_time = clean_within(Kind::Jpeg, photo.clone(), Duration::from_secs(30));
    assert_eq!(in_time, clean(Kind::Jpeg, &photo));
    assert!(in_time.is_ok());
}
