//! Insert deduplication (`mergetree.md` §7, Granary decisions §7.7): block ids, and `dedup.log`,
//! the fsynced record of which recent blocks produced which parts.
//!
//! A block id is ClickHouse's SipHash128 over the insert's token (`<token>_<block index>`) or over the
//! canonical Native encoding of the whole inserted block (before the partition split). The log line
//! `ADD\t<T|H>\t<block id>\t<part>[,<part>...]` is appended and fsynced *before* the block's parts are
//! renamed into place; at startup a record stays only if all its parts (or parts covering them)
//! exist, so a crash before the renames forgets the id (a retry inserts) and a crash after them keeps
//! it (a retry is a no-op).

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use granary_protocol::column::write_native;
use granary_protocol::types::field_clickhouse_type;

use super::fs::publish_file;
use super::part::PartInfo;
use super::partition::SipHash;
use crate::error::{Error, Result};

/// The log file in a table's data directory.
pub const DEDUP_LOG: &str = "dedup.log";

/// Where a block id comes from; each kind has its own window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockIdKind {
    /// From `insert_deduplication_token` (always honoured).
    Token,
    /// From the data (only when `non_replicated_deduplication_window` > 0).
    Hash,
}

impl BlockIdKind {
    fn letter(self) -> &'static str {
        match self {
            BlockIdKind::Token => "T",
            BlockIdKind::Hash => "H",
        }
    }
}

/// How many recent ids of each kind the log remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupWindows {
    /// `deduplication_token_window` (Granary's; default 10 000).
    pub token_blocks: usize,
    /// `non_replicated_deduplication_window` (ClickHouse's; default 0 = off).
    pub hash_blocks: usize,
}

impl Default for DedupWindows {
    fn default() -> Self {
        DedupWindows {
            token_blocks: 10_000,
            hash_blocks: 0,
        }
    }
}

/// A block's identity for deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockId {
    /// Token or data hash.
    pub kind: BlockIdKind,
    /// 32 hex digits.
    pub id: String,
}

fn hex128(hash: SipHash) -> String {
    hash.finish128()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl BlockId {
    /// The id of the `index`-th block of an insert that carried `token`.
    pub fn from_token(token: &str, index: usize) -> BlockId {
        let mut hash = SipHash::default();
        hash.update(format!("{token}_{index}").as_bytes());
        BlockId {
            kind: BlockIdKind::Token,
            id: hex128(hash),
        }
    }

    /// The id of a block's data: its column names, type names and Native encoding.
    pub fn from_data(batch: &RecordBatch) -> Result<BlockId> {
        let mut hash = SipHash::default();
        let mut bytes = Vec::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let data_type = field_clickhouse_type(field)?;
            bytes.clear();
            granary_protocol::io::write_string(&mut bytes, field.name().as_bytes());
            granary_protocol::io::write_string(&mut bytes, data_type.to_string().as_bytes());
            write_native(&data_type, column.as_ref(), &mut bytes)?;
            hash.update(&bytes);
        }
        Ok(BlockId {
            kind: BlockIdKind::Hash,
            id: hex128(hash),
        })
    }
}

/// The table's record of recent blocks and the parts they produced.
#[derive(Debug)]
pub struct DedupLog {
    path: PathBuf,
    file: File,
    windows: DedupWindows,
    parts: HashMap<BlockId, Vec<String>>,
    order: HashMap<BlockIdKind, VecDeque<BlockId>>,
    lines: usize,
}

