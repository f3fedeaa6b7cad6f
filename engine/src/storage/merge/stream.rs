//! The k-way merge of sorted parts into key-ordered chunks, reading a few granules of each source
//! at a time, so that a merge holds O(sources × granules per read + one chunk) rows in memory.
//!
//! Sources are kept in a heap of source indices ordered by their current row's key, compared in
//! place: no per-row allocation. Equal keys come out in source order (older parts first), then in row order within a part — the
//! order the merging algorithms rely on. Chunks end only between different keys, so an algorithm
//! that combines a run of equal keys always sees the whole run.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_row::{OwnedRow, RowConverter, Rows, SortField};
use arrow_select::interleave::interleave_record_batch;
use granary_protocol::DataType;

use crate::error::{Error, Result};
use crate::storage::reader::{DataPart, ReadStats};

/// Granules read from one source at a time.
const GRANULES_PER_READ: usize = 4;

/// One source part being read in key order.
struct Source {
    part: Arc<DataPart>,
    next_granule: usize,
    batch: Option<RecordBatch>,
    keys: Option<Rows>,
    row: usize,
}

/// Yields a sorted, merged stream of the sources' rows as chunks of about `chunk_rows` rows.
pub struct KWayMerge {
    columns: Vec<(String, DataType)>,
    sorting_key: Vec<usize>,
    converter: RowConverter,
    sources: Vec<Source>,
    /// Sources with rows left, as a binary min-heap ordered by (current key, source index).
    heap: Vec<usize>,
    /// Rows picked but not yet copied out: (source, row in its current batch).
    pending: Vec<(usize, usize)>,
    /// Rows copied out of batches that were since replaced.
    done: Vec<RecordBatch>,
    done_rows: usize,
    chunk_rows: usize,
    /// Chunks may end inside a run of equal keys.
    cut_anywhere: bool,
    /// Once the chunk is full: the key of its last row; the chunk ends where the key changes.
    cut_key: Option<OwnedRow>,
    stats: ReadStats,
}

impl std::fmt::Debug for KWayMerge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KWayMerge")
            .field("sources", &self.sources.len())
            .field("chunk_rows", &self.chunk_rows)
            .finish()
    }
}

