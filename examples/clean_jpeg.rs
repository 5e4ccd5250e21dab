//! Time and memory of cleaning a phone photo (SPEC §11): a 12-megapixel JPEG (4000 × 3000,
//! textured, with an EXIF block) made in memory, cleaned upright (segments walked and copied:
//! orientation 1) and turned (decoded, turned and encoded again: orientation 6).
//!
//! Prints, one `key=value` per line: the input's size, the median time over the runs of each
//! path, and the peak resident memory (VmHWM from /proc/self/status) before cleaning (with the
//! two photos in memory) and during each path. The peak is started over (`/proc/self/clear_refs`)
//! before each, so making the photos does not count.
//!
//! ```sh
//! cargo run --release --example clean_jpeg -- [RUNS]    # default 5
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use tipline::blobs::clean::{clean, Kind};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;
const DEFAULT_RUNS: usize = 5;

/// Gradients under pseudo-random grain, so the JPEG is as large as a real photo's.
fn textured() -> RgbImage {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let grain = (state >> 56) as u8 / 8;
        image::Rgb([(x / 16) as u8 / 2 + grain, (y / 12) as u8 / 2 + grain, ((x + y) / 28) as u8 / 2 + grain])
    })
}

/// An EXIF APP1 segment: IFD0 with Make, Model and Orientation (big-endian TIFF).
fn exif_segment(orientation: u16) -> Vec<u8> {
    let make = b"Phone Maker\0"; // 12 bytes, stored after the IFD
    let model = b"Phone 12 Pro\0"; // 13 bytes
    let ifd_at = 8u32;
    let values_at = ifd_at + 2 + 3 * 12 + 4;
    let mut tiff = b"MM\0\x2A".to_vec();
    tiff.extend_from_slice(&ifd_at.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_be_bytes());
        tiff.extend_from_slice(&kind.to_be_bytes());
        tiff.extend_from_slice(&count.to_be_bytes());
        tiff.extend_from_slice(&value);
    };
    entry(&mut tiff, 0x010F, 2, make.len() as u32, values_at.to_be_bytes());
    entry(&mut tiff, 0x0110, 2, model.len() as u32, (values_at + make.len() as u32).to_be_bytes());
    let [high, low] = orientation.to_be_bytes();
    entry(&mut tiff, 0x0112, 3, 1, [high, low, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(make);
    tiff.extend_from_slice(model);
    let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
    let length = (payload.len() + 2) as u16;
    [&[0xFF, 0xE1][..], &length.to_be_bytes(), &payload].concat()
}

fn photo(pixels: &RgbImage, orientation: u16) -> Result<Vec<u8>, String> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .write_image(pixels.as_raw(), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .map_err(|e| format!("encoding the photo: {e}"))?;
    jpeg.splice(2..2, exif_segment(orientation));
    Ok(jpeg)
}

/// Starts the peak over from the current resident size (Linux 4.0 and later; best effort).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM of this process in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn run(label: &str, jpeg: &[u8], runs: usize) -> Result<(), String> {
    reset_peak();
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let cleaned = clean(Kind::Jpeg, jpeg).map_err(|e| format!("cleaning ({label}): {e}"))?;
        times.push(start.elapsed());
        size = cleaned.len();
    }
    println!("{label}_median_ms={:.1}", median(times).as_secs_f64() * 1000.0);
    println!("{label}_clean_bytes={size}");
    println!("{label}_vmhwm_kib={}", peak_rss_kib().map_or("unknown".into(), |k| k.to_string()));
    Ok(())
}

fn main() -> ExitCode {
    let runs = match std::env::args().nth(1).map(|arg| arg.parse::<usize>()) {
        None => DEFAULT_RUNS,
        Some(Ok(runs)) if runs > 0 => runs,
        Some(_) => {
            eprintln!("usage: clean_jpeg [RUNS]   (a positive whole number, default {DEFAULT_RUNS})");
            return ExitCode::FAILURE;
        }
    };
    let result = (|| {
        let pixels = textured();
        let upright = photo(&pixels, 1)?;
        let turned = photo(&pixels, 6)?;
        drop(pixels);
        println!("megapixels={:.1}", f64::from(WIDTH * HEIGHT) / 1e6);
        println!("input_bytes={}", upright.len());
        println!("runs={runs}");
        reset_peak();
        println!("before_vmhwm_kib={}", peak_rss_kib().map_or("unknown".into(), |k| k.to_string()));
        run("upright", &upright, runs)?;
        run("turned", &turned, runs)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("clean_jpeg: {message}");
            ExitCode::FAILURE
        }
    }
}
