//! Evidence files made in code, for the cleaning tests and the attachment routes' tests. Each
//! carries the metadata a phone or an editor writes, with planted strings that all start with
//! [`PLANTED`]: a clean copy must not hold that prefix anywhere.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageEncoder, RgbImage, RgbaImage};
use lopdf::{dictionary, Document, Object, Stream};

/// The prefix of every planted string.
pub const PLANTED: &str = "PLANTED-";
/// What a JPEG fixture plants, one per place metadata hides in.
pub const JPEG_MARKERS: &[&str] = &[
    "PLANTED-EXIF-DESCRIPTION",
    "PLANTED-EXIF-MAKE",
    "PLANTED-GPS-METHOD",
    "PLANTED-THUMBNAIL-COMMENT",
    "PLANTED-XMP-CITY",
    "PLANTED-IPTC-CAPTION",
    "PLANTED-ICC-DEVICE",
    "PLANTED-JPEG-COMMENT",
    "PLANTED-AFTER-EOI",
];
pub const PNG_MARKERS: &[&str] = &[
    "PLANTED-PNG-TEXT",
    "PLANTED-PNG-ZTXT",
    "PLANTED-PNG-ITXT",
    "PLANTED-PNG-ICC",
    "PLANTED-EXIF-MAKE",
    "PLANTED-AFTER-IEND",
];
pub const WEBP_MARKERS: &[&str] =
    &["PLANTED-EXIF-MAKE", "PLANTED-GPS-METHOD", "PLANTED-XMP-CITY", "PLANTED-WEBP-ICC", "PLANTED-AFTER-RIFF"];
pub const PDF_MARKERS: &[&str] = &[
    "PLANTED-PDF-TITLE",
    "PLANTED-PDF-AUTHOR",
    "PLANTED-PDF-XMP",
    "PLANTED-PDF-PAGE-XMP",
    "PLANTED-PDF-PIECEINFO",
    "PLANTED-PDF-OLD-REVISION",
];
/// The text that the PDF fixture's incremental update puts in place of the old one.
pub const PDF_REVISED_TEXT: &str = "Revised statement";

/// An asymmetric picture with texture: dark on the left, light on the right, a gradient down,
/// and a fine pattern.
pub fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let left = if x < width / 2 { 40 } else { 200 };
        let down = (y * 50 / height.max(1)) as u8;
        let fine = ((x / 4 + y / 4) % 2) as u8 * 6;
        image::Rgb([left + down / 2 + fine, (x * 255 / width.max(1)) as u8, down * 4 + fine])
    })
}

/// A JPEG as an encoder writes it (JFIF APP0, no metadata).
pub fn plain_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(picture(width, height).as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .expect("encode JPEG");
    out
}

/// A phone photo (320 × 240): EXIF with GPS and an IFD1 thumbnail, XMP, IPTC, an ICC profile, a
/// comment and bytes after EOI, all planted; upright.
pub fn photo_jpeg() -> Vec<u8> {
    jpeg_with_metadata(320, 240, 1)
}

/// [`photo_jpeg`] taken with the phone turned: EXIF orientation 6 (rotate 90° clockwise to view).
pub fn turned_jpeg() -> Vec<u8> {
    jpeg_with_metadata(320, 240, 6)
}

pub fn jpeg_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let mut thumbnail = plain_jpeg(16, 12);
    thumbnail.splice(2..2, jpeg_segment(0xFE, b"PLANTED-THUMBNAIL-COMMENT"));
    let exif = [b"Exif\0\0".as_slice(), &exif_tiff(orientation, &thumbnail)].concat();
    let xmp = [b"http://ns.adobe.com/xap/1.0/\0".as_slice(), xmp_packet("PLANTED-XMP-CITY").as_bytes()].concat();
    let icc = [b"ICC_PROFILE\0\x01\x01".as_slice(), &fake_icc("PLANTED-ICC-DEVICE")].concat();
    let segments = [
        jpeg_segment(0xE1, &exif),
        jpeg_segment(0xE1, &xmp),
        jpeg_segment(0xE2, &icc),
        jpeg_segment(0xED, &iptc("PLANTED-IPTC-CAPTION")),
        jpeg_segment(0xFE, b"PLANTED-JPEG-COMMENT"),
    ]
    .concat();
    let mut jpeg = plain_jpeg(width, height);
    jpeg.splice(2..2, segments);
    jpeg.extend_from_slice(b"MPF preview PLANTED-AFTER-EOI");
    jpeg
}

pub fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len() + 2).expect("segment fits");
    [&[0xFF, marker][..], &length.to_be_bytes(), payload].concat()
}

