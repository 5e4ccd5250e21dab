//! Evidence files at rest (SPEC §11): sealed as a stream ([`sealed`]) into a blob store
//! ([`local`]). What is stored never holds a plaintext byte or a file's name.

pub mod local;
pub mod sealed;
