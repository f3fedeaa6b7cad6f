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

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_select::take::take_record_batch;
use granary_protocol::DataType;

use super::dedup::{BlockId, DedupLog, DedupWindows};
use super::fs::publish;
use super::merge::algorithm::encode_rows;
use super::merge::stream::KWayMerge;
use super::merge::{MergeCandidate, MergeSelectorSettings, MergingAlgorithm, select_merge};
use super::part::PartInfo;
use super::partition::partition_id;
use super::primary_index;
use super::reader::{DataPart, ReadStats};
use super::writer::{PartColumn, PartPartition, PartWriter};
use crate::error::{Error, Result};

/// Where `detached/` parts go and what prefixes temporary directories carry.
const DETACHED_DIR: &str = "detached";
const TEMPORARY_PREFIX: &str = "tmp_";

/// Rows per chunk handed from the k-way merge to the merging algorithm and the part writer.
const MERGE_CHUNK_ROWS: usize = 65_536;

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
    /// What the engine does with rows of equal key at merges and FINAL.
    pub merging: Arc<dyn MergingAlgorithm>,
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

/// The rows of one partition as `SELECT ... FINAL` sees them, chunk by chunk.
#[derive(Debug)]
pub struct FinalStream {
    merge: KWayMerge,
    merging: Arc<dyn MergingAlgorithm>,
    sorting_key: Vec<usize>,
}

