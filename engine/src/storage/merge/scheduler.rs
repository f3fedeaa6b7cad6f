//! The background merge scheduler: a small pool of threads that keeps choosing and running merges
//! for the tables registered with it, woken by inserts and otherwise backing off as ClickHouse does
//! (`merge_selecting_sleep_ms` 5 s growing ×1.2 up to 60 s while nothing is found).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::selector::MergeSelectorSettings;
use crate::storage::table::TableData;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Merge threads (`background_pool_size`; small on small machines).
    pub threads: usize,
    /// First sleep after a round that found nothing.
    pub sleep_min: Duration,
    /// Longest sleep between rounds.
    pub sleep_max: Duration,
    /// The selector's settings.
    pub selector: MergeSelectorSettings,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            threads: 2,
            sleep_min: Duration::from_secs(5),
            sleep_max: Duration::from_secs(60),
            selector: MergeSelectorSettings::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    tables: Mutex<Vec<Weak<TableData>>>,
    /// Set by `wake`, cleared by a worker that starts a round.
    pending: Mutex<bool>,
    wakeup: Condvar,
    stop: AtomicBool,
}

/// Runs merges in the background until dropped.
#[derive(Debug)]
pub struct MergeScheduler {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl MergeScheduler {
    /// Starts the worker threads.
    pub fn start(settings: SchedulerSettings) -> MergeScheduler {
        let shared = Arc::new(Shared::default());
        let workers = (0..settings.threads.max(1))
            .map(|index| {
                let shared = Arc::clone(&shared);
                let settings = settings.clone();
                std::thread::Builder::new()
                    .name(format!("granary-merge-{index}"))
                    .spawn(move || work(&shared, &settings))
            })
            .filter_map(|spawned| match spawned {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::error!(%error, "cannot start a merge thread");
                    None
                }
            })
            .collect();
        MergeScheduler { shared, workers }
    }

    /// Adds a table; it is forgotten once the table is dropped.
    pub fn register(&self, table: &Arc<TableData>) {
        if let Ok(mut tables) = self.shared.tables.lock() {
            tables.push(Arc::downgrade(table));
        }
        self.wake();
    }

    /// Asks for a selection round now (after an insert).
    pub fn wake(&self) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            *pending = true;
            self.shared.wakeup.notify_one();
        }
    }
}

impl Drop for MergeScheduler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wakeup.notify_all();
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                tracing::error!("a merge thread panicked");
            }
        }
    }
}

/// One worker: merge while there is something to merge, otherwise sleep with back-off.
fn work(shared: &Shared, settings: &SchedulerSettings) {
    let mut sleep = settings.sleep_min;
    while !shared.stop.load(Ordering::SeqCst) {
        let tables: Vec<Arc<TableData>> = match shared.tables.lock() {
            Ok(mut tables) => {
                tables.retain(|table| table.strong_count() > 0);
                tables.iter().filter_map(Weak::upgrade).collect()
            }
            Err(_) => return,
        };
        let mut merged_any = false;
        for table in tables {
            match table.merge_once(&settings.selector) {
                Ok(Some(part)) => {
                    tracing::debug!(%part, "merged");
                    merged_any = true;
                }
                Ok(None) => {}
                // Another worker is merging some of these parts; it will be chosen again later.
                Err(crate::Error::Logical(reason)) if reason.contains("already being merged") => {}
                Err(error) => tracing::warn!(%error, "background merge failed"),
            }
            if let Err(error) = table.remove_outdated() {
                tracing::warn!(%error, "cannot remove outdated parts");
            }
        }
        if merged_any {
            sleep = settings.sleep_min;
            continue;
        }
        let Ok(pending) = shared.pending.lock() else {
            return;
        };
        let woken = shared.wakeup.wait_timeout_while(pending, sleep, |pending| {
            !*pending && !shared.stop.load(Ordering::SeqCst)
        });
        match woken {
            Ok((mut pending, timeout)) => {
                if timeout.timed_out() {
                    sleep = (sleep.mul_f64(1.2)).min(settings.sleep_max);
                } else {
                    *pending = false;
                    sleep = settings.sleep_min;
                }
            }
            Err(_) => return,
        }
    }
}
