//! Signed checkpoints of the audit tree (SPEC §15), in the C2SP formats that transparency-log
//! tooling shares, so that an outside auditor or a witness can check them with their own tools:
//!
//! - `tlog-checkpoint`: the note's text is the log's origin, the tree size in decimal and the
//!   root hash in base64, one per line.
//! - `signed-note`: the text, a blank line, then one line per signature,
//!   `— <key name> <base64(key id ‖ signature)>`; an Ed25519 key's id is the first four bytes of
//!   SHA-256(name ‖ `\n` ‖ 0x01 ‖ public key), and its verifier key is written
//!   `<name>+<key id in hex>+<base64(0x01 ‖ public key)>`.
//!
//! Pure functions: the signing key is read from outside the database by the caller.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("the key name is empty or holds a space or a plus sign")]
    BadName,
    #[error("the verifier key is not of the form name+id+key")]
    BadVerifierKey,
    #[error("the note is not a text, a blank line and signature lines")]
    Malformed,
    #[error("no valid signature by this key")]
    NotSigned,
    #[error("the checkpoint is not an origin, a tree size and a root hash")]
    BadCheckpoint,
}

/// A key name: non-empty, with no whitespace and no `+` (which separates a verifier key's parts).
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+') {
        return Err(NoteError::BadName);
    }
    Ok(())
}

fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The log's signing key, under its name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({})", self.verifier_key())
    }
}

impl NoteSigner {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key of the 32-byte Ed25519 seed `seed`.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, &key.verifying_key());
        Ok(NoteSigner { name: name.to_string(), key, id })
    }

    /// The verifier key to publish, `<name>+<id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, BASE64.encode(key))
    }

    /// `text` (which must end with a newline) followed by a blank line and this key's signature.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.contains('\r') {
            return Err(NoteError::Malformed);
        }
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_be_bytes().to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(blob)))
    }
}

/// A published verifier key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn parse(verifier_key: &str) -> Result<Self, NoteError> {
        let mut parts = verifier_key.trim_end().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey);
        };
        check_name(name).map_err(|_| NoteError::BadVerifierKey)?;
        let id =
            (id.len() == 8).then(|| u32::from_str_radix(id, 16).ok()).flatten().ok_or(NoteError::BadVerifierKey)?;
        let key = BASE64.decode(key).map_err(|_| NoteError::BadVerifierKey)?;
        let Some((&ED25519, public)) = key.split_first() else { return Err(NoteError::BadVerifierKey) };
        let public: [u8; 32] = public.try_into().map_err(|_| NoteError::BadVerifierKey)?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| NoteError::BadVerifierKey)?;
        if key_id(name, &key) != id {
            return Err(NoteError::BadVerifierKey);
        }
        Ok(NoteVerifier { name: name.to_string(), id, key })
    }

    /// The text of `note` if one of its signatures is a valid one by this key. Signatures by
    /// other keys (a witness's cosignature) are allowed and ignored.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        if signatures.is_empty() || !signatures.ends_with('\n') {
            return Err(NoteError::Malformed);
        }
        for line in signatures.lines() {
            let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(NoteError::Malformed)?;
            let (name, blob) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
            let blob = BASE64.decode(blob).map_err(|_| NoteError::Malformed)?;
            if name != self.name || blob.len() != 4 + 64 || blob[..4] != self.id.to_be_bytes() {
                continue;
            }
            let Ok(signature) = Signature::from_slice(&blob[4..]) else { continue };
            if self.key.verify_strict(text.as_bytes(), &signature).is_ok() {
                return Ok(text);
            }
        }
        Err(NoteError::NotSigned)
    }
}

/// What a checkpoint says: the tree of `size` leaves of the log `origin` has root `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size and root, each on its own line.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root))
    }

    /// The checkpoint in a note's text (extension lines after the third are allowed and ignored).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(NoteError::BadCheckpoint);
        };
        let canonical_size = !size.is_empty() && (size == "0" || !size.starts_with('0'));
        let size = canonical_size.then(|| size.parse::<u64>().ok()).flatten().ok_or(NoteError::BadCheckpoint)?;
        let root: Hash = BASE64.decode(root).ok().and_then(|r| r.try_into().ok()).ok_or(NoteError::BadCheckpoint)?;
        if origin.is_empty() {
            return Err(NoteError::BadCheckpoint);
        }
        Ok(Checkpoint { origin: origin.to_string(), size, root })
    }

    /// Sign this checkpoint as a note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        signer.sign(&self.text())
    }

    /// The checkpoint of a signed note, if `verifier` signed it.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        Checkpoint::parse(verifier.open(note)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Go reference implementation of signed notes
    /// (golang.org/x/mod/sumdb/note): its verifier key, text and signed note.
    const VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, &[seed; 32]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn verifier(key: &str) -> NoteVerifier {
        NoteVerifier::parse(key).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn opens_a_note_of_the_reference_implementation() {
        // Parsing checks the key id against the key, so this also checks the id's derivation.
        assert_eq!(verifier(VERIFIER).open(SIGNED), Ok(TEXT));
    }

    #[test]
    fn signs_what_it_verifies() {
        let signer = signer("tipline.example/audit", 1);
        let note = signer.sign(TEXT).unwrap_or_default();
        assert!(note.starts_with(TEXT) && note.contains("\n\n\u{2014} tipline.example/audit "));
        assert_eq!(verifier(&signer.verifier_key()).open(&note), Ok(TEXT));
        assert_eq!(signer.sign("no final newline"), Err(NoteError::Malformed));
    }

    #[test]
    fn a_changed_text_or_another_key_is_refused() {
        let verifier = verifier(VERIFIER);
        let changed = SIGNED.replacen("problem,", "problem;", 1);
        assert_eq!(verifier.open(&changed), Err(NoteError::NotSigned));
        let other = signer("PeterNeumann", 7);
        let by_other = other.sign(TEXT).unwrap_or_default();
        assert_eq!(verifier.open(&by_other), Err(NoteError::NotSigned));
        assert_eq!(verifier.open(TEXT), Err(NoteError::Malformed));
        // A verifier key whose id does not match its key is refused.
        assert!(NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        assert!(NoteSigner::new("two words", &[7; 32]).is_err());
    }

    #[test]
    fn a_cosigned_note_still_opens() {
        let log = signer("tipline.example/audit", 1);
        let witness = signer("witness.example", 9);
        let signed = log.sign(TEXT).unwrap_or_default();
        let witness_line = witness.sign(TEXT).unwrap_or_default();
        let witness_line = witness_line.rsplit_once("\n\n").map(|(_, l)| l).unwrap_or_default();
        let cosigned = format!("{signed}{witness_line}");
        assert_eq!(verifier(&log.verifier_key()).open(&cosigned), Ok(TEXT));
        assert_eq!(verifier(&witness.verifier_key()).open(&cosigned), Ok(TEXT));
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_bad_text() {
        let signer = signer("tipline.example/audit", 3);
        let checkpoint = Checkpoint { origin: "tipline.example/audit".into(), size: 42, root: [5; 32] };
        assert_eq!(checkpoint.text(), format!("tipline.example/audit\n42\n{}\n", BASE64.encode([5u8; 32])));
        let note = checkpoint.sign(&signer).unwrap_or_default();
        assert_eq!(Checkpoint::open(&note, &verifier(&signer.verifier_key())), Ok(checkpoint));
        for bad in ["o\n042\nAAAA\n", "o\n-1\n\n", "\n1\nBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=\n", "o\n1\n"] {
            assert_eq!(Checkpoint::parse(bad), Err(NoteError::BadCheckpoint), "{bad:?}");
        }
    }
}
