//! One MergeTree table's data directory: its set of active parts, the block-number counter, the
//! insert path (sort, split by partition, write `tmp_insert_*`, publish) and recovery at open.
//!
//! ```text
//! insert(block) ─▶ group rows by partition ─▶ per partition: stable sort by the sorting key
//!     ─▶ PartWriter into tmp_insert_<seq>/ ─▶ block numbers reserved ─▶ dedup record
//!     ─▶ fs::publish as <partition>_<n>_<n>_0 ─▶ new snapshot, reservation released
//! ```
//!
//! Invariants, checked on every publish: no two active parts of a partition share a block number,
//! and a merged part replaces exactly the active parts its range covers, all of which are its
//! sources. A merge never spans a block number that is reserved by an insert still being published
//! (ClickHouse's merge predicate refuses the same gap), and since block numbers only grow, nothing
//! can later appear inside a chosen range.
//!
//! Readers take [`TableData::snapshot`]: an immutable list of parts that later inserts, merges or
//! drops never change under them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_select::take::take_record_batch;
use granary_protocol::DataType;

use super::dedup::{BlockId, DedupLog, DedupWindows};
use super::fs::publish;
use super::lineage::MergeLineage;
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
    /// Which parts recent merges consumed (`merge_sources.txt`).
    lineage: Mutex<MergeLineage>,
    /// Names temporary insert directories apart.
    temporary_seq: AtomicU64,
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
    /// Block numbers given to inserts whose parts are not published yet, by partition: merges do
    /// not span them.
    in_flight: BTreeSet<(String, u64)>,
}

impl State {
    /// Checks that publishing `new` in place of `replaced` keeps the active parts disjoint: every
    /// active part that `new` overlaps is one it replaces, and `new` covers each of those.
    fn check_publish(&self, new: &PartInfo, replaced: &[PartInfo]) -> Result<()> {
        for part in &self.parts.parts {
            let replaces = replaced.contains(&part.info);
            if replaces && !new.contains(&part.info) {
                return Err(Error::Logical(format!(
                    "{new} would replace {} without covering it",
                    part.info
                )));
            }
            if !replaces && !new.is_disjoint(&part.info) {
                return Err(Error::Logical(format!(
                    "{new} would overlap the active part {}",
                    part.info
                )));
            }
        }
        if let Some((_, block)) = self.in_flight.iter().find(|(partition, block)| {
            partition == &new.partition_id && (new.min_block..=new.max_block).contains(block)
        }) {
            return Err(Error::Logical(format!(
                "{new} would cover block {block}, which an insert is still publishing"
            )));
        }
        Ok(())
    }
}

/// A part written into its temporary directory, not yet numbered or visible.
#[derive(Debug)]
struct TemporaryPart {
    partition_id: String,
    dir: PathBuf,
}

/// Block numbers reserved for an insert's parts; whatever is still reserved is released on drop.
struct BlockReservation<'a> {
    table: &'a TableData,
    infos: Vec<PartInfo>,
}

impl Drop for BlockReservation<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.table.state() {
            for info in &self.infos {
                state
                    .in_flight
                    .remove(&(info.partition_id.clone(), info.min_block));
            }
        }
    }
}

/// Parts a merge has claimed; released on drop.
struct MergeClaim<'a> {
    table: &'a TableData,
    sources: Vec<Arc<DataPart>>,
}

impl Drop for MergeClaim<'_> {
    fn drop(&mut self) {
        if let Ok(mut merging) = self.table.merging() {
            for part in &self.sources {
                merging.remove(&part.info);
            }
        }
    }
}

