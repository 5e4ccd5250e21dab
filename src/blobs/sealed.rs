//! Files encrypted as a stream (SPEC §11): the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár) over XChaCha20-Poly1305, so a file of any size is encrypted and decrypted chunk by chunk
//! in constant memory, and a chunk that is changed, moved, dropped or cut off is refused.
//!
//! Layout: a header (`MAGIC` and the 19-byte nonce prefix, random per file), then chunks of
//! `CHUNK` plaintext bytes each followed by its 16-byte tag; the last chunk holds 0 to `CHUNK`
//! bytes and is sealed as the last one, so a file cut at a chunk boundary does not open. Every
//! chunk is bound to the caller's associated data (which file of which record it is).
//!
//! Pure: bytes in, bytes out. Where the ciphertext is written is [`super::local`]'s business.

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MAGIC: &[u8; 4] = b"TLB1";
const NONCE_PREFIX: usize = 19;
/// Bytes before the first chunk.
pub const HEADER_LEN: usize = MAGIC.len() + NONCE_PREFIX;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Changed, reordered, truncated, under another key or associated data, or not ours at all.
    #[error("the sealed file does not open")]
    Corrupt,
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// Encrypts one file as it arrives.
pub struct Sealer {
    encryptor: Option<EncryptorBE32<XChaCha20Poly1305>>,
    pending: Vec<u8>,
    aad: Vec<u8>,
}

impl Sealer {
    /// A sealer and the header to write first.
    pub fn new(key: &[u8; 32], aad: &[u8]) -> (Self, Vec<u8>) {
        let prefix: [u8; NONCE_PREFIX] = crate::crypto::random_bytes();
        let encryptor = EncryptorBE32::from_aead(cipher(key), (&prefix).into());
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&prefix);
        (Sealer { encryptor: Some(encryptor), pending: Vec::with_capacity(CHUNK), aad: aad.to_vec() }, header)
    }

    /// Takes more plaintext; returns the ciphertext of every chunk now complete. A chunk is only
    /// sealed once more data follows it, since the last one is sealed differently.
    pub fn update(&mut self, mut data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.pending.len() == CHUNK {
                let encryptor = self.encryptor.as_mut().ok_or(SealError::Corrupt)?;
                let sealed = encryptor
                    .encrypt_next(Payload { msg: &self.pending, aad: &self.aad })
                    .map_err(|_| SealError::Corrupt)?;
                out.extend_from_slice(&sealed);
                self.pending.clear();
            }
            let take = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Seals what is left as the last chunk.
    pub fn finish(mut self) -> Result<Vec<u8>, SealError> {
        let encryptor = self.encryptor.take().ok_or(SealError::Corrupt)?;
        encryptor.encrypt_last(Payload { msg: &self.pending, aad: &self.aad }).map_err(|_| SealError::Corrupt)
    }
}

/// Decrypts one file as it is read.
pub struct Opener {
    decryptor: Option<DecryptorBE32<XChaCha20Poly1305>>,
    pending: Vec<u8>,
    aad: Vec<u8>,
}

impl Opener {
    /// An opener for the file whose first [`HEADER_LEN`] bytes are `header`.
    pub fn new(key: &[u8; 32], aad: &[u8], header: &[u8]) -> Result<Self, SealError> {
        let prefix = header.strip_prefix(MAGIC.as_slice()).ok_or(SealError::Corrupt)?;
        let prefix: &[u8; NONCE_PREFIX] = prefix.try_into().map_err(|_| SealError::Corrupt)?;
        let decryptor = DecryptorBE32::from_aead(cipher(key), prefix.into());
        Ok(Opener { decryptor: Some(decryptor), pending: Vec::with_capacity(CHUNK + TAG), aad: aad.to_vec() })
    }

