//! The raw argon2id verification rate of this machine: the baseline that `bench/login.sh`
//! compares the service's logins per second with (see `docs/BENCHMARKS.md`).
//!
//! One thread per core, the size of the service's hashing semaphore, verifies the same hash
//! (made with the policy parameters) in a loop for a fixed time. The result is one line on
//! standard output, `argon2_verify_per_sec=<float>`, the total over all threads.
//!
//! ```sh
//! cargo run --release --example argon2_rate -- [SECONDS]    # default 10
//! ```

use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tipline::auth::password::{hash, verify, ITERATIONS, MEMORY_KIB, PARALLELISM};

const PASSWORD: &str = "argon2 rate benchmark password";
const DEFAULT_SECONDS: f64 = 10.0;

/// Verifies `stored` until `duration` has passed. Returns the number of verifications and the
/// time they took.
fn verify_for(stored: &str, duration: Duration) -> Result<(u64, Duration), String> {
    let start = Instant::now();
    let mut done: u64 = 0;
    while start.elapsed() < duration {
        if !verify(PASSWORD, Some(stored)).ok {
            return Err("a verification failed".into());
        }
        done += 1;
    }
    Ok((done, start.elapsed()))
}

fn main() -> ExitCode {
    let seconds = match std::env::args().nth(1) {
        None => DEFAULT_SECONDS,
        Some(arg) => match arg.parse::<f64>() {
            Ok(seconds) if seconds > 0.0 => seconds,
            _ => {
                eprintln!("usage: argon2_rate [SECONDS]   (a positive number, default 10)");
                return ExitCode::from(2);
            }
        },
    };
    let Ok(duration) = Duration::try_from_secs_f64(seconds) else {
        eprintln!("argon2_rate: {seconds} seconds is out of range");
        return ExitCode::from(2);
    };
    // The same count, and the same fallback, as `Passwords::for_this_machine`.
    let threads = thread::available_parallelism().map(|n| n.get()).unwrap_or(2);

    let stored = hash(PASSWORD).expect("hashing the benchmark password"); // ok: setup
    let start_line = Arc::new(Barrier::new(threads));
    let mut workers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let stored = stored.clone();
        let start_line = Arc::clone(&start_line);
        workers.push(thread::spawn(move || {
            start_line.wait();
            verify_for(&stored, duration)
        }));
    }

    let mut total: u64 = 0;
    let mut per_sec = 0.0;
    for worker in workers {
        match worker.join() {
            Ok(Ok((done, elapsed))) => {
                total += done;
                per_sec += done as f64 / elapsed.as_secs_f64();
            }
            Ok(Err(message)) => {
                eprintln!("argon2_rate: {message}");
                return ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("argon2_rate: a worker thread panicked");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "argon2_rate: argon2id m={MEMORY_KIB} t={ITERATIONS} p={PARALLELISM}, \
         {threads} threads for {seconds} s, {total} verifications"
    );
    println!("argon2_verify_per_sec={per_sec:.2}");
    ExitCode::SUCCESS
}