/// Where a part found at open goes.
enum Recovered {
    Active,
    /// A recorded merge consumed it: its rows are in the part that covers it.
    Consumed,
    /// Covered by (or overlapping) a part that no recorded merge made from it: set aside.
    Unexplained(String),
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
        // Block numbers never go back, even past parts this start sets aside.
        let next_block = parts
            .iter()
            .map(|part| part.info.max_block)
            .max()
            .unwrap_or(0)
            + 1;
        let mut lineage = MergeLineage::open(dir)?;
        let mut active: Vec<Arc<DataPart>> = Vec::new();
        let mut detached: Vec<PartInfo> = Vec::new();
        let fates: Vec<Recovered> = parts
            .iter()
            .map(|part| recovered(part, &parts, &lineage))
            .collect();
        for (part, fate) in parts.into_iter().zip(fates) {
            match fate {
                Recovered::Consumed => {
                    tracing::info!(part = %part.name(), "removing a part a recorded merge consumed");
                    remove_part_dir(dir, &part)?;
                }
                Recovered::Unexplained(reason) => {
                    let target = dir
                        .join(DETACHED_DIR)
                        .join(format!("{reason}_{}", part.name()));
                    tracing::error!(table = %dir.display(), part = %part.name(), %reason,
                        "detaching a part that overlaps another without a recorded merge");
                    fs::rename(&part.dir, &target)
                        .map_err(|e| Error::io("rename", &part.dir, e))?;
                    detached.push(part.info.clone());
                }
                Recovered::Active => {
                    // Parts are sorted and the active ones disjoint: only the last can overlap.
                    if let Some(other) = active.last().filter(|a| !a.info.is_disjoint(&part.info)) {
                        // Two parts that overlap without either covering the other.
                        let target = dir
                            .join(DETACHED_DIR)
                            .join(format!("overlapping_{}", part.name()));
                        tracing::error!(table = %dir.display(), part = %part.name(), other = %other.name(),
                            "detaching a part that overlaps an active part");
                        fs::rename(&part.dir, &target)
                            .map_err(|e| Error::io("rename", &part.dir, e))?;
                        detached.push(part.info.clone());
                    } else {
                        active.push(part);
                    }
                }
            }
        }
        super::fs::sync_path(dir)?;
        // Every consumed source is gone now.
        lineage.clear()?;
        // A dedup record stays only while its rows are served: a part set aside takes its record
        // with it, so that a retry of that block inserts it again.
        let exists = |info: &PartInfo| {
            !detached.contains(info) && active.iter().any(|part| part.info.contains(info))
        };
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
        let state = State {
            parts: Arc::new(PartSet { parts: active }),
            next_block,
            in_flight: BTreeSet::new(),
        };
        Ok(TableData {
            merging: Mutex::new(HashSet::new()),
            outdated: Mutex::new(Vec::new()),
            lineage: Mutex::new(lineage),
            temporary_seq: AtomicU64::new(0),
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
        }
        // Numbers are given only now, just before publishing, and stay reserved until the parts
        // are active: no merge chooses a range across them meanwhile.
        let reservation = match self.reserve_blocks(&prepared) {
            Ok(reservation) => reservation,
            Err(error) => {
                drop(dedup);
                self.discard(&prepared);
                return Err(error);
            }
        };
        let infos = reservation.infos.clone();
        if let Some(id) = block_id {
            // The record goes to disk before any part becomes visible (see dedup.rs).
            if let Err(error) = dedup.append(id, &infos) {
                drop(dedup);
                self.discard(&prepared);
                return Err(error);
            }
        }
        let mut published = Vec::new();
        for (info, temporary) in infos.iter().zip(&prepared) {
            if let Err(error) = self.commit_part(info, &temporary.dir) {
                // Not acknowledged: take back what was published and the record that vouches for
                // it, so that the insert is all or nothing and a retry writes it again.
                self.withdraw(&published);
                if let Some(id) = block_id
                    && let Err(error) = dedup.forget(id)
                {
                    tracing::error!(%error, "cannot take back the dedup record of a failed insert");
                }
                drop(dedup);
                self.discard(&prepared[published.len()..]);
                return Err(error);
            }
            published.push(info.clone());
        }
        drop(reservation);
        drop(dedup);
        Ok(InsertOutcome {
            parts: infos.iter().map(ToString::to_string).collect(),
            deduplicated: false,
        })
    }

