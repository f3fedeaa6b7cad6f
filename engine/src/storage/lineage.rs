//! `merge_sources.txt`: which parts each recent merge was made from, for as long as any of those
//! sources may still be on disk.
//!
//! Startup removes a part that another part covers only when this record says the covering part was
//! merged from it; a covered part that no recorded merge consumed is detached instead, with the
//! reason in its name, never deleted. (A part can cover a range without holding its rows: that is
//! how acknowledged inserts were once lost, when a merge spanned a block still being written.)
//!
//! The record is rewritten atomically (temporary file, fsync, rename, directory fsync) *before* a
//! merged part is renamed into place, so a merged part on disk always has its sources recorded. When
//! a merge consumes a part that is itself a recorded merge result, the new record also lists that
//! part's still-recorded sources: the newest part that covers a source always names it, however long
//! a reader keeps the source alive. A source's name is dropped once its directory is removed, and a
//! record once it names no source.
//!
//! ```text
//! all_1_3_1\tall_1_1_0,all_2_2_0,all_3_3_0
//! ```

use std::path::{Path, PathBuf};

use super::fs::publish_file;
use super::part::PartInfo;
use crate::error::{Error, Result};

/// The record's file in a table's data directory.
pub const MERGE_SOURCES: &str = "merge_sources.txt";

/// One merge: the part it made and the parts it consumed (directly or through recorded merges).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Merge {
    merged: PartInfo,
    sources: Vec<PartInfo>,
}

/// The recorded merges of one table.
#[derive(Debug)]
pub struct MergeLineage {
    path: PathBuf,
    merges: Vec<Merge>,
}

impl MergeLineage {
    /// Reads the record of the table in `dir` (none yet: empty).
    pub fn open(dir: &Path) -> Result<MergeLineage> {
        let path = dir.join(MERGE_SOURCES);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(Error::io("read", &path, error)),
        };
        let mut merges = Vec::new();
        for line in text.lines().filter(|line| !line.is_empty()) {
            let parsed = line.split_once('\t').and_then(|(merged, sources)| {
                let merged = PartInfo::parse(merged).ok()?;
                let sources = sources
                    .split(',')
                    .map(PartInfo::parse)
                    .collect::<Result<Vec<_>>>()
                    .ok()?;
                Some(Merge { merged, sources })
            });
            match parsed {
                Some(merge) => merges.push(merge),
                None => {
                    tracing::warn!(record = %path.display(), line, "skipping a malformed merge record")
                }
            }
        }
        Ok(MergeLineage { path, merges })
    }

    /// Whether a recorded merge made `merged` from `source`.
    pub fn consumed(&self, merged: &PartInfo, source: &PartInfo) -> bool {
        self.merges
            .iter()
            .any(|merge| &merge.merged == merged && merge.sources.contains(source))
    }

    /// Records, durably, that `merged` is being made from `sources`: call before renaming it into
    /// place. Sources that are recorded merge results bring their own recorded sources along.
    pub fn record(&mut self, merged: &PartInfo, sources: &[PartInfo]) -> Result<()> {
        let mut all: Vec<PartInfo> = sources.to_vec();
        for merge in &self.merges {
            if sources.contains(&merge.merged) {
                all.extend(merge.sources.iter().cloned());
            }
        }
        all.sort();
        all.dedup();
        self.merges.push(Merge {
            merged: merged.clone(),
            sources: all,
        });
        self.write()
    }

    /// Takes back the record of a merge that did not publish its part.
    pub fn abandon(&mut self, merged: &PartInfo) -> Result<()> {
        let before = self.merges.len();
        if let Some(position) = self.merges.iter().rposition(|m| &m.merged == merged) {
            self.merges.remove(position);
        }
        if self.merges.len() != before {
            self.write()?;
        }
        Ok(())
    }

    /// Forgets parts whose directories are gone; records that name no source any more go too.
    pub fn removed(&mut self, removed: &[PartInfo]) -> Result<()> {
        if removed.is_empty() {
            return Ok(());
        }
        let mut changed = false;
        for merge in &mut self.merges {
            let before = merge.sources.len();
            merge.sources.retain(|source| !removed.contains(source));
            changed |= merge.sources.len() != before;
        }
        let before = self.merges.len();
        self.merges.retain(|merge| !merge.sources.is_empty());
        changed |= self.merges.len() != before;
        if changed {
            self.write()?;
        }
        Ok(())
    }

    /// Forgets everything (after startup has removed every consumed source, or a TRUNCATE).
    pub fn clear(&mut self) -> Result<()> {
        self.merges.clear();
        self.write()
    }

    fn write(&self) -> Result<()> {
        let mut text = String::new();
        for merge in &self.merges {
            let sources: Vec<String> = merge.sources.iter().map(ToString::to_string).collect();
            text.push_str(&format!("{}\t{}\n", merge.merged, sources.join(",")));
        }
        publish_file(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> PartInfo {
        PartInfo::parse(name).unwrap()
    }

    #[test]
    fn records_survive_a_reopen_and_carry_earlier_sources() {
        let root = tempfile::tempdir().unwrap();
        let mut lineage = MergeLineage::open(root.path()).unwrap();
        lineage
            .record(&info("all_1_2_1"), &[info("all_1_1_0"), info("all_2_2_0")])
            .unwrap();
        lineage
            .record(&info("all_1_3_2"), &[info("all_1_2_1"), info("all_3_3_0")])
            .unwrap();
        let lineage = MergeLineage::open(root.path()).unwrap();
        assert!(lineage.consumed(&info("all_1_2_1"), &info("all_1_1_0")));
        assert!(lineage.consumed(&info("all_1_3_2"), &info("all_1_1_0")));
        assert!(lineage.consumed(&info("all_1_3_2"), &info("all_1_2_1")));
        assert!(!lineage.consumed(&info("all_1_2_1"), &info("all_3_3_0")));
    }

    #[test]
    fn removed_sources_and_abandoned_merges_are_forgotten() {
        let root = tempfile::tempdir().unwrap();
        let mut lineage = MergeLineage::open(root.path()).unwrap();
        lineage
            .record(&info("all_1_2_1"), &[info("all_1_1_0"), info("all_2_2_0")])
            .unwrap();
        lineage.removed(&[info("all_1_1_0")]).unwrap();
        assert!(!lineage.consumed(&info("all_1_2_1"), &info("all_1_1_0")));
        assert!(lineage.consumed(&info("all_1_2_1"), &info("all_2_2_0")));
        lineage.removed(&[info("all_2_2_0")]).unwrap();
        assert!(lineage.merges.is_empty());
        lineage
            .record(&info("all_3_4_1"), &[info("all_3_3_0"), info("all_4_4_0")])
            .unwrap();
        lineage.abandon(&info("all_3_4_1")).unwrap();
        let reopened = MergeLineage::open(root.path()).unwrap();
        assert!(reopened.merges.is_empty());
    }
}
