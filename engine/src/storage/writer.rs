//! Writes one Wide part from a sorted block: every column's substreams into `.bin` files cut into
//! granules with `.mrk2` marks, the primary index, the small metadata files and `checksums.txt`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_row::{RowConverter, SortField};
use granary_protocol::DataType;
use granary_protocol::column::{
    ArraySizes, Encoder, StreamSink, Substream, escape_for_file_name, stream_file_name,
    substream_paths,
};
use granary_protocol::compress::{BlockSizes, CompressedWriter, Method};

use super::checksums::{Checksums, FileChecksum, HashingWriter, file_hash};
use super::fs::{sync_path, write_file_synced};
use super::marks::{Mark, check_marks, write_marks};
use super::primary_index::serialize_binary;
use crate::error::{Error, Result};

/// A column as a part stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartColumn {
    /// The column name.
    pub name: String,
    /// The ClickHouse type.
    pub data_type: DataType,
    /// The compression of its streams (`CODEC(...)`, or the table default).
    pub codec: Method,
}

/// Part-writing settings (ClickHouse's MergeTree settings of the same names).
#[derive(Debug, Clone)]
pub struct PartWriter {
    /// `index_granularity`: most rows per granule.
    pub index_granularity: usize,
    /// `index_granularity_bytes`: granules shrink so that one holds about this many bytes (0 = off).
    pub index_granularity_bytes: usize,
    /// `min/max_compress_block_size`.
    pub block_sizes: BlockSizes,
    /// The codec recorded in `default_compression_codec.txt`.
    pub default_codec: Method,
}

impl Default for PartWriter {
    fn default() -> Self {
        PartWriter {
            index_granularity: 8192,
            index_granularity_bytes: 10 * 1024 * 1024,
            block_sizes: BlockSizes::default(),
            default_codec: Method::Lz4,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WrittenPart {
    /// Rows in the part.
    pub rows: u64,
    /// Marks per stream, the final mark included.
    pub marks: usize,
    /// Bytes of every file of the part.
    pub bytes_on_disk: u64,
    /// The entries written to `checksums.txt`.
    pub checksums: Checksums,
}

/// The `CODEC(...)` text of a method.
pub fn codec_text(method: Method) -> String {
    match method {
        Method::None => "CODEC(NONE)".into(),
        Method::Lz4 => "CODEC(LZ4)".into(),
        Method::Zstd(level) => format!("CODEC(ZSTD({level}))"),
    }
}

/// Buffers for one granule's substreams, by path.
#[derive(Default)]
struct GranuleStreams(HashMap<Vec<Substream>, Vec<u8>>);

impl StreamSink for GranuleStreams {
    fn stream(&mut self, path: &[Substream]) -> &mut Vec<u8> {
        self.0.entry(path.to_vec()).or_default()
    }
}

/// One `.bin` file being written, with the hash of what goes in before compression.
struct StreamFile {
    path: Vec<Substream>,
    name: String,
    writer: CompressedWriter<HashingWriter<BufWriter<File>>>,
    uncompressed: HashingWriter<()>,
    marks: Vec<Mark>,
}

impl StreamFile {
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.uncompressed.update(bytes);
        Ok(self.writer.write(bytes)?)
    }

    fn mark(&mut self, rows: u64) -> Result<()> {
        let position = self.writer.mark()?;
        self.marks.push(Mark {
            offset_compressed: position.offset_compressed,
            offset_decompressed: position.offset_decompressed,
            rows,
        });
        Ok(())
    }
}

impl PartWriter {
    /// Rows per granule for a block, as ClickHouse's adaptive granularity computes them.
    pub fn granule_rows(&self, rows: usize, bytes: usize) -> usize {
        let granule = match self.index_granularity_bytes {
            0 => self.index_granularity,
            limit if bytes >= limit => rows / (bytes / limit),
            limit => limit / (bytes / rows.max(1)).max(1),
        };
        granule.clamp(1, self.index_granularity.max(1))
    }

    /// Writes `batch` (already sorted by the key) as a part into the existing, empty directory `dir`.
    /// `primary_key` lists the batch columns of the primary key, in key order.
    pub fn write(
        &self,
        dir: &Path,
        columns: &[PartColumn],
        batch: &RecordBatch,
        primary_key: &[usize],
        partition: Option<&PartPartition>,
    ) -> Result<WrittenPart> {
        let mut part = self.start(dir, columns, primary_key, partition)?;
        part.write_block(batch)?;
        part.finish()
    }

    /// Starts a part in the existing, empty directory `dir`, to be written block by block (in key
    /// order across blocks) with [`PartStream::write_block`] and completed by [`PartStream::finish`].
    pub fn start(
        &self,
        dir: &Path,
        columns: &[PartColumn],
        primary_key: &[usize],
        partition: Option<&PartPartition>,
    ) -> Result<PartStream> {
        let mut files = Vec::with_capacity(columns.len());
        for column in columns {
            let mut streams = Vec::new();
            for path in substream_paths(&column.data_type) {
                let name = stream_file_name(&column.name, &path);
                let file_path = dir.join(format!("{name}.bin"));
                let file =
                    File::create(&file_path).map_err(|e| Error::io("create", &file_path, e))?;
                let writer = CompressedWriter::new(
                    HashingWriter::new(BufWriter::new(file)),
                    column.codec,
                    self.block_sizes,
                );
                streams.push(StreamFile {
                    path,
                    name,
                    writer,
                    uncompressed: HashingWriter::new(()),
                    marks: Vec::new(),
                });
            }
            let mut prefix = GranuleStreams::default();
            Encoder::new(&mut prefix, ArraySizes::Sizes).encode_prefix(&column.data_type);
            route(prefix, &mut streams)?;
            files.push(streams);
        }
        Ok(PartStream {
            writer: self.clone(),
            dir: dir.to_path_buf(),
            columns: columns.to_vec(),
            primary_key: primary_key.to_vec(),
            partition: partition.cloned(),
            minmax: Vec::new(),
            files,
            rows: 0,
            granule_rows_left: 0,
            granules: 0,
            index: Vec::new(),
            last_key: Vec::new(),
        })
    }
}

/// A part being written block by block.
#[derive(Debug)]
pub struct PartStream {
    writer: PartWriter,
    dir: PathBuf,
    columns: Vec<PartColumn>,
    primary_key: Vec<usize>,
    partition: Option<PartPartition>,
    /// Smallest and largest value so far (one-row arrays) of each min/max-indexed column.
    minmax: Vec<(ArrayRef, ArrayRef)>,
    /// Per column, its substream files.
    files: Vec<Vec<StreamFile>>,
    rows: u64,
    /// Rows still to come in the open granule (a granule may continue into the next block).
    granule_rows_left: usize,
    granules: usize,
    index: Vec<u8>,
    /// The primary key of the last row written, for the final index entry.
    last_key: Vec<u8>,
}

impl std::fmt::Debug for StreamFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFile")
            .field("name", &self.name)
            .field("marks", &self.marks.len())
            .finish()
    }
}

