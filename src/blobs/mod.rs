//! Evidence files at rest (SPEC §11): sealed as a stream ([`sealed`]) into a blob store
//! ([`local`]). What is stored never holds a plaintext byte or a file's name. What staff see by
//! default is a clean copy ([`clean`]): the real type from the bytes, the metadata dropped.

pub mod clean;
pub mod local;
pub mod sealed;
