//! The token bucket (SPEC §12.3): plain arithmetic over a level, tested without a database. A
//! bucket holds at most one minute's worth of tokens (`rate`) and refills at `rate` per minute.

use chrono::NaiveDateTime;

use super::Level;

/// Why a request was refused, and the bucket's level to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    pub retry_after_secs: u64,
    /// The first refusal since the bucket last gave a token: the one that is audited.
    pub first: bool,
    pub level: Level,
}

/// Tokens in the bucket at `now`. A bucket never seen is full; a clock that went back (another
/// instance's) refills nothing.
pub fn tokens_at(level: Option<&Level>, rate: u32, now: NaiveDateTime) -> f64 {
    let capacity = f64::from(rate);
    let Some(level) = level else { return capacity };
    let elapsed = (now - level.updated_at).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
    (level.tokens + elapsed * capacity / 60.0).min(capacity)
}

/// Takes one token: the new level, or the refusal.
pub fn take(level: Option<Level>, rate: u32, now: NaiveDateTime) -> Result<Level, Refusal> {
    let tokens = tokens_at(level.as_ref(), rate, now);
    if tokens >= 1.0 {
        return Ok(Level { tokens: tokens - 1.0, updated_at: now, exhausted: false });
    }
    let per_second = f64::from(rate.max(1)) / 60.0;
    let retry_after_secs = ((1.0 - tokens) / per_second).ceil().max(1.0) as u64;
    let first = !level.is_some_and(|l| l.exhausted);
    Err(Refusal { retry_after_secs, first, level: Level { tokens, updated_at: now, exhausted: true } })
}

/// Puts one token back (a receipt exchange that succeeded does not count as a failure).
pub fn give_back(level: Option<Level>, rate: u32, now: NaiveDateTime) -> Level {
    let tokens = (tokens_at(level.as_ref(), rate, now) + 1.0).min(f64::from(rate));
    Level { tokens, updated_at: now, exhausted: level.is_some_and(|l| l.exhausted) && tokens < 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t(millis: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc() + Duration::milliseconds(millis)
    }

    fn drain(rate: u32, n: usize, at: NaiveDateTime) -> Option<Level> {
        let mut level = None;
        for _ in 0..n {
            level = Some(take(level, rate, at).unwrap());
        }
        level
    }

    #[test]
    fn a_new_bucket_holds_one_minute_and_then_refuses() {
        let level = drain(6, 6, t(0));
        let refusal = take(level, 6, t(0)).unwrap_err();
        assert_eq!(refusal.retry_after_secs, 10, "6 a minute: one token every 10 s");
        assert!(refusal.first);
        let again = take(Some(refusal.level), 6, t(1_000)).unwrap_err();
        assert_eq!(again.retry_after_secs, 9);
        assert!(!again.first, "only the first refusal of a dry spell is audited");
    }

    #[test]
    fn refills_at_the_rate_and_no_further_than_one_minute() {
        let level = drain(60, 60, t(0));
        assert!(take(level, 60, t(500)).is_err());
        let level = take(level, 60, t(1_000)).unwrap();
        assert!(level.tokens.abs() < 1e-9 && !level.exhausted);
        assert_eq!(tokens_at(Some(&level), 60, t(3_600_000)), 60.0);
    }

    #[test]
    fn a_clock_behind_refills_nothing() {
        let level = drain(60, 60, t(10_000));
        assert_eq!(tokens_at(level.as_ref(), 60, t(0)), 0.0);
    }

    #[test]
    fn giving_back_restores_one_token_and_ends_a_dry_spell() {
        let level = drain(2, 2, t(0));
        let refusal = take(level, 2, t(0)).unwrap_err();
        let level = give_back(Some(refusal.level), 2, t(0));
        assert!(!level.exhausted);
        assert!(take(Some(level), 2, t(0)).is_ok());
        assert_eq!(give_back(None, 2, t(0)).tokens, 2.0, "never above one minute's worth");
    }
}
