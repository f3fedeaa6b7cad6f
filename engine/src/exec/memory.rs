//! Memory limits: each query runs with a DataFusion memory pool of its own, bounded by the
//! session's `max_memory_usage`, whose reservations also count toward the server-wide
//! `max_server_memory_usage`. An operator that cannot grow its reservation spills where DataFusion
//! can (sorts, hash aggregation to disk) and otherwise fails the query with
//! MEMORY_LIMIT_EXCEEDED (241), as ClickHouse's limits do; the process is never left to the kernel.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool, MemoryReservation};

/// What every query of a database draws from.
#[derive(Debug)]
pub struct ServerMemory {
    limit: usize,
    used: AtomicUsize,
}

impl ServerMemory {
    /// A bound of `limit` bytes for all queries together.
    pub fn new(limit: usize) -> Arc<ServerMemory> {
        Arc::new(ServerMemory {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes the running queries hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// The physical memory of this machine (`/proc/meminfo`), or 8 GiB where it cannot be read.
pub fn physical_memory() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<usize>().ok())
        })
        .map(|kib| kib.saturating_mul(1024))
        .unwrap_or(8 << 30)
}

/// One query's pool.
#[derive(Debug)]
pub struct QueryMemory {
    limit: usize,
    used: AtomicUsize,
    server: Arc<ServerMemory>,
}

impl QueryMemory {
    /// A pool of at most `limit` bytes, drawn from `server`.
    pub fn new(limit: usize, server: &Arc<ServerMemory>) -> QueryMemory {
        QueryMemory {
            limit,
            used: AtomicUsize::new(0),
            server: Arc::clone(server),
        }
    }
}

/// Adds `additional` to `counter` if the sum stays within `limit`; the sum it would have been
/// otherwise.
fn reserve(counter: &AtomicUsize, additional: usize, limit: usize) -> Result<(), usize> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(additional).filter(|sum| *sum <= limit)
        })
        .map(drop)
        .map_err(|used| used.saturating_add(additional))
}

/// ClickHouse's way of writing a byte count in its messages.
fn readable(bytes: usize) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

impl std::fmt::Display for QueryMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "granary query pool: {} of {} used",
            readable(self.reserved()),
            readable(self.limit)
        )
    }
}

impl MemoryPool for QueryMemory {
    fn name(&self) -> &str {
        "granary"
    }

    fn grow(&self, _reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::AcqRel);
        self.server.used.fetch_add(additional, Ordering::AcqRel);
    }

    fn shrink(&self, _reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::AcqRel);
        self.server.used.fetch_sub(shrink, Ordering::AcqRel);
    }

    fn try_grow(&self, _reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        if let Err(would_use) = reserve(&self.used, additional, self.limit) {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Memory limit (for query) exceeded: would use {} (attempt to allocate chunk of \
                 {additional} bytes), maximum: {} (max_memory_usage)",
                readable(would_use),
                readable(self.limit)
            )));
        }
        if let Err(would_use) = reserve(&self.server.used, additional, self.server.limit) {
            self.used.fetch_sub(additional, Ordering::AcqRel);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Memory limit (total) exceeded: would use {} (attempt to allocate chunk of \
                 {additional} bytes), maximum: {} (max_server_memory_usage)",
                readable(would_use),
                readable(self.server.limit)
            )));
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

impl Drop for QueryMemory {
    fn drop(&mut self) {
        // Whatever a query still held when it ended (reservations are released as its operators
        // drop, so this is normally nothing) goes back to the server.
        let left = self.used.swap(0, Ordering::AcqRel);
        self.server.used.fetch_sub(left, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::MemoryConsumer;

    use super::*;

    #[test]
    fn a_query_is_bounded_by_its_limit_and_by_the_server() {
        let server = ServerMemory::new(1000);
        let first: Arc<dyn MemoryPool> = Arc::new(QueryMemory::new(600, &server));
        let second: Arc<dyn MemoryPool> = Arc::new(QueryMemory::new(600, &server));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&second);
        a.try_grow(500).unwrap();
        let error = a.try_grow(200).unwrap_err().to_string();
        assert!(error.contains("for query"), "{error}");
        b.try_grow(400).unwrap();
        let error = b.try_grow(150).unwrap_err().to_string();
        assert!(error.contains("total"), "{error}");
        assert_eq!(server.used(), 900);
        drop(a);
        assert_eq!(server.used(), 400);
        b.try_grow(150).unwrap();
        drop(b);
        drop(second);
        assert_eq!(server.used(), 0);
    }
}
