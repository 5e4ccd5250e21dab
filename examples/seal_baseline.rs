//! The raw rate of "encrypt and write with fsync" on this machine (SPEC §11 upload benchmark):
//! reads a file, seals it with the same chunked AEAD the service uses (`blobs::sealed`) in the
//! same 256 KiB steps, writes the ciphertext to a new file, fsyncs it, and prints MiB/s. No
//! HTTP, no hashing, no database: what the upload path cannot beat.
//!
//! cargo run --release --example seal_baseline -- INPUT OUTPUT

use std::io::{Read, Write};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (input, output) = match (args.next(), args.next()) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err("usage: seal_baseline INPUT OUTPUT".into()),
    };
    let mut source = std::fs::File::open(&input)?;
    let started = Instant::now();
    let mut out = std::fs::File::create(&output)?;
    let (mut sealer, header) = tipline::blobs::sealed::Sealer::new(&[7; 32], b"baseline");
    out.write_all(&header)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        out.write_all(&sealer.update(&buf[..n]).map_err(|e| e.to_string())?)?;
    }
    out.write_all(&sealer.finish().map_err(|e| e.to_string())?)?;
    out.sync_all()?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{:.1}", total as f64 / (1 << 20) as f64 / seconds);
    Ok(())
}
