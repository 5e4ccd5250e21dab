//! Password hashing: argon2id with the SPEC §3 parameters, on threads of its own (one per core),
//! so a login flood queues instead of exhausting memory or starving other requests.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    self, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::error::AppError;

pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn policy() -> Params {
    // The constants are within argon2's accepted ranges, and argon2's defaults are the same values.
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default()
}

thread_local! {
    /// This thread's argon2 working memory (19 MiB with the policy), allocated by its first hash
    /// and kept for the next. argon2 would allocate and free it for every hash; freed, it stays
    /// resident in the allocator's arenas, and in a login flood those filled up with several
    /// such blocks each (peak RSS ~250 MiB with two hashing threads). Kept here, the memory
    /// hashing uses is exactly one block per hashing thread.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2 computed in the calling thread's [`MEMORY`]. The same algorithm as `argon2::Argon2`'s
/// own `PasswordHasher`, which allocates instead; verification comes with the trait.
struct Argon2InThreadMemory;

impl PasswordHasher for Argon2InThreadMemory {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm.map(Algorithm::try_from).transpose()?.unwrap_or_default();
        let version = version.map(Version::try_from).transpose()?.unwrap_or_default();
        let salt = salt.into();
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(output_len, |out| {
            MEMORY.with_borrow_mut(|memory| {
                // Stored hashes are this service's own, so the size is the policy's or an
                // older policy's; the buffer grows to the largest seen.
                let blocks = params.block_count();
                if memory.len() < blocks {
                    memory.resize(blocks, Block::default());
                }
                argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..blocks])
            })?;
            Ok(())
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
}

/// Hashes with the policy parameters. CPU-heavy: call through [`Passwords`].
pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    let algorithm = Some(Algorithm::Argon2id.ident());
    Argon2InThreadMemory
        .hash_password_customized(password.as_bytes(), algorithm, Some(Version::V0x13.into()), policy(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AppError::internal("password hashing failed"))
}

/// A hash of a random password, verified when the email is unknown so that an unknown email
/// costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = hex::encode(crate::crypto::random_bytes::<16>());
    hash(&random).unwrap_or_default()
});

#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses weaker parameters than the policy: hash again on success.
    pub needs_rehash: bool,
}

/// Verifies `password` against `stored` (a PHC string), or against the dummy hash when there is
/// no account, which always fails.
pub fn verify(password: &str, stored: Option<&str>) -> Verified {
    let phc = stored.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verified { ok: false, needs_rehash: false };
    };
    let ok = Argon2InThreadMemory.verify_password(password.as_bytes(), &parsed).is_ok() && stored.is_some();
    Verified { ok, needs_rehash: ok && below_policy(&parsed) }
}

fn below_policy(hash: &PasswordHash<'_>) -> bool {
    if hash.algorithm.as_str() != "argon2id" {
        return true;
    }
    let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
    param("m") < MEMORY_KIB || param("t") < ITERATIONS || param("p") < PARALLELISM
}

type Job = Box<dyn FnOnce() + Send>;

/// Which queue a hashing job waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Every login, registration and password change.
    Any,
    /// A staff login that came with a live device token of its account (SPEC §12.2), as
    /// [`Lane::for_login`] decides. Its queue is taken first and is not the one a flood fills,
    /// so a staff member signing in from a known device waits only for the hashes running now,
    /// whatever a flood of strangers has queued.
    KnownDevice,
}

impl Lane {
    /// The lane of a login to the account of `role` (`None`: no such account), that came with a
    /// live device token of that account (checked in the database) or not. Only staff accounts
    /// earn the known devices' lane: anyone may register a reporter account and sign in with
    /// its device token again and again, and would hold the lane against staff.
    pub fn for_login(known_device: bool, role: Option<crate::users::Role>) -> Lane {
        match (known_device, role) {
            (true, Some(role)) if role != crate::users::Role::Reporter => Lane::KnownDevice,
            _ => Lane::Any,
        }
    }
}

