//! qmail's retry schedule (qmail-send.c `nextretry`).
//!
//! A message born at `birth` (the mtime of its info file) is retried on a
//! channel at `birth + (isqrt(now - birth) + skip)^2`, with `skip` 10 for
//! local and 20 for remote deliveries. On schedule, the attempts after
//! birth are at `(10k)^2` seconds locally (100 s, 400 s, 900 s, ...) and
//! `(20k)^2` remotely (400 s, 1600 s, 3600 s, ...).

use crate::rewrite::Channel;

/// `chanskip`: local, remote.
pub const SKIP: [i64; 2] = [10, 20];

/// A channel's `chanskip`.
pub fn skip(c: Channel) -> i64 {
    SKIP[c as usize]
}

/// The next attempt for a pass that starts at `recent`.
pub fn next_retry(birth: i64, recent: i64, skip: i64) -> i64 {
    let n = if birth > recent {
        0
    } else {
        (recent - birth).unsigned_abs().isqrt() as i64
    };
    let n = n + skip;
    birth.saturating_add(n.saturating_mul(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_on_schedule_follow_the_table() {
        // Local: attempts at (10k)^2.
        let mut t = 0;
        let mut times = vec![t];
        for _ in 0..6 {
            t = next_retry(0, t, SKIP[0]);
            times.push(t);
        }
        assert_eq!(times, vec![0, 100, 400, 900, 1600, 2500, 3600]);
        // Remote: attempts at (20k)^2.
        let mut t = 0;
        let mut times = vec![t];
        for _ in 0..5 {
            t = next_retry(0, t, SKIP[1]);
            times.push(t);
        }
        assert_eq!(times, vec![0, 400, 1600, 3600, 6400, 10000]);
    }

    #[test]
    fn late_attempts_and_the_week() {
        // A pass 50 s late counts from where it is: isqrt(150) = 12.
        assert_eq!(next_retry(1000, 1000 + 150, 10), 1000 + 22 * 22);
        // Born in the future (clock skew): as if just born.
        assert_eq!(next_retry(2000, 1000, 10), 2100);
        // The last local attempt inside 7 days and the one after it.
        assert_eq!(next_retry(0, 770 * 770, 10), 780 * 780);
    }
}
