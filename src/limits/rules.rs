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

/// `n` takes one after the other at `now`: each answer, and the level to store when any take
/// changed it (a token given, or the first refusal of a dry spell).
pub fn take_many(
    level: Option<Level>,
    rate: u32,
    now: NaiveDateTime,
    n: usize,
) -> (Option<Level>, Vec<Result<(), Refusal>>) {
    let mut current = level;
    let mut changed = None;
    let answers = (0..n)
        .map(|_| match take(current, rate, now) {
            Ok(next) => {
                current = Some(next);
                changed = Some(next);
                Ok(())
            }
            Err(refusal) => {
                if refusal.first {
                    current = Some(refusal.level);
                    changed = Some(refusal.level);
                }
                Err(refusal)
            }
        })
        .collect();
    (changed, answers)
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
    fn many_takes_at_once_are_the_same_as_one_after_the_other() {
        let start = drain(6, 4, t(0));
        let (stored, answers) = take_many(start, 6, t(0), 4);
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 2, "two tokens were left");
        let refusals: Vec<&Refusal> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
        assert_eq!(refusals.len(), 2);
        assert!(refusals[0].first && !refusals[1].first, "one refusal audited per dry spell");
        let stored = stored.expect("changed");
        assert!(stored.exhausted && stored.tokens < 1.0);
        let (unchanged, again) = take_many(Some(stored), 6, t(0), 3);
        assert!(unchanged.is_none(), "refusals after the first change nothing");
        assert!(again.iter().all(|a| a.as_ref().is_err_and(|r| !r.first)));
        let (_, none) = take_many(None, 6, t(0), 0);
        assert!(none.is_empty());
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
