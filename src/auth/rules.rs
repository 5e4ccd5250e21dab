//! Rules of sign-in: the login throttle's state machine (SPEC §3). Plain functions, tested
//! without a database.

use chrono::{Duration, NaiveDateTime};

use super::ThrottleRow as State;

pub const MAX_FAILURES: i32 = 5;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);

/// Seconds until the lock lifts, if the key is locked now.
pub fn locked_for(state: Option<&State>, now: NaiveDateTime) -> Option<u64> {
    let until = state?.locked_until?;
    (until > now).then(|| (until - now).num_seconds().max(1) as u64)
}

/// Whether a row says nothing any more at `now`: its window has passed and no lock holds, so
/// [`after_failure`] would start over from it. Such rows are removed ([`super::store::sweep_throttle`]).
pub fn expired(state: &State, now: NaiveDateTime) -> bool {
    now - state.window_started_at > WINDOW && state.locked_until.is_none_or(|until| until <= now)
}

/// The state after one more failure.
pub fn after_failure(state: Option<State>, key_hash: &str, now: NaiveDateTime) -> State {
    let fresh = State { key_hash: key_hash.to_string(), failures: 1, window_started_at: now, locked_until: None };
    let Some(mut state) = state else { return fresh };
    let lock_expired = state.locked_until.is_some_and(|until| until <= now);
    if lock_expired || now - state.window_started_at > WINDOW {
        return fresh;
    }
    state.failures += 1;
    if state.failures >= MAX_FAILURES && state.locked_until.is_none() {
        state.locked_until = Some(now + LOCKOUT);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc() + Duration::minutes(minutes)
    }

    fn fail_n(n: usize, at: NaiveDateTime) -> Option<State> {
        let mut s = None;
        for _ in 0..n {
            s = Some(after_failure(s, "k", at));
        }
        s
    }

    #[test]
    fn locks_after_five_failures_in_the_window() {
        let s = fail_n(4, t(0));
        assert_eq!(locked_for(s.as_ref(), t(1)), None);
        let s = Some(after_failure(s, "k", t(1)));
        assert_eq!(locked_for(s.as_ref(), t(1)), Some(15 * 60));
        assert_eq!(locked_for(s.as_ref(), t(16)), None, "the lock lifts by itself");
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let s = fail_n(4, t(0));
        let s = after_failure(s, "k", t(16));
        assert_eq!(s.failures, 1);
        assert_eq!(s.locked_until, None);
    }

    #[test]
    fn a_row_expires_once_its_window_and_lock_are_over() {
        let s = fail_n(2, t(0)).unwrap();
        assert!(!expired(&s, t(15)));
        assert!(expired(&s, t(16)));
        let locked = fail_n(5, t(14)).unwrap();
        assert!(!expired(&locked, t(20)), "the window is over but the lock holds until 29");
        assert!(expired(&locked, t(30)));
    }

    #[test]
    fn attempts_during_a_lock_do_not_extend_it() {
        let s = fail_n(5, t(0));
        let until = s.as_ref().unwrap().locked_until;
        let s = after_failure(s, "k", t(10));
        assert_eq!(s.locked_until, until);
    }
}