/// The queued jobs, behind one lock that the hashing threads wait on.
struct Queues {
    lanes: Mutex<Lanes>,
    ready: Condvar,
    /// Jobs skipped because nobody waited for their answer any more.
    dropped: AtomicU64,
}

#[derive(Default)]
struct Lanes {
    any: VecDeque<Job>,
    known_device: VecDeque<Job>,
    /// Set when the last [`Passwords`] handle is dropped: the threads end.
    closed: bool,
}

impl Queues {
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        // A job runs outside the lock, so nothing can poison it half-way through a change.
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next job, known devices first; `None` once closed.
    fn take(&self) -> Option<Job> {
        let mut lanes = self.lock();
        loop {
            if let Some(job) = lanes.known_device.pop_front().or_else(|| lanes.any.pop_front()) {
                return Some(job);
            }
            if lanes.closed {
                return None;
            }
            lanes = self.ready.wait(lanes).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Closes the queues when the last [`Passwords`] handle goes.
struct Closer(Arc<Queues>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

/// Runs hashing on a small pool of its own: one thread per core, fed by bounded queues, at the
/// lowest priority ([`lower_priority`]).
///
/// At most one hash per core runs at a time, so a login flood cannot starve other requests. The
/// threads are dedicated because each hash allocates 19 MiB: on the general blocking pool,
/// dozens of threads would each keep such a block in their own allocator arena (seen: ~970 MiB
/// RSS in a 64-connection flood), while here memory stays at about one block per core. The
/// threads end when the last handle is dropped.
///
/// Each [`Lane`] holds a few jobs per thread (SPEC §12.3). When a lane is full, a request is
/// refused at once with 503 ([`AppError::Busy`]) instead of waiting behind a flood; and a job
/// whose request was dropped (the client hung up, so actix dropped the handler's future and
/// with it the receiving end of the job's answer) is skipped when a thread takes it, never
/// hashed.
#[derive(Clone)]
pub struct Passwords {
    queues: Arc<Queues>,
    _closer: Arc<Closer>,
    /// How many jobs may wait in the lane of every request, and in that of known devices.
    capacity: usize,
    known_device_capacity: usize,
}

/// Seconds a client is told to wait when the queue is full: it drains in well under one.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

impl Passwords {
    /// `threads` hashing threads, and at most `queue` jobs waiting for them in the lane of every
    /// request (and as many as there are threads in the lane of known devices).
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let queues = Arc::new(Queues { lanes: Mutex::default(), ready: Condvar::new(), dropped: AtomicU64::new(0) });
        for n in 0..threads {
            let queues = Arc::clone(&queues);
            let spawned = std::thread::Builder::new().name(format!("tipline-hash-{n}")).spawn(move || {
                lower_priority();
                while let Some(job) = queues.take() {
                    job()
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a hashing thread");
            }
        }
        Passwords {
            _closer: Arc::new(Closer(Arc::clone(&queues))),
            queues,
            capacity: queue.max(1),
            known_device_capacity: threads,
        }
    }

    /// As configured (`TIPLINE_HASH_THREADS`, `TIPLINE_HASH_QUEUE`): by default one thread per
    /// core and [`crate::config::HASH_JOBS_PER_THREAD`] waiting jobs per thread.
    pub fn configured(config: &crate::config::Config) -> Self {
        let threads = config.hash_threads.unwrap_or_else(cores);
        Self::new(threads, config.hash_queue.unwrap_or(threads * crate::config::HASH_JOBS_PER_THREAD))
    }

    pub fn for_this_machine() -> Self {
        let threads = cores();
        Self::new(threads, threads * crate::config::HASH_JOBS_PER_THREAD)
    }

    /// How many queued jobs were skipped because their request had gone.
    pub fn dropped(&self) -> u64 {
        self.queues.dropped.load(Ordering::Relaxed)
    }

    fn has_room(&self, lanes: &Lanes, lane: Lane) -> bool {
        match lane {
            Lane::Any => lanes.any.len() < self.capacity,
            Lane::KnownDevice => lanes.known_device.len() < self.known_device_capacity,
        }
    }

    /// 503 at once when `lane` is full: called by login and registration before their other
    /// work (reading the account, taking a token), so that a flood is refused at the cost of
    /// parsing its requests. Hashing itself still checks, since the queue may fill meanwhile.
    pub fn ensure_room(&self, lane: Lane) -> Result<(), AppError> {
        match self.has_room(&self.queues.lock(), lane) {
            true => Ok(()),
            false => Err(AppError::Busy { retry_after_secs: BUSY_RETRY_AFTER_SECS }),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        lane: Lane,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (done, result) = oneshot::channel();
        let queues = Arc::clone(&self.queues);
        let job: Job = Box::new(move || {
            if done.is_closed() {
                queues.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let _ = done.send(work());
        });
        {
            let mut lanes = self.queues.lock();
            if !self.has_room(&lanes, lane) {
                return Err(AppError::Busy { retry_after_secs: BUSY_RETRY_AFTER_SECS });
            }
            match lane {
                Lane::Any => lanes.any.push_back(job),
                Lane::KnownDevice => lanes.known_device.push_back(job),
            }
        }
        self.queues.ready.notify_one();
        result.await.map_err(|_| AppError::internal("hashing task failed"))
    }

    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, AppError> {
        self.run(Lane::Any, move || hash(&password)).await?
    }

    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
        lane: Lane,
    ) -> Result<Verified, AppError> {
        self.run(lane, move || verify(&password, stored.as_deref())).await
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Runs the calling hashing thread at the lowest scheduling priority (nice 19 on Linux).
///
/// A hash is 15–20 ms of pure CPU, and a login flood keeps every hashing thread busy: at the
/// same priority as the request workers, a health probe or a queue read would wait behind it
/// for a time slice. At the lowest priority the scheduler gives the workers the CPU the moment
/// they need it and the hashes take the rest, so logins still use all the idle CPU. The price,
/// chosen knowingly: when other work keeps every core busy, logins slow down first. Where the
/// platform refuses, hashing runs at normal priority.
fn lower_priority() {
    if let Err(e) = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min) {
        tracing::warn!(error = ?e, "cannot lower the priority of a hashing thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_uses_policy_and_verifies() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(verify("correct horse battery", Some(&h)), Verified { ok: true, needs_rehash: false });
        assert!(!verify("wrong horse battery", Some(&h)).ok);
    }

    #[test]
    fn agrees_with_the_argon2_crate() {
        let ours = hash("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, policy())
            .hash_password(b"battery staple", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(verify("battery staple", Some(&theirs)), Verified { ok: true, needs_rehash: false });
        assert!(!verify("battery stapler", Some(&theirs)).ok);
    }

    #[test]
    fn unknown_account_never_verifies() {
        assert!(!verify("anything at all", None).ok);
    }

    /// Holds the only hashing thread until the returned sender is dropped or sent to.
    fn occupy(passwords: &Passwords) -> (std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let job: Job = Box::new(move || {
            let _ = started.send(());
            let _ = wait.recv();
        });
        passwords.queues.lock().any.push_back(job);
        passwords.queues.ready.notify_one();
        (release, running)
    }

    #[test]
    fn a_full_queue_is_refused_at_once() {
        use futures_util::FutureExt;
        let passwords = Passwords::new(1, 1);
        let (release, running) = occupy(&passwords);
        running.recv().unwrap();
        let queued = passwords.verify(Zeroizing::new("queued password".into()), None, Lane::Any).boxed();
        let mut queued = queued;
        assert!((&mut queued).now_or_never().is_none(), "queued behind the running job");
        assert!(matches!(passwords.ensure_room(Lane::Any), Err(AppError::Busy { .. })));
        let refused = passwords.verify(Zeroizing::new("one too many".into()), None, Lane::Any).now_or_never();
        assert!(matches!(refused, Some(Err(AppError::Busy { retry_after_secs: 1 }))), "{refused:?}");
        release.send(()).unwrap();
        let verified = futures_executor_block_on(queued).unwrap();
        assert!(!verified.ok);
        assert!(passwords.ensure_room(Lane::Any).is_ok(), "the queue is empty again");
        assert_eq!(passwords.dropped(), 0);
    }

    #[test]
    fn a_job_whose_request_is_gone_is_not_hashed() {
        use futures_util::FutureExt;
        let passwords = Passwords::new(1, 4);
        let (release, running) = occupy(&passwords);
        running.recv().unwrap();
        let hashed = Arc::new(AtomicU64::new(0));
        for _ in 0..3 {
            let hashed = Arc::clone(&hashed);
            // Polled once, the job is queued; dropped, as actix drops a handler whose client
            // hung up.
            let abandoned = passwords.run(Lane::Any, move || {
                hashed.fetch_add(1, Ordering::Relaxed);
                hash("never hashed")
            });
            assert!(abandoned.boxed().now_or_never().is_none());
        }
        let kept = Arc::clone(&hashed);
        let waited = passwords.run(Lane::Any, move || kept.fetch_add(1, Ordering::Relaxed)).boxed();
        let mut waited = waited;
        assert!((&mut waited).now_or_never().is_none());
        release.send(()).unwrap();
        futures_executor_block_on(waited).unwrap();
        assert_eq!(passwords.dropped(), 3, "the three abandoned jobs were skipped");
        assert_eq!(hashed.load(Ordering::Relaxed), 1, "only the job still awaited ran");
    }

    #[test]
    fn a_known_device_passes_a_full_queue() {
        use futures_util::FutureExt;
        let passwords = Passwords::new(1, 2);
        let (release, running) = occupy(&passwords);
        running.recv().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let queue = |lane: Lane, name: &'static str| {
            let order = Arc::clone(&order);
            passwords.run(lane, move || order.lock().unwrap().push(name)).boxed()
        };
        let mut flood = vec![queue(Lane::Any, "stranger 1"), queue(Lane::Any, "stranger 2")];
        for job in &mut flood {
            assert!(job.now_or_never().is_none());
        }
        assert!(matches!(passwords.ensure_room(Lane::Any), Err(AppError::Busy { .. })), "strangers fill their lane");
        assert!(passwords.ensure_room(Lane::KnownDevice).is_ok());
        let mut owner = queue(Lane::KnownDevice, "owner");
        assert!((&mut owner).now_or_never().is_none());
        assert!(
            matches!(passwords.ensure_room(Lane::KnownDevice), Err(AppError::Busy { .. })),
            "the known-device lane is bounded too (one job per thread)"
        );
        release.send(()).unwrap();
        futures_executor_block_on(async {
            owner.await.unwrap();
            for job in flood {
                job.await.unwrap();
            }
        });
        assert_eq!(*order.lock().unwrap(), ["owner", "stranger 1", "stranger 2"], "the owner's hash runs first");
    }

    #[test]
    fn only_staff_on_a_known_device_get_the_known_devices_lane() {
        use crate::users::Role;
        for role in [Role::Caseworker, Role::Admin] {
            assert_eq!(Lane::for_login(true, Some(role)), Lane::KnownDevice);
            assert_eq!(Lane::for_login(false, Some(role)), Lane::Any);
        }
        assert_eq!(Lane::for_login(true, Some(Role::Reporter)), Lane::Any, "a reporter account is anyone's");
        assert_eq!(Lane::for_login(true, None), Lane::Any);
        assert_eq!(Lane::for_login(false, None), Lane::Any);
    }

    #[test]
    fn the_threads_end_with_the_last_handle() {
        let passwords = Passwords::new(2, 2);
        let queues = Arc::downgrade(&passwords.queues);
        let copy = passwords.clone();
        drop(passwords);
        assert!(!copy.queues.lock().closed, "a handle is left");
        drop(copy);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while queues.strong_count() > 0 {
            assert!(std::time::Instant::now() < deadline, "the hashing threads still hold the queues");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Waits for a future on this thread (the hashing threads do the work).
    fn futures_executor_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    #[test]
    fn weaker_hash_asks_for_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap())
            .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(verify("correct horse battery", Some(&weak)), Verified { ok: true, needs_rehash: true });
    }
}