impl PartStream {
    /// Appends a block; its rows must not sort before the rows already written.
    pub fn write_block(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if batch.num_columns() != self.columns.len() {
            return Err(Error::Logical(format!(
                "part {}: a block of {} columns for {} columns",
                self.dir.display(),
                batch.num_columns(),
                self.columns.len()
            )));
        }
        if rows == 0 {
            return Ok(());
        }
        let granule = self.writer.granule_rows(rows, block_bytes(batch));
        let mut position = 0;
        while position < rows {
            if self.granule_rows_left == 0 {
                self.granule_rows_left = granule;
                self.granules += 1;
                for file in self.files.iter_mut().flatten() {
                    file.mark(0)?;
                }
                for key in &self.primary_key {
                    serialize_binary(
                        &self.columns[*key].data_type,
                        batch.column(*key),
                        position,
                        &mut self.index,
                    )?;
                }
            }
            let take = self.granule_rows_left.min(rows - position);
            for ((column, streams), array) in self
                .columns
                .iter()
                .zip(self.files.iter_mut())
                .zip(batch.columns())
            {
                let mut buffers = GranuleStreams::default();
                Encoder::new(&mut buffers, ArraySizes::Sizes)
                    .encode(&column.data_type, array.slice(position, take).as_ref())?;
                route(buffers, streams)?;
                for file in streams.iter_mut() {
                    if let Some(mark) = file.marks.last_mut() {
                        mark.rows += take as u64;
                    }
                }
            }
            self.granule_rows_left -= take;
            position += take;
        }
        self.last_key.clear();
        for key in &self.primary_key {
            serialize_binary(
                &self.columns[*key].data_type,
                batch.column(*key),
                rows - 1,
                &mut self.last_key,
            )?;
        }
        self.update_minmax(batch)?;
        self.rows += rows as u64;
        Ok(())
    }

