//! One MergeTree table's data directory: its set of active parts, the block-number counter, the
//! insert path (sort, split by partition, write `tmp_insert_*`, publish) and recovery at open.
//!
//! ```text
//! insert(block) ─▶ group rows by partition ─▶ per partition: stable sort by the sorting key
//!     ─▶ PartWriter into tmp_insert_<n>/ ─▶ fs::publish as <partition>_<n>_<n>_0 ─▶ new snapshot
//! ```
//!
//! Readers take [`TableData::snapshot`]: an immutable list of parts that later inserts, merges or
//! drops never change under them.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_select::take::take_record_batch;
use granary_protocol::DataType;

use super::dedup::{BlockId, DedupLog, DedupWindows};
use super::fs::publish;
use super::part::PartInfo;
use super::partition::partition_id;
use super::reader::DataPart;
use super::writer::{PartColumn, PartPartition, PartWriter};
use crate::error::{Error, Result};

/// Where `detached/` parts go and what prefixes temporary directories carry.
const DETACHED_DIR: &str = "detached";
const TEMPORARY_PREFIX: &str = "tmp_";

/// The rows of one partition in a block, and that partition's key value (one-row arrays).
type PartitionRows = (UInt32Array, Vec<(DataType, ArrayRef)>);

/// The storage-level description of a table.
#[derive(Debug, Clone)]
pub struct TableLayout {
    /// Columns in physical order.
    pub columns: Vec<PartColumn>,
    /// Columns of the sorting key (ORDER BY), in key order.
    pub sorting_key: Vec<usize>,
    /// How many leading sorting-key columns form the primary key (`primary.idx`).
    pub primary_key_len: usize,
    /// Types of the partition-key values (empty: unpartitioned).
    pub partition_key_types: Vec<DataType>,
    /// Columns the partition expression reads (each gets a min/max index per part).
    pub minmax_columns: Vec<usize>,
    /// Part-writing settings.
    pub writer: PartWriter,
    /// How many recent block ids of each kind deduplicate inserts.
    pub dedup_windows: DedupWindows,
}

/// An immutable view of a table's active parts, sorted by part name.
#[derive(Debug, Clone, Default)]
pub struct PartSet {
    /// The active parts.
    pub parts: Vec<Arc<DataPart>>,
}

impl PartSet {
    /// Total rows of the active parts.
    pub fn rows(&self) -> u64 {
        self.parts.iter().map(|part| part.rows).sum()
    }
}

/// A table's data directory.
#[derive(Debug)]
pub struct TableData {
    dir: PathBuf,
    layout: TableLayout,
    state: Mutex<State>,
    /// Held while a deduplicated insert checks the log, records its id and renames its parts.
    dedup: Mutex<DedupLog>,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    /// The parts written, or for a duplicate the parts the earlier insert wrote.
    pub parts: Vec<String>,
    /// The block was a duplicate: nothing was written.
    pub deduplicated: bool,
}

#[derive(Debug)]
struct State {
    parts: Arc<PartSet>,
    next_block: u64,
}