fn xmp_packet(planted: &str) -> String {
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\
         <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description \
         xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\" photoshop:City=\"{planted}\"/></rdf:RDF>\
         </x:xmpmeta><?xpacket end=\"w\"?>"
    )
}

/// Not a real profile: a header-sized block with a device description.
fn fake_icc(planted: &str) -> Vec<u8> {
    let mut icc = vec![0u8; 128];
    icc.extend_from_slice(b"desc");
    icc.extend_from_slice(planted.as_bytes());
    icc
}

/// A Photoshop APP13 payload with one IPTC record: caption (2:120).
fn iptc(planted: &str) -> Vec<u8> {
    let caption = planted.as_bytes();
    let mut record = vec![0x1C, 0x02, 0x78];
    record.extend_from_slice(&u16::try_from(caption.len()).expect("short").to_be_bytes());
    record.extend_from_slice(caption);
    if record.len() % 2 == 1 {
        record.push(0);
    }
    let mut out = b"Photoshop 3.0\08BIM\x04\x04\0\0".to_vec();
    out.extend_from_slice(&u32::try_from(record.len()).expect("short").to_be_bytes());
    out.extend_from_slice(&record);
    out
}

/// One IFD entry: tag, TIFF type, count and the value's bytes (big-endian).
type Entry = (u16, u16, u32, Vec<u8>);

fn ascii(tag: u16, text: &str) -> Entry {
    let bytes = [text.as_bytes(), b"\0"].concat();
    (tag, 2, u32::try_from(bytes.len()).expect("short"), bytes)
}

fn long(tag: u16, value: u32) -> Entry {
    (tag, 4, 1, value.to_be_bytes().to_vec())
}

fn rationals(tag: u16, values: &[(u32, u32)]) -> Entry {
    let bytes = values.iter().flat_map(|(n, d)| [n.to_be_bytes(), d.to_be_bytes()].concat()).collect();
    (tag, 5, u32::try_from(values.len()).expect("short"), bytes)
}

fn ifd_size(entries: &[Entry]) -> u32 {
    let outside: usize = entries.iter().map(|e| if e.3.len() > 4 { e.3.len() + e.3.len() % 2 } else { 0 }).sum();
    u32::try_from(2 + 12 * entries.len() + 4 + outside).expect("small")
}

/// The IFD at offset `at` of the TIFF block, its values that do not fit in an entry right after.
fn ifd(entries: &[Entry], at: u32, next: u32) -> Vec<u8> {
    let mut head = u16::try_from(entries.len()).expect("few").to_be_bytes().to_vec();
    let mut values = Vec::new();
    let values_at = at + 2 + 12 * u32::try_from(entries.len()).expect("few") + 4;
    for (tag, kind, count, value) in entries {
        head.extend_from_slice(&tag.to_be_bytes());
        head.extend_from_slice(&kind.to_be_bytes());
        head.extend_from_slice(&count.to_be_bytes());
        if value.len() <= 4 {
            let mut inline = value.clone();
            inline.resize(4, 0);
            head.extend_from_slice(&inline);
        } else {
            let offset = values_at + u32::try_from(values.len()).expect("small");
            head.extend_from_slice(&offset.to_be_bytes());
            values.extend_from_slice(value);
            if value.len() % 2 == 1 {
                values.push(0);
            }
        }
    }
    head.extend_from_slice(&next.to_be_bytes());
    head.extend_from_slice(&values);
    head
}