    fn update_minmax(&mut self, batch: &RecordBatch) -> Result<()> {
        let Some(partition) = &self.partition else {
            return Ok(());
        };
        for (slot, column) in partition.minmax_columns.iter().enumerate() {
            let data_type = &self.columns[*column].data_type;
            let array = batch.column(*column);
            let (min, max) = min_max_rows(data_type, array)?;
            let candidates = match self.minmax.get(slot) {
                Some((old_min, old_max)) => arrow_select::concat::concat(&[
                    old_min.as_ref(),
                    old_max.as_ref(),
                    array.slice(min, 1).as_ref(),
                    array.slice(max, 1).as_ref(),
                ])?,
                None => arrow_select::concat::concat(&[
                    array.slice(min, 1).as_ref(),
                    array.slice(max, 1).as_ref(),
                ])?,
            };
            let (min, max) = min_max_rows(data_type, &candidates)?;
            let bounds = (candidates.slice(min, 1), candidates.slice(max, 1));
            match self.minmax.get_mut(slot) {
                Some(existing) => *existing = bounds,
                None => self.minmax.push(bounds),
            }
        }
        Ok(())
    }

    /// Writes the final marks, the index and the metadata files, and fsyncs everything.
    pub fn finish(self) -> Result<WrittenPart> {
        let dir = self.dir.as_path();
        let part = dir.display().to_string();
        if self.rows == 0 {
            return Err(Error::Logical(format!("part {part}: no rows were written")));
        }
        let mut checksums = Checksums::default();
        for streams in self.files {
            for mut file in streams {
                file.mark(0)?;
                check_marks(&part, &file.name, self.rows, &file.marks)?;
                debug_assert_eq!(file.marks.len(), self.granules + 1);
                let hashing = file.writer.finish()?;
                let (file_size, hash) = (hashing.bytes(), hashing.hash());
                let bin_path = dir.join(format!("{}.bin", file.name));
                let mut buffered = hashing.into_inner();
                buffered
                    .flush()
                    .map_err(|e| Error::io("write", &bin_path, e))?;
                let inner = buffered
                    .into_inner()
                    .map_err(|e| Error::io("write", &bin_path, e.into_error()))?;
                inner
                    .sync_all()
                    .map_err(|e| Error::io("fsync", &bin_path, e))?;
                checksums.files.insert(
                    format!("{}.bin", file.name),
                    FileChecksum {
                        file_size,
                        file_hash: hash,
                        uncompressed: Some((file.uncompressed.bytes(), file.uncompressed.hash())),
                    },
                );
                write_listed(
                    dir,
                    &format!("{}.mrk2", file.name),
                    &write_marks(&file.marks),
                    &mut checksums,
                )?;
            }
        }
        if !self.primary_key.is_empty() {
            let index = [self.index, self.last_key].concat();
            write_listed(dir, "primary.idx", &index, &mut checksums)?;
        }
        if let Some(partition) = &self.partition {
            let mut value = Vec::new();
            for (data_type, array) in &partition.key {
                serialize_binary(data_type, array, 0, &mut value)?;
            }
            write_listed(dir, "partition.dat", &value, &mut checksums)?;
            for (column, (min, max)) in partition.minmax_columns.iter().zip(&self.minmax) {
                let data_type = &self.columns[*column].data_type;
                let mut bounds = Vec::new();
                serialize_binary(data_type, min, 0, &mut bounds)?;
                serialize_binary(data_type, max, 0, &mut bounds)?;
                let name = format!(
                    "minmax_{}.idx",
                    escape_for_file_name(&self.columns[*column].name)
                );
                write_listed(dir, &name, &bounds, &mut checksums)?;
            }
        }
        write_listed(
            dir,
            "count.txt",
            self.rows.to_string().as_bytes(),
            &mut checksums,
        )?;
        let columns_text = columns_txt(&self.columns);
        let codec = codec_text(self.writer.default_codec);
        write_file_synced(&dir.join("columns.txt"), columns_text.as_bytes())?;
        write_file_synced(&dir.join("default_compression_codec.txt"), codec.as_bytes())?;
        let checksums_bytes = checksums.to_bytes()?;
        write_file_synced(&dir.join("checksums.txt"), &checksums_bytes)?;
        sync_path(dir)?;
        let listed: u64 = checksums.files.values().map(|entry| entry.file_size).sum();
        let unlisted = (checksums_bytes.len() + columns_text.len() + codec.len()) as u64;
        Ok(WrittenPart {
            rows: self.rows,
            marks: self.granules + 1,
            bytes_on_disk: listed + unlisted,
            checksums,
        })
    }
}