impl DedupLog {
    /// Opens the log of the table in `dir`, keeping the records whose parts all exist (`exists` says
    /// whether a part, or one covering it, is active), and rewrites it compacted. Also returns the
    /// parts of records that exist only in part: an insert of several partitions that a crash cut
    /// between its renames; it was never acknowledged, and its parts must not stay visible.
    pub fn open(
        dir: &Path,
        windows: DedupWindows,
        exists: impl Fn(&PartInfo) -> bool,
    ) -> Result<(DedupLog, Vec<PartInfo>)> {
        let path = dir.join(DEDUP_LOG);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(Error::io("read", &path, error)),
        };
        let mut records = Vec::new();
        let mut unfinished = Vec::new();
        // A line without its newline was torn by a crash while it was written: it never took effect.
        for line in text
            .split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
        {
            let fields: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
            let [op, kind, id, parts] = fields[..] else {
                tracing::warn!(log = %path.display(), line, "skipping a malformed dedup record");
                continue;
            };
            let kind = match kind {
                "T" => BlockIdKind::Token,
                "H" => BlockIdKind::Hash,
                _ => continue,
            };
            let id = BlockId {
                kind,
                id: id.to_string(),
            };
            if op == "DEL" {
                // An insert whose parts were taken back after its record was written.
                records.retain(|(recorded, _): &(BlockId, Vec<String>)| recorded != &id);
                continue;
            }
            if op != "ADD" {
                continue;
            }
            let names: Vec<String> = parts.split(',').map(str::to_string).collect();
            let infos: Vec<PartInfo> = names
                .iter()
                .filter_map(|name| PartInfo::parse(name).ok())
                .collect();
            let present: Vec<&PartInfo> = infos.iter().filter(|info| exists(info)).collect();
            if present.len() == names.len() {
                records.push((id, names));
            } else {
                unfinished.extend(present.into_iter().filter(|info| info.level == 0).cloned());
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let mut log = DedupLog {
            path,
            file,
            windows,
            parts: HashMap::new(),
            order: HashMap::new(),
            lines: 0,
        };
        for (id, names) in records {
            log.remember(id, names);
        }
        log.rewrite()?;
        Ok((log, unfinished))
    }

    /// The parts a previous insert of this block produced, if the log remembers it.
    pub fn lookup(&self, id: &BlockId) -> Option<&[String]> {
        self.parts.get(id).map(Vec::as_slice)
    }

    /// Whether ids of this kind are remembered at all.
    pub fn enabled(&self, kind: BlockIdKind) -> bool {
        self.window(kind) > 0
    }

    fn window(&self, kind: BlockIdKind) -> usize {
        match kind {
            BlockIdKind::Token => self.windows.token_blocks,
            BlockIdKind::Hash => self.windows.hash_blocks,
        }
    }

    fn remember(&mut self, id: BlockId, parts: Vec<String>) {
        let window = self.window(id.kind);
        let order = self.order.entry(id.kind).or_default();
        order.push_back(id.clone());
        self.parts.insert(id, parts);
        while order.len() > window {
            if let Some(old) = order.pop_front() {
                self.parts.remove(&old);
            }
        }
    }

    /// Records that `id` produced `parts` and fsyncs the record: call before renaming the parts.
    pub fn append(&mut self, id: &BlockId, parts: &[PartInfo]) -> Result<()> {
        if !self.enabled(id.kind) {
            return Ok(());
        }
        let names: Vec<String> = parts.iter().map(ToString::to_string).collect();
        let line = format!(
            "ADD\t{}\t{}\t{}\n",
            id.kind.letter(),
            id.id,
            names.join(",")
        );
        self.append_line(&line)?;
        self.remember(id.clone(), names);
        let remembered: usize = self.order.values().map(VecDeque::len).sum();
        if self.lines > 2 * remembered.max(1) {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Takes back the record of `id` (its parts were not all published, and the ones that were
    /// have been withdrawn): a retry of the block inserts it. Fsynced.
    pub fn forget(&mut self, id: &BlockId) -> Result<()> {
        if self.parts.remove(id).is_none() {
            return Ok(());
        }
        if let Some(order) = self.order.get_mut(&id.kind) {
            order.retain(|recorded| recorded != id);
        }
        self.append_line(&format!("DEL\t{}\t{}\t-\n", id.kind.letter(), id.id))
    }

    /// Appends one record line and fsyncs it.
    fn append_line(&mut self, line: &str) -> Result<()> {
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))?;
        self.lines += 1;
        Ok(())
    }

    /// Forgets every record (TRUNCATE): later inserts of the same blocks are new data.
    pub fn clear(&mut self) -> Result<()> {
        self.parts.clear();
        self.order.clear();
        self.rewrite()
    }

    /// Rewrites the log with only the remembered records (atomically: temporary file, rename).
    fn rewrite(&mut self) -> Result<()> {
        let mut text = String::new();
        for order in self.order.values() {
            for id in order {
                if let Some(parts) = self.parts.get(id) {
                    text.push_str(&format!(
                        "ADD\t{}\t{}\t{}\n",
                        id.kind.letter(),
                        id.id,
                        parts.join(",")
                    ));
                }
            }
        }
        publish_file(&self.path, text.as_bytes())?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", &self.path, e))?;
        self.lines = self.parts.len();
        Ok(())
    }
}