impl TableData {
    /// Opens (creating if needed) the data directory `dir`: removes leftover `tmp_*` directories,
    /// opens and checks every part, moves broken ones to `detached/` with the reason logged, drops
    /// parts covered by a merged part, and sets the block counter past the highest block seen.
    pub fn open(dir: &Path, layout: TableLayout) -> Result<TableData> {
        fs::create_dir_all(dir.join(DETACHED_DIR)).map_err(|e| Error::io("create", dir, e))?;
        let mut parts: Vec<Arc<DataPart>> = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name == DETACHED_DIR || !path.is_dir() {
                continue;
            }
            if name.starts_with(TEMPORARY_PREFIX) {
                tracing::info!(table = %dir.display(), part = %name, "removing an unfinished part left by a crash");
                fs::remove_dir_all(&path).map_err(|e| Error::io("remove", &path, e))?;
                continue;
            }
            match DataPart::open(&path) {
                Ok(part) => parts.push(Arc::new(part)),
                Err(error) => {
                    let target = dir
                        .join(DETACHED_DIR)
                        .join(format!("broken-on-start_{name}"));
                    tracing::warn!(table = %dir.display(), part = %name, %error, "detaching a broken part");
                    fs::rename(&path, &target).map_err(|e| Error::io("rename", &path, e))?;
                }
            }
        }
        parts.sort_by(|a, b| a.info.cmp(&b.info));
        let covered: Vec<bool> = parts
            .iter()
            .map(|part| {
                parts
                    .iter()
                    .any(|other| other.info != part.info && other.info.contains(&part.info))
            })
            .collect();
        let mut active = Vec::new();
        for (part, covered) in parts.into_iter().zip(covered) {
            if covered {
                tracing::info!(part = %part.name(), "removing a part covered by a merged part");
                fs::remove_dir_all(&part.dir).map_err(|e| Error::io("remove", &part.dir, e))?;
            } else {
                active.push(part);
            }
        }
        let exists = |info: &PartInfo| active.iter().any(|part| part.info.contains(info));
        let (dedup, unfinished) = DedupLog::open(dir, layout.dedup_windows, exists)?;
        for info in &unfinished {
            let source = dir.join(info.to_string());
            let target = dir
                .join(DETACHED_DIR)
                .join(format!("unfinished-insert_{info}"));
            tracing::warn!(part = %info, "detaching a part of an insert that a crash cut short");
            fs::rename(&source, &target).map_err(|e| Error::io("rename", &source, e))?;
        }
        active.retain(|part| !unfinished.contains(&part.info));
        let next_block = active
            .iter()
            .map(|part| part.info.max_block)
            .max()
            .unwrap_or(0)
            + 1;
        let state = State {
            parts: Arc::new(PartSet { parts: active }),
            next_block,
        };
        Ok(TableData {
            dir: dir.to_path_buf(),
            layout,
            state: Mutex::new(state),
            dedup: Mutex::new(dedup),
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            Error::Logical("a previous insert panicked while holding the table state".into())
        })
    }

    /// The active parts now; unaffected by later changes.
    pub fn snapshot(&self) -> Result<Arc<PartSet>> {
        Ok(Arc::clone(&self.state()?.parts))
    }

    /// The table's layout.
    pub fn layout(&self) -> &TableLayout {
        &self.layout
    }

    /// Inserts one block: `batch` has the table's columns in order; `partition_key` holds the
    /// partition-key values of every row (one array per key element, empty when unpartitioned).
    /// With a `block_id` whose kind the table remembers, a block seen before is not written again.
    /// When this returns, every part is fsynced and renamed into place.
    pub fn insert(
        &self,
        batch: &RecordBatch,
        partition_key: &[ArrayRef],
        block_id: Option<&BlockId>,
    ) -> Result<InsertOutcome> {
        if batch.num_rows() == 0 {
            return Ok(InsertOutcome {
                parts: Vec::new(),
                deduplicated: false,
            });
        }
        if partition_key.len() != self.layout.partition_key_types.len() {
            return Err(Error::Logical(format!(
                "{} partition-key arrays for a key of {}",
                partition_key.len(),
                self.layout.partition_key_types.len()
            )));
        }
        let block_id = match block_id {
            Some(id) if self.dedup()?.enabled(id.kind) => Some(id),
            _ => None,
        };
        // A retry costs no I/O: check before writing anything.
        if let Some(previous) = block_id.and_then(|id| self.duplicate_of(id).transpose()) {
            return Ok(InsertOutcome {
                parts: previous?,
                deduplicated: true,
            });
        }
        let mut prepared = Vec::new();
        for (rows, key) in self.split_by_partition(batch, partition_key)? {
            let block = take_record_batch(batch, &rows)?;
            let block = self.sort(&block)?;
            match self.write_temporary_part(&block, &key) {
                Ok(part) => prepared.push(part),
                Err(error) => {
                    self.discard(&prepared);
                    return Err(error);
                }
            }
        }
        let infos: Vec<PartInfo> = prepared.iter().map(|(info, _)| info.clone()).collect();
        let mut dedup = self.dedup()?;
        if let Some(id) = block_id {
            // Two concurrent retries of one block: the second finds the first's record here.
            if let Some(previous) = dedup.lookup(id) {
                let previous = previous.to_vec();
                drop(dedup);
                self.discard(&prepared);
                return Ok(InsertOutcome {
                    parts: previous,
                    deduplicated: true,
                });
            }
            // The record goes to disk before any part becomes visible (see dedup.rs).
            dedup.append(id, &infos)?;
        }
        for (info, temporary) in &prepared {
            self.commit_part(info, temporary)?;
        }
        drop(dedup);
        Ok(InsertOutcome {
            parts: infos.iter().map(ToString::to_string).collect(),
            deduplicated: false,
        })
    }

    fn dedup(&self) -> Result<MutexGuard<'_, DedupLog>> {
        self.dedup.lock().map_err(|_| {
            Error::Logical("a previous insert panicked while holding the dedup log".into())
        })
    }

    fn duplicate_of(&self, id: &BlockId) -> Result<Option<Vec<String>>> {
        Ok(self.dedup()?.lookup(id).map(<[String]>::to_vec))
    }

    /// Removes temporary parts that will not be committed.
    fn discard(&self, prepared: &[(PartInfo, PathBuf)]) {
        for (_, temporary) in prepared {
            if let Err(error) = fs::remove_dir_all(temporary) {
                tracing::warn!(part = %temporary.display(), %error, "cannot remove an uncommitted part");
            }
        }
    }

    /// Row indices of each partition the block touches, with the partition's key value.
    fn split_by_partition(
        &self,
        batch: &RecordBatch,
        partition_key: &[ArrayRef],
    ) -> Result<Vec<PartitionRows>> {
        let rows = batch.num_rows() as u32;
        if partition_key.is_empty() {
            return Ok(vec![(UInt32Array::from_iter_values(0..rows), Vec::new())]);
        }
        let fields = partition_key
            .iter()
            .map(|array| SortField::new(array.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let encoded = converter.convert_columns(partition_key)?;
        let mut groups: HashMap<arrow_row::Row<'_>, Vec<u32>> = HashMap::new();
        let mut order = Vec::new();
        for row in 0..rows {
            let key = encoded.row(row as usize);
            groups
                .entry(key)
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(row);
        }
        order
            .into_iter()
            .map(|key| {
                let rows = groups.remove(&key).unwrap_or_default();
                let first = rows[0] as usize;
                let value = self
                    .layout
                    .partition_key_types
                    .iter()
                    .zip(partition_key)
                    .map(|(data_type, array)| (data_type.clone(), array.slice(first, 1)))
                    .collect();
                Ok((UInt32Array::from(rows), value))
            })
            .collect()
    }

    /// Sorts a block by the sorting key, keeping equal keys in insert order (ReplacingMergeTree
    /// without a version keeps the last row, so order within a key matters).
    fn sort(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        if self.layout.sorting_key.is_empty() {
            return Ok(batch.clone());
        }
        let columns: Vec<ArrayRef> = self
            .layout
            .sorting_key
            .iter()
            .map(|index| batch.column(*index).clone())
            .collect();
        let fields = columns
            .iter()
            .map(|array| SortField::new(array.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(&columns)?;
        let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
        order.sort_by(|a, b| rows.row(*a as usize).cmp(&rows.row(*b as usize)));
        if order.windows(2).all(|w| w[0] < w[1]) {
            return Ok(batch.clone());
        }
        Ok(take_record_batch(batch, &UInt32Array::from(order))?)
    }

    /// Writes one sorted block of one partition as a temporary part (not yet visible).
    fn write_temporary_part(
        &self,
        block: &RecordBatch,
        key: &[(DataType, ArrayRef)],
    ) -> Result<(PartInfo, PathBuf)> {
        let id = partition_id(key, 0)?;
        let block_number = {
            let mut state = self.state()?;
            let number = state.next_block;
            state.next_block += 1;
            number
        };
        let info = PartInfo::new_insert(&id, block_number);
        let temporary = self.dir.join(format!("{TEMPORARY_PREFIX}insert_{info}"));
        fs::create_dir(&temporary).map_err(|e| Error::io("create", &temporary, e))?;
        let partition = (!key.is_empty()).then(|| PartPartition {
            key: key.to_vec(),
            minmax_columns: self.layout.minmax_columns.clone(),
        });
        let primary_key = &self.layout.sorting_key[..self.layout.primary_key_len];
        let result = self.layout.writer.write(
            &temporary,
            &self.layout.columns,
            block,
            primary_key,
            partition.as_ref(),
        );
        if let Err(error) = result {
            self.discard(&[(info, temporary)]);
            return Err(error);
        }
        Ok((info, temporary))
    }

    /// Renames a written part into place and adds it to the active set.
    fn commit_part(&self, info: &PartInfo, temporary: &Path) -> Result<()> {
        let target = self.dir.join(info.to_string());
        publish(temporary, &target)?;
        let part = Arc::new(DataPart::open(&target)?);
        let mut state = self.state()?;
        let mut parts = state.parts.parts.clone();
        let position = parts.partition_point(|existing| existing.info < part.info);
        parts.insert(position, part);
        state.parts = Arc::new(PartSet { parts });
        Ok(())
    }
}