/// The in-memory size of a block's rows (of a slice, not of the buffers it shares).
fn block_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| column.get_array_memory_size())
        })
        .sum()
}

/// Writes a small file of the part and lists it in the checksums.
fn write_listed(dir: &Path, name: &str, bytes: &[u8], checksums: &mut Checksums) -> Result<()> {
    write_file_synced(&dir.join(name), bytes)?;
    checksums.files.insert(
        name.to_string(),
        FileChecksum {
            file_size: bytes.len() as u64,
            file_hash: file_hash(bytes),
            uncompressed: None,
        },
    );
    Ok(())
}

/// What a partitioned part records about its partition.
#[derive(Debug, Clone)]
pub struct PartPartition {
    /// The partition-key value (one-row arrays, in key order), written to `partition.dat`.
    pub key: Vec<(DataType, ArrayRef)>,
    /// The batch columns the partition expression reads; each gets a `minmax_<column>.idx`.
    pub minmax_columns: Vec<usize>,
}

/// The rows holding the smallest and the largest value of a column (NULLs sort last).
pub fn min_max_rows(data_type: &DataType, array: &ArrayRef) -> Result<(usize, usize)> {
    let options = arrow_schema::SortOptions {
        descending: false,
        nulls_first: false,
    };
    let converter = RowConverter::new(vec![SortField::new_with_options(
        array.data_type().clone(),
        options,
    )])?;
    let rows = converter.convert_columns(std::slice::from_ref(array))?;
    if rows.num_rows() == 0 {
        return Err(Error::Logical(format!(
            "min/max of an empty {data_type} column"
        )));
    }
    let (mut min, mut max) = (0, 0);
    for row in 1..rows.num_rows() {
        if rows.row(row) < rows.row(min) {
            min = row;
        }
        if rows.row(row) > rows.row(max) {
            max = row;
        }
    }
    Ok((min, max))
}

/// Appends each substream buffer of a granule to its file.
fn route(streams: GranuleStreams, files: &mut [StreamFile]) -> Result<()> {
    for file in files.iter_mut() {
        if let Some(bytes) = streams.0.get(&file.path) {
            file.append(bytes)?;
        }
    }
    Ok(())
}

/// `columns.txt`: the version line, the count, then one back-quoted name and type per line.
pub fn columns_txt(columns: &[PartColumn]) -> String {
    let mut text = format!("columns format version: 1\n{} columns:\n", columns.len());
    for column in columns {
        text.push_str(&format!(
            "`{}` {}\n",
            column.name.replace('`', "``"),
            column.data_type
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_granularity_follows_clickhouse() {
        let writer = PartWriter::default();
        // Narrow rows: full 8192-row granules.
        assert_eq!(writer.granule_rows(100_000, 800_000), 8192);
        // 1 KiB rows: 10 MiB / 1 KiB = 10240, capped at 8192; 4 KiB rows: 2560.
        assert_eq!(writer.granule_rows(1000, 4_096_000), 2560);
        // A block past 10 MiB: rows / (bytes / 10 MiB).
        assert_eq!(writer.granule_rows(1000, 100 * 1024 * 1024), 100);
        // Huge rows never make empty granules.
        assert_eq!(writer.granule_rows(2, 1 << 30), 1);
        let fixed = PartWriter {
            index_granularity_bytes: 0,
            index_granularity: 3,
            ..PartWriter::default()
        };
        assert_eq!(fixed.granule_rows(10, 1 << 30), 3);
    }

    #[test]
    fn columns_txt_has_clickhouse_layout() {
        let columns = [
            PartColumn {
                name: "LOSHIPMODE".into(),
                data_type: DataType::parse("LowCardinality(String)").unwrap(),
                codec: Method::Lz4,
            },
            PartColumn {
                name: "a`b".into(),
                data_type: DataType::UInt8,
                codec: Method::Lz4,
            },
        ];
        assert_eq!(
            columns_txt(&columns),
            "columns format version: 1\n2 columns:\n`LOSHIPMODE` LowCardinality(String)\n`a``b` UInt8\n"
        );
    }
}