    /// Gives each prepared part its block number, reserved until it is published.
    fn reserve_blocks(&self, prepared: &[TemporaryPart]) -> Result<BlockReservation<'_>> {
        let mut state = self.state()?;
        let mut infos = Vec::with_capacity(prepared.len());
        for part in prepared {
            let number = state.next_block;
            state.next_block += 1;
            state.in_flight.insert((part.partition_id.clone(), number));
            infos.push(PartInfo::new_insert(&part.partition_id, number));
        }
        drop(state);
        Ok(BlockReservation { table: self, infos })
    }

    /// Takes published parts of an insert that failed out of the active set and off the disk.
    fn withdraw(&self, infos: &[PartInfo]) {
        let removed: Vec<Arc<DataPart>> = match self.state() {
            Ok(mut state) => {
                let (removed, kept): (Vec<_>, Vec<_>) = state
                    .parts
                    .parts
                    .iter()
                    .cloned()
                    .partition(|part| infos.contains(&part.info));
                state.parts = Arc::new(PartSet { parts: kept });
                removed
            }
            Err(_) => return,
        };
        for part in removed {
            if let Err(error) = remove_part_dir(&self.dir, &part) {
                tracing::error!(part = %part.name(), %error, "cannot withdraw a part of a failed insert");
            }
        }
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
    fn discard(&self, prepared: &[TemporaryPart]) {
        for part in prepared {
            discard_dir(&part.dir);
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

    /// Writes one sorted block of one partition as a temporary part (not yet numbered or visible).
    fn write_temporary_part(
        &self,
        block: &RecordBatch,
        key: &[(DataType, ArrayRef)],
    ) -> Result<TemporaryPart> {
        let partition_id = partition_id(key, 0)?;
        let seq = self.temporary_seq.fetch_add(1, Ordering::Relaxed);
        let temporary = self.dir.join(format!("{TEMPORARY_PREFIX}insert_{seq}"));
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
            discard_dir(&temporary);
            return Err(error);
        }
        Ok(TemporaryPart {
            partition_id,
            dir: temporary,
        })
    }

    /// The columns of the table as (name, type).
    fn column_types(&self) -> Vec<(String, DataType)> {
        self.layout
            .columns
            .iter()
            .map(|column| (column.name.clone(), column.data_type.clone()))
            .collect()
    }

    fn merging(&self) -> Result<MutexGuard<'_, HashSet<PartInfo>>> {
        self.merging
            .lock()
            .map_err(|_| Error::Logical("a merge panicked while holding the merge list".into()))
    }

    /// Chooses and claims parts to merge, atomically with respect to inserts and other merges:
    /// `choose` sees runs of adjacent active parts of one partition that no merge has claimed and
    /// that no reserved block number separates, and returns the ranges to merge.
    fn claim_merges(
        &self,
        choose: impl FnOnce(&[Vec<Arc<DataPart>>]) -> Vec<Vec<Arc<DataPart>>>,
    ) -> Result<Vec<MergeClaim<'_>>> {
        let state = self.state()?;
        let mut merging = self.merging()?;
        let runs = merge_runs(&state, &merging);
        let chosen = choose(&runs);
        for sources in &chosen {
            assert!(
                sources.windows(2).all(|pair| pair[0].info.partition_id
                    == pair[1].info.partition_id
                    && pair[0].info.max_block < pair[1].info.min_block),
                "a merge of parts that are not adjacent in one partition"
            );
            merging.extend(sources.iter().map(|part| part.info.clone()));
        }
        Ok(chosen
            .into_iter()
            .map(|sources| MergeClaim {
                table: self,
                sources,
            })
            .collect())
    }

    /// Chooses parts with ClickHouse's simple merge selector and merges them; `None` when nothing
    /// is worth merging.
    pub fn merge_once(&self, settings: &MergeSelectorSettings) -> Result<Option<PartInfo>> {
        let now = std::time::SystemTime::now();
        let mut claims = self.claim_merges(|runs| {
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
            select_merge(&candidates, settings)
                .map(|(run, start, end)| vec![runs[run][start..end].to_vec()])
                .unwrap_or_default()
        })?;
        match claims.pop() {
            Some(claim) => self.merge_parts(&claim.sources).map(Some),
            None => Ok(None),
        }
    }

    /// `OPTIMIZE TABLE [PARTITION id] [FINAL]`: merges all parts of each partition into one; with
    /// `final_` also a partition's single part (so that FINAL semantics are applied on disk).
    pub fn optimize(&self, partition_id: Option<&str>, final_: bool) -> Result<Vec<PartInfo>> {
        let claims = self.claim_merges(|runs| {
            runs.iter()
                .filter(|run| partition_id.is_none_or(|id| run[0].info.partition_id == id))
                .filter(|run| run.len() >= 2 || (final_ && run.len() == 1))
                .cloned()
                .collect()
        })?;
        let mut merged = Vec::new();
        for claim in &claims {
            merged.push(self.merge_parts(&claim.sources)?);
        }
        Ok(merged)
    }

    /// Merges claimed `sources` (adjacent parts of one partition, in block order) into one new
    /// part that replaces them.
    fn merge_parts(&self, sources: &[Arc<DataPart>]) -> Result<PartInfo> {
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
        self.merge_into(&info, sources)?;
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
        let rows = match self.write_merged(&mut merge, &sources[0], &temporary) {
            Ok(rows) => rows,
            Err(error) => {
                discard_dir(&temporary);
                return Err(error);
            }
        };
        let source_infos: Vec<PartInfo> = sources.iter().map(|part| part.info.clone()).collect();
        let target = self.dir.join(info.to_string());
        if rows > 0 {
            // Recorded before the rename: a merged part on disk always has its sources recorded.
            self.lineage()?.record(info, &source_infos)?;
        }
        // The checks, the rename and the swap happen under the state lock, so that a TRUNCATE (or
        // DROP PARTITION) is wholly before them — the merge is abandoned — or wholly after, and
        // a merged part never reaches the disk over sources that were removed meanwhile.
        let mut state = self.state()?;
        let still_active = sources.iter().all(|source| {
            state
                .parts
                .parts
                .iter()
                .any(|part| part.info == source.info)
        });
        let checked = if still_active {
            state.check_publish(info, &source_infos)
        } else {
            Err(Error::Logical(format!(
                "parts of {info} were removed while being merged; the merge is abandoned"
            )))
        };
        let merged_part = checked.and_then(|()| {
            if rows == 0 {
                // Every row was merged away (possible for collapsing engines): no part replaces
                // the sources.
                discard_dir(&temporary);
                return Ok(None);
            }
            publish(&temporary, &target)?;
            DataPart::open(&target)
                .map(|part| Some(Arc::new(part)))
                .inspect_err(|_| discard_dir(&target))
        });
        let merged_part = match merged_part {
            Ok(part) => part,
            Err(error) => {
                drop(state);
                discard_dir(&temporary);
                if rows > 0 {
                    self.lineage()?.abandon(info)?;
                }
                return Err(error);
            }
        };
        let mut parts: Vec<Arc<DataPart>> = state
            .parts
            .parts
            .iter()
            .filter(|part| !source_infos.contains(&part.info))
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

    fn lineage(&self) -> Result<MutexGuard<'_, MergeLineage>> {
        self.lineage
            .lock()
            .map_err(|_| Error::Logical("a merge panicked while holding the merge record".into()))
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
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let mut failure = None;
        for part in outdated.drain(..) {
            if Arc::strong_count(&part) == 1 && failure.is_none() {
                match remove_part_dir(&self.dir, &part) {
                    Ok(()) => removed.push(part.info.clone()),
                    Err(error) => {
                        failure = Some(error);
                        kept.push(part);
                    }
                }
            } else {
                kept.push(part);
            }
        }
        *outdated = kept;
        drop(outdated);
        self.lineage()?.removed(&removed)?;
        match failure {
            Some(error) => Err(error),
            None => Ok(removed.len()),
        }
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
        // Parts merges replaced go first: left behind without the part that covers them, they
        // would come back at the next start.
        let outdated: Vec<Arc<DataPart>> = std::mem::take(&mut *self.outdated()?);
        let removed = {
            let mut state = self.state()?;
            std::mem::take(&mut state.parts)
        };
        let mut renamed = Vec::new();
        for part in outdated.iter().chain(&removed.parts) {
            assert!(
                part.dir.parent() == Some(self.dir.as_path()),
                "a part directory outside its table"
            );
            let target = self
                .dir
                .join(format!("{TEMPORARY_PREFIX}truncated_{}", part.name()));
            fs::rename(&part.dir, &target).map_err(|e| Error::io("rename", &part.dir, e))?;
            renamed.push(target);
        }
        super::fs::sync_path(&self.dir)?;
        dedup.clear()?;
        drop(dedup);
        self.lineage()?.clear()?;
        for target in renamed {
            if let Err(error) = fs::remove_dir_all(&target) {
                tracing::warn!(part = %target.display(), %error, "cannot remove a truncated part");
            }
        }
        Ok(())
    }

    /// Renames a written part into place and adds it to the active set, releasing its block
    /// number's reservation.
    fn commit_part(&self, info: &PartInfo, temporary: &Path) -> Result<()> {
        let target = self.dir.join(info.to_string());
        publish(temporary, &target)?;
        let part = match DataPart::open(&target) {
            Ok(part) => Arc::new(part),
            Err(error) => {
                discard_dir(&target);
                return Err(error);
            }
        };
        let mut state = self.state()?;
        state
            .in_flight
            .remove(&(info.partition_id.clone(), info.min_block));
        if let Err(error) = state.check_publish(info, &[]) {
            drop(state);
            discard_dir(&target);
            return Err(error);
        }
        let mut parts = state.parts.parts.clone();
        let position = parts.partition_point(|existing| existing.info < part.info);
        parts.insert(position, part);
        state.parts = Arc::new(PartSet { parts });
        Ok(())
    }
}

