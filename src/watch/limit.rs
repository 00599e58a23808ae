//! The hourly mail budget: at most `max_mails_per_hour` event mails in any
//! hour; beyond, events wait `digest_delay` and leave as one digest.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOUR: Duration = Duration::from_secs(3600);

pub struct Limiter {
    max: usize,
    digest_delay: Duration,
    sent: VecDeque<Instant>,
    /// When the first event that did not fit arrived.
    over_since: Option<Instant>,
}

impl Limiter {
    pub fn new(max_per_hour: u32, digest_delay: Duration) -> Limiter {
        Limiter {
            max: max_per_hour as usize,
            digest_delay,
            sent: VecDeque::new(),
            over_since: None,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= HOUR)
        {
            self.sent.pop_front();
        }
    }

    /// True, and counted, when one more event mail fits in the budget.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.expire(now);
        if self.sent.len() < self.max && self.over_since.is_none() {
            self.sent.push_back(now);
            true
        } else {
            self.over_since.get_or_insert(now);
            false
        }
    }

    /// Whether one more event mail would fit now (nothing counted).
    pub fn has_room(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.sent.len() < self.max && self.over_since.is_none()
    }

    pub fn digest_due(&self, now: Instant) -> bool {
        self.until_digest(now).is_zero()
    }

    /// Time left before the waiting events go out as a digest.
    pub fn until_digest(&self, now: Instant) -> Duration {
        match self.over_since {
            Some(t) => (t + self.digest_delay).saturating_duration_since(now),
            // Events kept from before a restart: send them soon.
            None => Duration::ZERO,
        }
    }

    pub fn digest_sent(&mut self, now: Instant) {
        self.sent.push_back(now);
        self.over_since = None;
    }

    /// When the mails of the last hour went, in seconds since the epoch
    /// (to keep across a restart: the budget must not reset with it).
    pub fn sent_times(&self, now: Instant, wall: SystemTime) -> Vec<u64> {
        self.sent
            .iter()
            .filter_map(|t| wall.checked_sub(now.duration_since(*t)))
            .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .collect()
    }

    /// Counts the mails of `sent_times` that are less than an hour old.
    pub fn restore(&mut self, times: &[u64], now: Instant, wall: SystemTime) {
        let mut sent: Vec<Instant> = times
            .iter()
            .filter_map(|secs| {
                wall.duration_since(UNIX_EPOCH + Duration::from_secs(*secs))
                    .ok()
            })
            .filter(|age| *age < HOUR)
            .filter_map(|age| now.checked_sub(age))
            .collect();
        sent.sort();
        self.sent = sent.into();
        self.expire(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_then_digest_then_budget_again() {
        let t0 = Instant::now();
        let mut l = Limiter::new(3, Duration::from_secs(60));
        assert!((0..3).all(|_| l.has_room(t0) && l.allow(t0)));
        assert!(!l.has_room(t0));
        assert!(!l.allow(t0), "the fourth waits for the digest");
        assert!(!l.digest_due(t0 + Duration::from_secs(59)));
        assert!(l.digest_due(t0 + Duration::from_secs(60)));
        l.digest_sent(t0 + Duration::from_secs(60));
        let t1 = t0 + Duration::from_secs(61);
        assert!(!l.allow(t1), "the hour is still full: the next digest");
        assert!(l.digest_due(t1 + Duration::from_secs(60)));
        l.digest_sent(t1 + Duration::from_secs(60));
        assert!(l.allow(t0 + HOUR + Duration::from_secs(200)), "a new hour");
    }

    #[test]
    fn the_budget_survives_a_restart() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut l = Limiter::new(2, Duration::from_secs(60));
        assert!(l.allow(now) && l.allow(now));
        let times = l.sent_times(now, wall);
        assert_eq!(times.len(), 2);
        let mut again = Limiter::new(2, Duration::from_secs(60));
        again.restore(&times, now, wall);
        assert!(!again.allow(now), "the restart did not reset the budget");
        let mut later = Limiter::new(2, Duration::from_secs(60));
        later.restore(&times, now, wall + HOUR + Duration::from_secs(2));
        assert!(later.allow(now), "mails older than an hour do not count");
    }
}
