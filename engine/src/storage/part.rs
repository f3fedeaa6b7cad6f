//! Part names: `<partition_id>_<min_block>_<max_block>_<level>[_<mutation>]` and their algebra.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};

/// What a part's directory name says about it (ClickHouse's `MergeTreePartInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartInfo {
    /// The partition the part belongs to (`all` when unpartitioned).
    pub partition_id: String,
    /// The first insert block number the part holds.
    pub min_block: u64,
    /// The last insert block number the part holds.
    pub max_block: u64,
    /// How many merges produced it (0 for an insert).
    pub level: u32,
    /// The mutation version, when a mutation rewrote it.
    pub mutation: Option<u64>,
}

impl PartInfo {
    /// The part of one insert block.
    pub fn new_insert(partition_id: &str, block: u64) -> PartInfo {
        PartInfo {
            partition_id: partition_id.to_string(),
            min_block: block,
            max_block: block,
            level: 0,
            mutation: None,
        }
    }

    /// Parses a directory name. Partition ids never contain `_` (they may contain `-`, for negative
    /// numbers), so the name splits into four or five fields.
    pub fn parse(name: &str) -> Result<PartInfo> {
        let bad = || Error::BadPartName(name.to_string());
        let fields: Vec<&str> = name.split('_').collect();
        let (partition_id, numbers) = match fields.len() {
            4 | 5 => (fields[0], &fields[1..]),
            _ => return Err(bad()),
        };
        if partition_id.is_empty()
            || !partition_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad());
        }
        let number = |text: &str| text.parse::<u64>().map_err(|_| bad());
        let info = PartInfo {
            partition_id: partition_id.to_string(),
            min_block: number(numbers[0])?,
            max_block: number(numbers[1])?,
            level: u32::try_from(number(numbers[2])?).map_err(|_| bad())?,
            mutation: numbers.get(3).map(|text| number(text)).transpose()?,
        };
        if info.min_block > info.max_block {
            return Err(bad());
        }
        Ok(info)
    }

    /// `data_version`: the mutation if any, else the first block.
    pub fn data_version(&self) -> u64 {
        self.mutation.unwrap_or(self.min_block)
    }

    /// Whether this part covers `other` (ClickHouse's `contains`).
    pub fn contains(&self, other: &PartInfo) -> bool {
        self.partition_id == other.partition_id
            && self.min_block <= other.min_block
            && self.max_block >= other.max_block
            && self.level >= other.level
            && self.mutation.unwrap_or(0) >= other.mutation.unwrap_or(0)
            && ((self.min_block == other.min_block && self.max_block == other.max_block)
                || self.level > other.level)
    }

    /// Whether two parts hold no block in common.
    pub fn is_disjoint(&self, other: &PartInfo) -> bool {
        self.partition_id != other.partition_id
            || self.max_block < other.min_block
            || other.max_block < self.min_block
    }
}

impl Ord for PartInfo {
    fn cmp(&self, other: &Self) -> Ordering {
        (
            &self.partition_id,
            self.min_block,
            self.max_block,
            self.level,
            self.mutation.unwrap_or(0),
        )
            .cmp(&(
                &other.partition_id,
                other.min_block,
                other.max_block,
                other.level,
                other.mutation.unwrap_or(0),
            ))
    }
}

impl PartialOrd for PartInfo {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PartInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}",
            self.partition_id, self.min_block, self.max_block, self.level
        )?;
        if let Some(mutation) = self.mutation {
            write!(f, "_{mutation}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> PartInfo {
        PartInfo::parse(name).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "all_1_1_0",
            "202203_5_9_2",
            "-5--3_1_1_0",
            "20220315_1_10_3_12",
        ] {
            assert_eq!(info(name).to_string(), name);
        }
        for bad in [
            "",
            "all",
            "all_1_1",
            "all_2_1_0",
            "all_a_1_0",
            "a/b_1_1_0",
            "all_1_1_0_1_1",
        ] {
            assert!(PartInfo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_follows_clickhouse() {
        assert!(!info("all_0_5_2").contains(&info("all_0_4_2")));
        assert!(info("all_0_5_3").contains(&info("all_0_4_2")));
        assert!(info("all_0_4_2_9").contains(&info("all_0_4_2")));
        assert!(info("all_1_1_0").contains(&info("all_1_1_0")));
        assert!(!info("all_1_3_1").contains(&info("other_2_2_0")));
        assert!(info("all_1_2_1").is_disjoint(&info("all_3_3_0")));
        assert!(!info("all_1_3_1").is_disjoint(&info("all_3_3_0")));
        assert!(info("all_1_1_0") < info("all_1_2_1"));
    }
}