/// What startup does with `part`, given every part found and the recorded merges.
fn recovered(part: &DataPart, parts: &[Arc<DataPart>], lineage: &MergeLineage) -> Recovered {
    let containers: Vec<&PartInfo> = parts
        .iter()
        .map(|other| &other.info)
        .filter(|other| *other != &part.info && other.contains(&part.info))
        .collect();
    if containers.is_empty() {
        Recovered::Active
    } else if containers
        .iter()
        .any(|container| lineage.consumed(container, &part.info))
    {
        Recovered::Consumed
    } else {
        Recovered::Unexplained("covered-unmerged".to_string())
    }
}

/// Removes a part's directory: renamed to `tmp_removed_*` first, so that a crash part way through
/// leaves a leftover that the next start deletes rather than a half-deleted part.
fn remove_part_dir(table_dir: &Path, part: &DataPart) -> Result<()> {
    let target = table_dir.join(format!("{TEMPORARY_PREFIX}removed_{}", part.name()));
    assert!(
        part.dir.parent() == Some(table_dir),
        "a part directory outside its table"
    );
    fs::rename(&part.dir, &target).map_err(|e| Error::io("rename", &part.dir, e))?;
    fs::remove_dir_all(&target).map_err(|e| Error::io("remove", &target, e))
}