impl FinalStream {
    /// The next chunk, merged; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        while let Some(chunk) = self.merge.next_chunk()? {
            let merged = self.merging.merge(&chunk, &self.sorting_key)?;
            if merged.num_rows() > 0 {
                return Ok(Some(merged));
            }
        }
        Ok(None)
    }

    /// What the merge read from the parts.
    pub fn stats(&self) -> &ReadStats {
        self.merge.stats()
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
    /// Parts that a running merge is reading.
    merging: Mutex<HashSet<PartInfo>>,
    /// Parts replaced by merges, removed from disk once no snapshot holds them.
    outdated: Mutex<Vec<Arc<DataPart>>>,
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
            merging: Mutex::new(HashSet::new()),
            outdated: Mutex::new(Vec::new()),
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
                let first = *rows
                    .first()
                    .ok_or_else(|| Error::Logical("a partition group without rows".into()))?
                    as usize;
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
        let rows = encode_rows(batch, &self.layout.sorting_key)?;
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

    /// The columns of the table as (name, type).
    fn column_types(&self) -> Vec<(String, DataType)> {
        self.layout
            .columns
            .iter()
            .map(|column| (column.name.clone(), column.data_type.clone()))
            .collect()
    }

    /// Runs of adjacent active parts per partition that no merge is reading.
    fn merge_runs(&self, parts: &[Arc<DataPart>]) -> Result<Vec<Vec<Arc<DataPart>>>> {
        let merging = self.merging()?;
        let mut runs: Vec<Vec<Arc<DataPart>>> = Vec::new();
        let mut current: Vec<Arc<DataPart>> = Vec::new();
        for part in parts {
            let breaks = merging.contains(&part.info)
                || current
                    .last()
                    .is_some_and(|last| last.info.partition_id != part.info.partition_id);
            if breaks && !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            if !merging.contains(&part.info) {
                current.push(Arc::clone(part));
            }
        }
        if !current.is_empty() {
            runs.push(current);
        }
        Ok(runs)
    }

    fn merging(&self) -> Result<MutexGuard<'_, HashSet<PartInfo>>> {
        self.merging
            .lock()
            .map_err(|_| Error::Logical("a merge panicked while holding the merge list".into()))
    }

    /// Chooses parts with ClickHouse's simple merge selector and merges them; `None` when nothing
    /// is worth merging.
    pub fn merge_once(&self, settings: &MergeSelectorSettings) -> Result<Option<PartInfo>> {
        let snapshot = self.snapshot()?;
        let runs = self.merge_runs(&snapshot.parts)?;
        let now = std::time::SystemTime::now();
        let candidates: Vec<Vec<MergeCandidate>> = runs
            .iter()
            .map(|run| {
                run.iter()
                    .map(|part| MergeCandidate {
                        size: part.bytes_on_disk,
                        age: now
                            .duration_since(part.modification_time)
                            .map(|age| age.as_secs())
                            .unwrap_or(0),
                    })
                    .collect()
            })
            .collect();
        let Some((run, start, end)) = select_merge(&candidates, settings) else {
            return Ok(None);
        };
        self.merge_parts(runs[run][start..end].to_vec()).map(Some)
    }

    /// `OPTIMIZE TABLE [PARTITION id] [FINAL]`: merges all parts of each partition into one; with
    /// `final_` also a partition's single part (so that FINAL semantics are applied on disk).
    pub fn optimize(&self, partition_id: Option<&str>, final_: bool) -> Result<Vec<PartInfo>> {
        let snapshot = self.snapshot()?;
        let mut merged = Vec::new();
        for run in self.merge_runs(&snapshot.parts)? {
            if partition_id.is_some_and(|id| run[0].info.partition_id != id) {
                continue;
            }
            if run.len() >= 2 || (final_ && run.len() == 1) {
                merged.push(self.merge_parts(run)?);
            }
        }
        Ok(merged)
    }

    /// Merges `sources` (adjacent parts of one partition, in block order) into one new part that
    /// replaces them.
    fn merge_parts(&self, sources: Vec<Arc<DataPart>>) -> Result<PartInfo> {
        let (first, last) = match (sources.first(), sources.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Err(Error::Logical("a merge of no parts".into())),
        };
        let info = PartInfo {
            partition_id: first.info.partition_id.clone(),
            min_block: first.info.min_block,
            max_block: last.info.max_block,
            level: sources
                .iter()
                .map(|part| part.info.level)
                .max()
                .unwrap_or(0)
                + 1,
            mutation: sources.iter().filter_map(|part| part.info.mutation).max(),
        };
        {
            let mut merging = self.merging()?;
            if sources.iter().any(|part| merging.contains(&part.info)) {
                return Err(Error::Logical(format!(
                    "parts of {info} are already being merged"
                )));
            }
            merging.extend(sources.iter().map(|part| part.info.clone()));
        }
        let result = self.merge_into(&info, &sources);
        let mut merging = self.merging()?;
        for part in &sources {
            merging.remove(&part.info);
        }
        drop(merging);
        result?;
        Ok(info)
    }

    fn merge_into(&self, info: &PartInfo, sources: &[Arc<DataPart>]) -> Result<()> {
        let mut merge = KWayMerge::new(
            sources,
            self.column_types(),
            self.layout.sorting_key.clone(),
            MERGE_CHUNK_ROWS,
        )?;
        if !self.layout.merging.needs_whole_keys() {
            merge = merge.cutting_anywhere();
        }
        let temporary = self.dir.join(format!("{TEMPORARY_PREFIX}merge_{info}"));
        fs::create_dir(&temporary).map_err(|e| Error::io("create", &temporary, e))?;
        let written = self.write_merged(&mut merge, &sources[0], &temporary);
        let rows = match written {
            Ok(rows) => rows,
            Err(error) => {
                self.discard(&[(info.clone(), temporary)]);
                return Err(error);
            }
        };
        if rows > 0 {
            publish(&temporary, &self.dir.join(info.to_string()))?;
        } else {
            // Every row was merged away (possible for collapsing engines): no part replaces them.
            self.discard(&[(info.clone(), temporary)]);
        }
        let merged_part = if rows > 0 {
            Some(Arc::new(DataPart::open(&self.dir.join(info.to_string()))?))
        } else {
            None
        };
        let mut state = self.state()?;
        let still_active = sources.iter().all(|source| {
            state
                .parts
                .parts
                .iter()
                .any(|part| part.info == source.info)
        });
        if !still_active {
            // A TRUNCATE (or DROP PARTITION) removed sources while they were merged: the merged
            // part must not bring their rows back.
            drop(state);
            if let Some(part) = merged_part {
                self.outdated()?.push(part);
            }
            return Err(Error::Logical(format!(
                "parts of {info} were removed while being merged; the merge is abandoned"
            )));
        }
        let mut parts: Vec<Arc<DataPart>> = state
            .parts
            .parts
            .iter()
            .filter(|part| !sources.iter().any(|source| source.info == part.info))
            .cloned()
            .collect();
        if let Some(part) = merged_part {
            let position = parts.partition_point(|existing| existing.info < part.info);
            parts.insert(position, part);
        }
        state.parts = Arc::new(PartSet { parts });
        drop(state);
        self.outdated()?.extend(sources.iter().cloned());
        Ok(())
    }

    /// Streams the k-way merge through the engine's merging algorithm into a part in `temporary`;
    /// returns the rows written.
    fn write_merged(
        &self,
        merge: &mut KWayMerge,
        first: &DataPart,
        temporary: &Path,
    ) -> Result<u64> {
        let key = self.partition_value(first)?;
        let partition = (!key.is_empty()).then(|| PartPartition {
            key,
            minmax_columns: self.layout.minmax_columns.clone(),
        });
        let primary_key = &self.layout.sorting_key[..self.layout.primary_key_len];
        let mut stream = self.layout.writer.start(
            temporary,
            &self.layout.columns,
            primary_key,
            partition.as_ref(),
        )?;
        let mut rows = 0u64;
        while let Some(chunk) = merge.next_chunk()? {
            let merged = self
                .layout
                .merging
                .merge(&chunk, &self.layout.sorting_key)?;
            rows += merged.num_rows() as u64;
            stream.write_block(&merged)?;
        }
        if rows == 0 {
            return Ok(0);
        }
        stream.finish()?;
        Ok(rows)
    }

    /// The partition-key value of a part, from its `partition.dat` (empty when unpartitioned).
    pub fn partition_value(&self, part: &DataPart) -> Result<Vec<(DataType, ArrayRef)>> {
        let types = &self.layout.partition_key_types;
        if types.is_empty() {
            return Ok(Vec::new());
        }
        let path = part.dir.join("partition.dat");
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let arrays = primary_index::deserialize_binary(&part.name(), &bytes, types, 1)?;
        Ok(types.iter().cloned().zip(arrays).collect())
    }

    fn outdated(&self) -> Result<MutexGuard<'_, Vec<Arc<DataPart>>>> {
        self.outdated
            .lock()
            .map_err(|_| Error::Logical("a merge panicked while holding the outdated parts".into()))
    }

    /// Removes from disk the parts replaced by merges that no snapshot holds any more; returns how
    /// many were removed.
    pub fn remove_outdated(&self) -> Result<usize> {
        let mut outdated = self.outdated()?;
        let mut removed = 0;
        let mut kept = Vec::new();
        for part in outdated.drain(..) {
            if Arc::strong_count(&part) == 1 {
                fs::remove_dir_all(&part.dir).map_err(|e| Error::io("remove", &part.dir, e))?;
                removed += 1;
            } else {
                kept.push(part);
            }
        }
        *outdated = kept;
        Ok(removed)
    }

    /// The rows of `parts` (one partition's) as `SELECT ... FINAL` sees them, streamed: a k-way
    /// merge of the parts through the engine's merging algorithm, in key order, `chunk_rows` at a
    /// time (a chunk may hold more rows when one key spans them).
    pub fn read_final(&self, parts: &[Arc<DataPart>], chunk_rows: usize) -> Result<FinalStream> {
        let merge = KWayMerge::new(
            parts,
            self.column_types(),
            self.layout.sorting_key.clone(),
            chunk_rows,
        )?;
        Ok(FinalStream {
            merge,
            merging: Arc::clone(&self.layout.merging),
            sorting_key: self.layout.sorting_key.clone(),
        })
    }

    /// TRUNCATE: removes every part and forgets the insert ids. Durable on return: the part
    /// directories are renamed to `tmp_truncated_*` (removed at the next start if not now).
    pub fn truncate(&self) -> Result<()> {
        let mut dedup = self.dedup()?;
        let removed = {
            let mut state = self.state()?;
            std::mem::take(&mut state.parts)
        };
        for part in &removed.parts {
            let target = self
                .dir
                .join(format!("{TEMPORARY_PREFIX}truncated_{}", part.name()));
            fs::rename(&part.dir, &target).map_err(|e| Error::io("rename", &part.dir, e))?;
        }
        super::fs::sync_path(&self.dir)?;
        dedup.clear()?;
        drop(dedup);
        for part in &removed.parts {
            let target = self
                .dir
                .join(format!("{TEMPORARY_PREFIX}truncated_{}", part.name()));
            if let Err(error) = fs::remove_dir_all(&target) {
                tracing::warn!(part = %target.display(), %error, "cannot remove a truncated part");
            }
        }
        Ok(())
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