/// A big-endian EXIF TIFF block: IFD0 (description, make, model, orientation, GPS pointer), the
/// GPS IFD (position and processing method) and IFD1 pointing at `thumbnail` (when not empty).
pub fn exif_tiff(orientation: u16, thumbnail: &[u8]) -> Vec<u8> {
    let gps = vec![
        (0x0000, 1, 4, vec![2, 3, 0, 0]),
        ascii(0x0001, "N"),
        rationals(0x0002, &[(55, 1), (45, 1), (2112, 100)]),
        ascii(0x0003, "E"),
        rationals(0x0004, &[(37, 1), (37, 1), (1234, 100)]),
        (0x001B, 7, 26, b"ASCII\0\0\0PLANTED-GPS-METHOD".to_vec()),
    ];
    let ifd0 = |gps_at: u32| {
        vec![
            ascii(0x010E, "PLANTED-EXIF-DESCRIPTION"),
            ascii(0x010F, "PLANTED-EXIF-MAKE"),
            ascii(0x0110, "Phone 12"),
            (0x0112, 3, 1, orientation.to_be_bytes().to_vec()),
            long(0x8825, gps_at),
        ]
    };
    let ifd1 = |thumb_at: u32| {
        vec![
            (0x0103, 3, 1, 6u16.to_be_bytes().to_vec()),
            long(0x0201, thumb_at),
            long(0x0202, u32::try_from(thumbnail.len()).expect("small")),
        ]
    };
    let ifd0_at = 8;
    let gps_at = ifd0_at + ifd_size(&ifd0(0));
    let ifd1_at = gps_at + ifd_size(&gps);
    let thumb_at = ifd1_at + ifd_size(&ifd1(0));
    let mut tiff = b"MM\0\x2A\0\0\0\x08".to_vec();
    let next = if thumbnail.is_empty() { 0 } else { ifd1_at };
    tiff.extend(ifd(&ifd0(gps_at), ifd0_at, next));
    tiff.extend(ifd(&gps, gps_at, 0));
    if !thumbnail.is_empty() {
        tiff.extend(ifd(&ifd1(thumb_at), ifd1_at, 0));
        tiff.extend_from_slice(thumbnail);
    }
    tiff
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let length = u32::try_from(data.len()).expect("small");
    let crc = crc32(&[kind.as_slice(), data].concat());
    [&length.to_be_bytes()[..], kind, data, &crc.to_be_bytes()].concat()
}

/// A zlib stream of one stored (uncompressed) block: the text stays readable in the file.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let length = u16::try_from(data.len()).expect("short");
    let (mut a, mut b) = (1u32, 0u32);
    for byte in data {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    [&[0x78, 0x01, 0x01][..], &length.to_le_bytes(), &(!length).to_le_bytes(), data, &((b << 16) | a).to_be_bytes()]
        .concat()
}

/// An RGBA picture with some transparency.
pub fn rgba_picture(width: u32, height: u32) -> RgbaImage {
    let rgb = picture(width, height);
    RgbaImage::from_fn(width, height, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        image::Rgba([r, g, b, if y < height / 4 { 128 } else { 255 }])
    })
}

pub fn plain_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(rgba_picture(width, height).as_raw(), width, height, image::ExtendedColorType::Rgba8)
        .expect("encode PNG");
    out
}

/// A 40 × 30 screenshot with text chunks (tEXt, zTXt, iTXt), a time stamp, an ICC profile, EXIF
/// and bytes after IEND, all planted.
pub fn text_png() -> Vec<u8> {
    png_with_metadata(40, 30, 1)
}

pub fn png_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let chunks = [
        png_chunk(b"tEXt", b"Author\0PLANTED-PNG-TEXT"),
        png_chunk(b"zTXt", &[b"Comment\0\0".as_slice(), &zlib_stored(b"PLANTED-PNG-ZTXT")].concat()),
        png_chunk(b"iTXt", b"Description\0\0\0en\0Beschreibung\0PLANTED-PNG-ITXT"),
        png_chunk(b"tIME", &[0x07, 0xEA, 12, 4, 18, 30, 0]),
        png_chunk(b"iCCP", &[b"Display\0\0".as_slice(), &zlib_stored(&fake_icc("PLANTED-PNG-ICC"))].concat()),
        png_chunk(b"eXIf", &exif_tiff(orientation, b"")),
    ]
    .concat();
    let mut png = plain_png(width, height);
    // After the signature (8 bytes) and IHDR (25).
    png.splice(33..33, chunks);
    png.extend_from_slice(b"PLANTED-AFTER-IEND");
    png
}

fn riff_chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let size = u32::try_from(data.len()).expect("small");
    let pad: &[u8] = if data.len() % 2 == 1 { &[0] } else { &[] };
    [fourcc.as_slice(), &size.to_le_bytes(), data, pad].concat()
}

/// A 48 × 36 lossless WebP in the extended format: VP8X, ICCP, the picture, EXIF (with GPS) and
/// XMP, and bytes after the RIFF body, all planted.
pub fn photo_webp() -> Vec<u8> {
    webp_with_metadata(48, 36, 1)
}