/// Removes a temporary or never-acknowledged directory (if it is there), logging a failure.
fn discard_dir(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(part = %dir.display(), %error, "cannot remove an uncommitted part")
        }
    }
}

/// Runs of adjacent active parts per partition that no merge has claimed, cut wherever an insert
/// still holds a block number between two neighbours.
fn merge_runs(state: &State, merging: &HashSet<PartInfo>) -> Vec<Vec<Arc<DataPart>>> {
    let mut runs: Vec<Vec<Arc<DataPart>>> = Vec::new();
    let mut current: Vec<Arc<DataPart>> = Vec::new();
    for part in &state.parts.parts {
        let claimed = merging.contains(&part.info);
        let breaks = claimed
            || current.last().is_some_and(|last| {
                last.info.partition_id != part.info.partition_id
                    || state
                        .in_flight
                        .range(
                            (last.info.partition_id.clone(), last.info.max_block + 1)
                                ..(part.info.partition_id.clone(), part.info.min_block),
                        )
                        .next()
                        .is_some()
            });
        if breaks && !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
        if !claimed {
            current.push(Arc::clone(part));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

#[cfg(test)]
mod tests {
    use arrow_array::UInt64Array;
    use granary_protocol::compress::Method;

    use super::*;
    use crate::storage::merge::OrdinaryMerge;

    fn layout() -> TableLayout {
        TableLayout {
            columns: vec![PartColumn {
                name: "k".into(),
                data_type: DataType::UInt64,
                codec: Method::Lz4,
            }],
            sorting_key: vec![0],
            primary_key_len: 1,
            partition_key_types: vec![],
            minmax_columns: vec![],
            writer: PartWriter::default(),
            dedup_windows: DedupWindows::default(),
            merging: Arc::new(OrdinaryMerge),
        }
    }

    fn block(keys: std::ops::Range<u64>) -> RecordBatch {
        let keys: ArrayRef = Arc::new(UInt64Array::from_iter_values(keys));
        RecordBatch::try_from_iter([("k", keys)]).unwrap()
    }

    fn names(table: &TableData) -> Vec<String> {
        let snapshot = table.snapshot().unwrap();
        snapshot.parts.iter().map(|part| part.name()).collect()
    }

    /// The merge race that lost acknowledged inserts: parts 1 and 3 active while block 2 is still
    /// being published. No merge may cover block 2, and once it is published every row is there.
    #[test]
    fn a_merge_never_spans_a_block_an_insert_is_publishing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("t");
        let table = TableData::open(&dir, layout()).unwrap();
        table.insert(&block(0..10), &[], None).unwrap();
        let slow = table.write_temporary_part(&block(10..20), &[]).unwrap();
        let reservation = table.reserve_blocks(std::slice::from_ref(&slow)).unwrap();
        assert_eq!(reservation.infos[0].to_string(), "all_2_2_0");
        table.insert(&block(20..30), &[], None).unwrap();

        assert_eq!(table.optimize(None, false).unwrap(), vec![]);
        let settings = MergeSelectorSettings::default();
        assert_eq!(table.merge_once(&settings).unwrap(), None);
        assert_eq!(names(&table), ["all_1_1_0", "all_3_3_0"]);

        table.commit_part(&reservation.infos[0], &slow.dir).unwrap();
        drop(reservation);
        assert_eq!(names(&table), ["all_1_1_0", "all_2_2_0", "all_3_3_0"]);
        let merged = table.optimize(None, false).unwrap();
        assert_eq!(merged[0].to_string(), "all_1_3_1");
        assert_eq!(table.snapshot().unwrap().rows(), 30);
        drop(table);
        let reopened = TableData::open(&dir, layout()).unwrap();
        assert_eq!(names(&reopened), ["all_1_3_1"]);
        assert_eq!(reopened.snapshot().unwrap().rows(), 30);
    }

    /// The invariant on publish: a part that would overlap an active part is refused.
    #[test]
    fn publishing_an_overlapping_part_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let table = TableData::open(&root.path().join("t"), layout()).unwrap();
        table.insert(&block(0..10), &[], None).unwrap();
        let part = table.write_temporary_part(&block(10..20), &[]).unwrap();
        let error = table
            .commit_part(&PartInfo::parse("all_1_1_0").unwrap(), &part.dir)
            .unwrap_err();
        assert!(error.to_string().contains("already exists"), "{error}");
        let overlapping = PartInfo::parse("all_0_1_1").unwrap();
        let error = table.commit_part(&overlapping, &part.dir).unwrap_err();
        assert!(error.to_string().contains("overlap"), "{error}");
        assert_eq!(names(&table), ["all_1_1_0"]);
        assert!(!table.dir.join("all_0_1_1").exists());
    }
}