impl KWayMerge {
    /// Starts merging `parts` (in block order) on the columns `columns`, sorted by `sorting_key`.
    pub fn new(
        parts: &[Arc<DataPart>],
        columns: Vec<(String, DataType)>,
        sorting_key: Vec<usize>,
        chunk_rows: usize,
    ) -> Result<KWayMerge> {
        let fields = sorting_key
            .iter()
            .map(|index| SortField::new(columns[*index].1.to_arrow()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let sources = parts
            .iter()
            .map(|part| Source {
                part: Arc::clone(part),
                next_granule: 0,
                batch: None,
                keys: None,
                row: 0,
            })
            .collect();
        let mut merge = KWayMerge {
            columns,
            sorting_key,
            converter,
            sources,
            heap: Vec::new(),
            pending: Vec::new(),
            done: Vec::new(),
            done_rows: 0,
            chunk_rows: chunk_rows.max(1),
            cut_anywhere: false,
            cut_key: None,
            stats: ReadStats::default(),
        };
        for source in 0..merge.sources.len() {
            if merge.load(source)? {
                merge.push(source);
            }
        }
        Ok(merge)
    }

    /// Loads the next granules of a source; `false` when it is exhausted.
    fn load(&mut self, index: usize) -> Result<bool> {
        let source = &mut self.sources[index];
        let granules = source.part.granule_count();
        while source.next_granule < granules {
            let end = (source.next_granule + GRANULES_PER_READ).min(granules);
            let batch =
                source
                    .part
                    .read_granules(&self.columns, source.next_granule..end, &self.stats)?;
            source.next_granule = end;
            if batch.num_rows() == 0 {
                continue;
            }
            let key_columns: Vec<ArrayRef> = self
                .sorting_key
                .iter()
                .map(|column| batch.column(*column).clone())
                .collect();
            source.keys = Some(self.converter.convert_columns(&key_columns)?);
            source.batch = Some(batch);
            source.row = 0;
            return Ok(true);
        }
        source.batch = None;
        source.keys = None;
        Ok(false)
    }

    /// Whether source `a`'s current row comes before source `b`'s (equal keys: lower source first).
    fn before(&self, a: usize, b: usize) -> bool {
        let (source_a, source_b) = (&self.sources[a], &self.sources[b]);
        match (&source_a.keys, &source_b.keys) {
            (Some(keys_a), Some(keys_b)) => {
                (keys_a.row(source_a.row), a) < (keys_b.row(source_b.row), b)
            }
            _ => a < b,
        }
    }

    /// Puts a source with a current row on the heap.
    fn push(&mut self, index: usize) {
        self.heap.push(index);
        let mut child = self.heap.len() - 1;
        while child > 0 {
            let parent = (child - 1) / 2;
            if !self.before(self.heap[child], self.heap[parent]) {
                break;
            }
            self.heap.swap(child, parent);
            child = parent;
        }
    }

    /// Takes the source whose current row comes first.
    fn pop(&mut self) -> Option<usize> {
        let last = self.heap.len().checked_sub(1)?;
        self.heap.swap(0, last);
        let top = self.heap.pop();
        let mut parent = 0;
        loop {
            let (left, right) = (2 * parent + 1, 2 * parent + 2);
            let mut first = parent;
            if left < self.heap.len() && self.before(self.heap[left], self.heap[first]) {
                first = left;
            }
            if right < self.heap.len() && self.before(self.heap[right], self.heap[first]) {
                first = right;
            }
            if first == parent {
                break;
            }
            self.heap.swap(parent, first);
            parent = first;
        }
        top
    }

    /// Copies the pending rows out of the sources' current batches.
    fn flush_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = {
            let batches = self.batches_with_placeholders()?;
            interleave_record_batch(&batches, &self.pending)?
        };
        self.done_rows += chunk.num_rows();
        self.done.push(chunk);
        self.pending.clear();
        Ok(())
    }

    /// The sources' current batches, an empty stand-in for exhausted ones (never indexed).
    fn batches_with_placeholders(&self) -> Result<Vec<&RecordBatch>> {
        let any = self
            .sources
            .iter()
            .find_map(|source| source.batch.as_ref())
            .ok_or_else(|| Error::Logical("pending rows but no source has a batch".into()))?;
        Ok(self
            .sources
            .iter()
            .map(|source| source.batch.as_ref().unwrap_or(any))
            .collect())
    }

    /// The next chunk of merged rows in key order, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        while let Some(index) = self.pop() {
            let source = &self.sources[index];
            let row = source.row;
            let starts_new_key = match (&self.cut_key, &source.keys) {
                (Some(cut), Some(keys)) => cut.row() != keys.row(row),
                _ => false,
            };
            if starts_new_key {
                // The chunk is full and this row starts a new key: it starts the next chunk.
                self.push(index);
                self.cut_key = None;
                return self.take_chunk().map(Some);
            }
            self.pending.push((index, row));
            if self.cut_key.is_none()
                && !self.cut_anywhere
                && self.done_rows + self.pending.len() >= self.chunk_rows
            {
                self.cut_key = source.keys.as_ref().map(|keys| keys.row(row).owned());
            }
            let rows = source.batch.as_ref().map_or(0, RecordBatch::num_rows);
            if row + 1 < rows {
                self.sources[index].row += 1;
                self.push(index);
            } else {
                // The source's batch is used up: copy out what still points into it first.
                self.flush_pending()?;
                if self.load(index)? {
                    self.push(index);
                }
            }
            if self.cut_anywhere && self.done_rows + self.pending.len() >= self.chunk_rows {
                return self.take_chunk().map(Some);
            }
        }
        self.cut_key = None;
        if self.done_rows + self.pending.len() == 0 {
            return Ok(None);
        }
        self.take_chunk().map(Some)
    }

    fn take_chunk(&mut self) -> Result<RecordBatch> {
        self.flush_pending()?;
        let schema = self.done[0].schema();
        let chunk = arrow_select::concat::concat_batches(&schema, &self.done)?;
        self.done.clear();
        self.done_rows = 0;
        Ok(chunk)
    }

    /// Lets chunks end between rows of one key: for merging algorithms that look at rows one by
    /// one (`MergingAlgorithm::needs_whole_keys` is false), so that a long run of one key (or a
    /// table without a sorting key) never has to fit in one chunk.
    pub fn cutting_anywhere(mut self) -> KWayMerge {
        self.cut_anywhere = true;
        self
    }

    /// What the merge has read from its sources.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }
}
