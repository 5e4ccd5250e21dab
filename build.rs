// Rebuild when a migration folder is added: `embed_migrations!` only notices edits.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
