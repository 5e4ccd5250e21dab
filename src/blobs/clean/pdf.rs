//! PDF: the document is read, its metadata removed, and written afresh as one revision.

use lopdf::{Dictionary, Document, LoadOptions, Object};

use super::{CleanError, MAX_PDF_OBJECTS, MAX_PDF_STREAM};

/// Dictionary entries removed wherever they are: XMP streams, application private data (which
/// carries authoring tools' own copies of the document), modification dates.
const METADATA_KEYS: &[&[u8]] = &[b"Metadata", b"PieceInfo", b"LastModified"];

pub(super) fn clean(bytes: &[u8]) -> Result<Vec<u8>, CleanError> {
    let options = LoadOptions { max_decompressed_size: Some(MAX_PDF_STREAM), ..LoadOptions::default() };
    let mut doc = Document::load_mem_with_options(bytes, options).map_err(|_| CleanError::Malformed)?;
    if doc.trailer.has(b"Encrypt") || doc.was_encrypted() {
        return Err(CleanError::Unsupported);
    }
    if doc.objects.len() > MAX_PDF_OBJECTS {
        return Err(CleanError::TooLarge);
    }
    let root = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|_| CleanError::Malformed)?;
    if doc.catalog().is_err() || doc.page_iter().next().is_none() {
        return Err(CleanError::Malformed);
    }
    // A new trailer with the catalog only: no /Info, no /ID, nothing a tool added.
    doc.trailer = Dictionary::new();
    doc.trailer.set("Root", root);
    for object in doc.objects.values_mut() {
        scrub(object);
    }
    // What only the removed entries (or earlier revisions) referred to goes too.
    doc.prune_objects();
    let mut out = Vec::with_capacity(bytes.len());
    doc.save_to(&mut out).map_err(|_| CleanError::Malformed)?;
    Ok(out)
}

/// Removes [`METADATA_KEYS`] from `object` and the dictionaries nested in it (without recursion:
/// nesting depth is the file's choice).
fn scrub(object: &mut Object) {
    let mut pending = vec![object];
    while let Some(object) = pending.pop() {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &mut stream.dict,
            Object::Array(items) => {
                pending.extend(items.iter_mut());
                continue;
            }
            _ => continue,
        };
        for key in METADATA_KEYS {
            dict.remove(key);
        }
        pending.extend(dict.iter_mut().map(|(_, value)| value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{dictionary, Stream};

    #[test]
    fn metadata_entries_go_at_any_depth() {
        let mut page = Object::Dictionary(dictionary! {
            "Type" => "Page",
            "Metadata" => (7, 0),
            "PieceInfo" => dictionary! { "App" => dictionary! { "Private" => "x" } },
            "Resources" => dictionary! {
                "XObject" => vec![Object::Dictionary(dictionary! { "Metadata" => (8, 0), "Keep" => 1 })],
            },
        });
        scrub(&mut page);
        let expected = Object::Dictionary(dictionary! {
            "Type" => "Page",
            "Resources" => dictionary! { "XObject" => vec![Object::Dictionary(dictionary! { "Keep" => 1 })] },
        });
        assert_eq!(format!("{page:?}"), format!("{expected:?}"));
        let mut image = Object::Stream(Stream::new(dictionary! { "Metadata" => (9, 0), "Width" => 1 }, vec![0]));
        scrub(&mut image);
        assert!(image.as_stream().is_ok_and(|s| !s.dict.has(b"Metadata") && s.dict.has(b"Width")));
    }

    #[test]
    fn not_a_pdf_is_malformed() {
        assert_eq!(clean(b"%PDF-1.7\n\x00\x01garbage garbage"), Err(CleanError::Malformed));
        assert_eq!(clean(b""), Err(CleanError::Malformed));
    }
}