    /// Takes more ciphertext; returns the plaintext of every chunk that is now known not to be
    /// the last one.
    pub fn update(&mut self, mut data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.pending.len() == CHUNK + TAG {
                let decryptor = self.decryptor.as_mut().ok_or(SealError::Corrupt)?;
                let plain = decryptor
                    .decrypt_next(Payload { msg: &self.pending, aad: &self.aad })
                    .map_err(|_| SealError::Corrupt)?;
                out.extend_from_slice(&plain);
                self.pending.clear();
            }
            let take = (CHUNK + TAG - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Opens the last chunk; fails when the file was cut off anywhere.
    pub fn finish(mut self) -> Result<Vec<u8>, SealError> {
        let decryptor = self.decryptor.take().ok_or(SealError::Corrupt)?;
        decryptor.decrypt_last(Payload { msg: &self.pending, aad: &self.aad }).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const AAD: &[u8] = b"attachment 1 original";

    /// Seals `data` fed in pieces of `piece` bytes: (header, body).
    fn seal(data: &[u8], piece: usize) -> (Vec<u8>, Vec<u8>) {
        let (mut sealer, header) = Sealer::new(&KEY, AAD);
        let mut body = Vec::new();
        for part in data.chunks(piece.max(1)) {
            body.extend(sealer.update(part).unwrap_or_default());
        }
        body.extend(sealer.finish().unwrap_or_default());
        (header, body)
    }

    fn open(header: &[u8], body: &[u8], piece: usize, aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut opener = Opener::new(&KEY, aad, header)?;
        let mut out = Vec::new();
        for part in body.chunks(piece.max(1)) {
            out.extend(opener.update(part)?);
        }
        out.extend(opener.finish()?);
        Ok(out)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_boundary_in_any_piece_size() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17] {
            let plain = data(len);
            for piece in [1000, CHUNK, 7 * CHUNK] {
                let (header, body) = seal(&plain, piece);
                assert_eq!(header.len(), HEADER_LEN);
                let chunks = len.div_ceil(CHUNK).max(1);
                assert_eq!(body.len(), len + chunks * TAG, "len {len}");
                assert_eq!(open(&header, &body, 4096, AAD).as_deref(), Ok(plain.as_slice()), "len {len} piece {piece}");
            }
        }
    }

    #[test]
    fn the_ciphertext_holds_no_plaintext() {
        let plain = b"GPS 51.9225 4.47917 camera serial 0xDEADBEEF".repeat(100);
        let (header, body) = seal(&plain, 100);
        let all = [header, body].concat();
        assert!(!all.windows(10).any(|w| w == &plain[..10]));
    }

    #[test]
    fn truncated_reordered_or_changed_files_are_refused() {
        let plain = data(3 * CHUNK + 100);
        let (header, body) = seal(&plain, CHUNK);
        let block = CHUNK + TAG;
        // Cut at a chunk boundary, cut inside a chunk, last chunk dropped.
        for cut in [block, 2 * block, 3 * block, body.len() - 1, 10] {
            assert_eq!(open(&header, &body[..cut], 4096, AAD), Err(SealError::Corrupt), "cut at {cut}");
        }
        // The first two chunks swapped.
        let mut swapped = body[block..2 * block].to_vec();
        swapped.extend_from_slice(&body[..block]);
        swapped.extend_from_slice(&body[2 * block..]);
        assert_eq!(open(&header, &swapped, 4096, AAD), Err(SealError::Corrupt));
        // One bit flipped; another file's associated data; another header; another key.
        let mut flipped = body.clone();
        flipped[CHUNK + 3] ^= 1;
        assert_eq!(open(&header, &flipped, 4096, AAD), Err(SealError::Corrupt));
        assert_eq!(open(&header, &body, 4096, b"attachment 2 original"), Err(SealError::Corrupt));
        let (other_header, _) = seal(b"x", 1);
        assert_eq!(open(&other_header, &body, 4096, AAD), Err(SealError::Corrupt));
        assert!(Opener::new(&[8; 32], AAD, &header).is_ok_and(|o| o.finish().is_err()));
        assert_eq!(Opener::new(&KEY, AAD, b"TLB0").err(), Some(SealError::Corrupt));
    }
}