pub fn webp_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let mut simple = Vec::new();
    WebPEncoder::new_lossless(&mut simple)
        .write_image(rgba_picture(width, height).as_raw(), width, height, image::ExtendedColorType::Rgba8)
        .expect("encode WebP");
    // The simple format is RIFF, size, WEBP and one VP8L chunk.
    let picture = &simple[12..];
    let (w, h) = ((width - 1).to_le_bytes(), (height - 1).to_le_bytes());
    // ICC, alpha, EXIF and XMP flags.
    let vp8x = [0x20 | 0x10 | 0x08 | 0x04, 0, 0, 0, w[0], w[1], w[2], h[0], h[1], h[2]];
    let body = [
        riff_chunk(b"VP8X", &vp8x),
        riff_chunk(b"ICCP", &fake_icc("PLANTED-WEBP-ICC")),
        picture.to_vec(),
        riff_chunk(b"EXIF", &exif_tiff(orientation, b"")),
        riff_chunk(b"XMP ", xmp_packet("PLANTED-XMP-CITY").as_bytes()),
    ]
    .concat();
    let size = u32::try_from(body.len() + 4).expect("small");
    [b"RIFF".as_slice(), &size.to_le_bytes(), b"WEBP", &body, b"PLANTED-AFTER-RIFF"].concat()
}

/// A two-page PDF with an info dictionary, an XMP stream on the catalog and on a page, private
/// application data, and an incremental update that replaces the first page's text: the earlier
/// revision, still in the file, holds [`PDF_MARKERS`]' old-revision string.
pub fn revised_pdf() -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier" });
    let text = |words: &str| format!("BT /F1 24 Tf 72 700 Td ({words}) Tj ET").into_bytes();
    let first_content = doc.add_object(Stream::new(dictionary! {}, text("PLANTED-PDF-OLD-REVISION")));
    let second_content = doc.add_object(Stream::new(dictionary! {}, text("Second page")));
    let xmp = |planted: &str| {
        Stream::new(dictionary! { "Type" => "Metadata", "Subtype" => "XML" }, xmp_packet(planted).into_bytes())
    };
    let page_xmp = doc.add_object(xmp("PLANTED-PDF-PAGE-XMP"));
    let resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
    let first = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => first_content, "Resources" => resources.clone(),
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        "Metadata" => page_xmp,
        "PieceInfo" => dictionary! {
            "Editor" => dictionary! { "Private" => Object::string_literal("PLANTED-PDF-PIECEINFO") },
        },
    });
    let second = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => second_content, "Resources" => resources,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![first.into(), second.into()], "Count" => 2,
        }),
    );
    let catalog_xmp = doc.add_object(xmp("PLANTED-PDF-XMP"));
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id, "Metadata" => catalog_xmp });
    let info = doc.add_object(dictionary! {
        "Title" => Object::string_literal("PLANTED-PDF-TITLE"),
        "Author" => Object::string_literal("PLANTED-PDF-AUTHOR"),
        "Producer" => Object::string_literal("Editor 1.0"),
    });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    let size = doc.max_id + 1;
    let mut pdf = Vec::new();
    doc.save_to(&mut Cursor::new(&mut pdf)).expect("save PDF");

    // The incremental update, written by hand as an editor appends it: the new object, a
    // cross-reference section for it and a trailer pointing back at the previous one.
    let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(64)..]).into_owned();
    let prev: usize = tail
        .rsplit("startxref")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .expect("startxref of the first revision");
    pdf.push(b'\n');
    let object_at = pdf.len();
    let content = text(PDF_REVISED_TEXT);
    pdf.extend_from_slice(format!("{} 0 obj\n<< /Length {} >>\nstream\n", first_content.0, content.len()).as_bytes());
    pdf.extend_from_slice(&content);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_at = pdf.len();
    pdf.extend_from_slice(
        format!(
            "xref\n{} 1\n{object_at:010} 00000 n \ntrailer\n<< /Size {size} /Root {} 0 R /Info {} 0 R /Prev {prev} >>\n\
             startxref\n{xref_at}\n%%EOF\n",
            first_content.0, catalog.0, info.0
        )
        .as_bytes(),
    );
    pdf
}

/// Bytes that are no known type (a fixed pseudo-random sequence).
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Decodes an image fixture or clean copy (test helper; panics on failure).
pub fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("decodes")
}

/// A one-page PDF encrypted (RC4, 128 bits) with `user_password` ("" opens without asking).
pub fn encrypted_pdf(user_password: &str) -> Vec<u8> {
    use lopdf::{EncryptionState, EncryptionVersion, Permissions};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let content = doc.add_object(Stream::new(dictionary! {}, b"BT (Sealed) Tj ET".to_vec()));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let file_id = Object::string_literal(b"0123456789abcdef".to_vec());
    doc.trailer.set("ID", vec![file_id.clone(), file_id]);
    let state = EncryptionState::try_from(EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: Permissions::all(),
    })
    .expect("encryption state");
    doc.encrypt(&state).expect("encrypt");
    let mut pdf = Vec::new();
    doc.save_to(&mut pdf).expect("save PDF");
    pdf
}
