//! When the client tries again after a connection failure, and how long it waits in between.

use std::time::Duration;

/// Retries of operations whose connection failed ([`crate::Error::is_retryable`]): opening a
/// connection, and inserts, which resend the same blocks with the same deduplication token. A
/// query is not retried: its caller may have consumed part of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1 = never retry).
    pub attempts: u32,
    /// The wait before the second try; it doubles for each further one.
    pub initial_backoff: Duration,
    /// The longest wait between tries.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five tries, waiting 100 ms, 200 ms, 400 ms and 800 ms in between.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed try number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let policy = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(500));
    }
}
