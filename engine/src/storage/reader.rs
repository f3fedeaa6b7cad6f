//! Opens a committed part, checks it against its own metadata, and reads columns by granule ranges.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::BufReader;
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow_array::ArrayRef;
use granary_protocol::DataType;
use granary_protocol::column::{
    ArraySizes, Decoder, StreamSource, Substream, escape_for_file_name, stream_file_name,
    substream_paths,
};
use granary_protocol::compress::{self, CompressedReader};
use granary_protocol::io::Cursor;

use super::checksums::{Checksums, FILES_WITHOUT_CHECKSUMS, file_hash};
use super::marks::{Mark, check_marks, read_marks};
use super::part::PartInfo;
use super::primary_index;
use crate::error::{Error, Result};

/// What a query read from parts, so that pruning is observable (`read_rows`, `read_bytes`).
#[derive(Debug, Default)]
pub struct ReadStats {
    rows: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
}

impl ReadStats {
    /// Rows read so far (per column read, the rows of the granules it covered, counted once per
    /// granule range and column set).
    pub fn rows(&self) -> u64 {
        self.rows.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Decompressed bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts `rows` rows and `bytes` decompressed bytes as read.
    pub fn add(&self, rows: u64, bytes: u64) {
        self.rows
            .fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
        self.bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Most bytes one decompressed frame may claim when read back from disk.
const FRAME_BYTES_MAX: usize = 1 << 30;

/// A committed part, opened and checked: its columns, row count, marks and checksums.
#[derive(Debug)]
pub struct DataPart {
    /// The part directory.
    pub dir: PathBuf,
    /// What the directory name says.
    pub info: PartInfo,
    /// Rows (`count.txt`).
    pub rows: u64,
    /// Columns in physical order (`columns.txt`).
    pub columns: Vec<(String, DataType)>,
    /// The contents of `checksums.txt`.
    pub checksums: Checksums,
    /// Rows of each granule.
    pub granule_rows: Vec<u64>,
    /// Bytes of all files of the part.
    pub bytes_on_disk: u64,
    /// When the part was committed (its directory's modification time).
    pub modification_time: std::time::SystemTime,
    /// Marks of each stream, by stream file name (without `.mrk2`).
    marks: HashMap<String, Vec<Mark>>,
    /// `primary.idx`, read on first use (a part is immutable, so it never changes).
    primary_index: std::sync::OnceLock<std::sync::Arc<Vec<ArrayRef>>>,
    /// The `minmax_*.idx` files, read on first use.
    minmax: std::sync::OnceLock<std::sync::Arc<Vec<ArrayRef>>>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// Parses `columns.txt`.
fn parse_columns(part: &str, text: &str) -> Result<Vec<(String, DataType)>> {
    let corrupted = |reason: &str| Error::corrupted(part, format!("columns.txt: {reason}"));
    let mut lines = text.lines();
    if lines.next() != Some("columns format version: 1") {
        return Err(corrupted("unknown format version"));
    }
    let count: usize = lines
        .next()
        .and_then(|line| line.strip_suffix(" columns:"))
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| corrupted("no column count"))?;
    let mut columns = Vec::with_capacity(count);
    for line in lines {
        let quoted = line
            .strip_prefix('`')
            .ok_or_else(|| corrupted("a column name is not back-quoted"))?;
        let mut name = String::new();
        let mut chars = quoted.char_indices();
        let type_start = loop {
            match chars.next() {
                Some((index, '`')) if quoted[index + 1..].starts_with('`') => {
                    name.push('`');
                    chars.next();
                }
                Some((index, '`')) => break index + 1,
                Some((_, ch)) => name.push(ch),
                None => return Err(corrupted("unterminated column name")),
            }
        };
        let type_name = quoted[type_start..]
            .strip_prefix(' ')
            .ok_or_else(|| corrupted("no type after a column name"))?;
        columns.push((name, DataType::parse(type_name)?));
    }
    if columns.len() != count {
        return Err(corrupted(&format!(
            "{} columns listed, header says {count}",
            columns.len()
        )));
    }
    Ok(columns)
}

/// One cursor per substream, over bytes read from the part.
struct StreamCursors<'a>(HashMap<&'a [Substream], Cursor<'a>>);

impl<'a> StreamSource<'a> for StreamCursors<'a> {
    fn stream(&mut self, path: &[Substream]) -> granary_protocol::Result<&mut Cursor<'a>> {
        self.0.get_mut(path).ok_or_else(|| {
            granary_protocol::Error::Logical(format!("no substream {path:?} in the part"))
        })
    }
}

fn stream_cursors<'a>(paths: &'a [Vec<Substream>], buffers: &'a [Vec<u8>]) -> StreamCursors<'a> {
    StreamCursors(
        paths
            .iter()
            .map(Vec::as_slice)
            .zip(buffers.iter().map(|bytes| Cursor::new(bytes)))
            .collect(),
    )
}

impl DataPart {
    /// Opens the part in `dir` and checks that every file `checksums.txt` lists exists with its size,
    /// that every stream of every column is there, and that the marks cover `count.txt` rows.
    pub fn open(dir: &Path) -> Result<DataPart> {
        let name = dir
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| {
                Error::BadPartName(
                    dir.file_name()
                        .map(|name| name.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            })?
            .to_string();
        let info = PartInfo::parse(&name)?;
        let count = read(&dir.join("count.txt"))?;
        let rows: u64 = std::str::from_utf8(&count)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| Error::corrupted(&name, "count.txt is not a number"))?;
        let columns_bytes = read(&dir.join("columns.txt"))?;
        let columns_text = String::from_utf8(columns_bytes)
            .map_err(|_| Error::corrupted(&name, "columns.txt is not text"))?;
        let columns = parse_columns(&name, &columns_text)?;
        let checksums = Checksums::parse(&name, &read(&dir.join("checksums.txt"))?)?;

        let mut bytes_on_disk = 0;
        for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            let size = entry
                .metadata()
                .map_err(|e| Error::io("stat", entry.path(), e))?
                .len();
            bytes_on_disk += size;
            let file = entry.file_name().to_string_lossy().into_owned();
            match checksums.files.get(&file) {
                Some(listed) if listed.file_size != size => {
                    return Err(Error::BadFileSize {
                        part: name.clone(),
                        file,
                        expected: listed.file_size,
                        actual: size,
                    });
                }
                _ => {}
            }
        }
        for file in checksums.files.keys() {
            if !dir.join(file).is_file() {
                return Err(Error::NoFileInPart {
                    part: name.clone(),
                    file: file.clone(),
                });
            }
        }

        let mut marks = HashMap::new();
        let mut granule_rows: Option<Vec<u64>> = None;
        for (column, data_type) in &columns {
            for path in substream_paths(data_type) {
                let stream = stream_file_name(column, &path);
                for suffix in [".bin", ".mrk2"] {
                    if !checksums.files.contains_key(&format!("{stream}{suffix}")) {
                        return Err(Error::NoFileInPart {
                            part: name.clone(),
                            file: format!("{stream}{suffix}"),
                        });
                    }
                }
                let file = format!("{stream}.mrk2");
                let stream_marks = read_marks(&name, &file, &read(&dir.join(&file))?)?;
                check_marks(&name, &file, rows, &stream_marks)?;
                let rows_of: Vec<u64> = stream_marks[..stream_marks.len() - 1]
                    .iter()
                    .map(|mark| mark.rows)
                    .collect();
                match &granule_rows {
                    None => granule_rows = Some(rows_of),
                    Some(expected) if *expected != rows_of => {
                        return Err(Error::corrupted(
                            &name,
                            format!("{file}: granules differ from the other streams"),
                        ));
                    }
                    Some(_) => {}
                }
                marks.insert(stream, stream_marks);
            }
        }
        let granule_rows =
            granule_rows.ok_or_else(|| Error::corrupted(&name, "the part has no columns"))?;
        let modification_time = fs::metadata(dir)
            .and_then(|metadata| metadata.modified())
            .map_err(|e| Error::io("stat", dir, e))?;
        Ok(DataPart {
            dir: dir.to_path_buf(),
            info,
            rows,
            columns,
            checksums,
            granule_rows,
            bytes_on_disk,
            modification_time,
            marks,
            primary_index: std::sync::OnceLock::new(),
            minmax: std::sync::OnceLock::new(),
        })
    }

    /// The part directory's name.
    pub fn name(&self) -> String {
        self.info.to_string()
    }

    /// Granules in the part (marks without the final one).
    pub fn granule_count(&self) -> usize {
        self.granule_rows.len()
    }

    /// Recomputes every listed file's hash (and decompressed hash) and compares with `checksums.txt`.
    pub fn verify_checksums(&self) -> Result<()> {
        for (file, listed) in &self.checksums.files {
            let bytes = read(&self.dir.join(file))?;
            let mismatch = || Error::ChecksumMismatch {
                part: self.name(),
                file: file.clone(),
            };
            if file_hash(&bytes) != listed.file_hash {
                return Err(mismatch());
            }
            if let Some((size, hash)) = listed.uncompressed {
                let mut decompressed = Vec::new();
                std::io::Read::read_to_end(
                    &mut CompressedReader::new(&bytes[..], FRAME_BYTES_MAX),
                    &mut decompressed,
                )
                .map_err(|_| mismatch())?;
                if decompressed.len() as u64 != size || file_hash(&decompressed) != hash {
                    return Err(mismatch());
                }
            }
        }
        for file in FILES_WITHOUT_CHECKSUMS {
            if !self.dir.join(file).is_file() && *file != "default_compression_codec.txt" {
                return Err(Error::NoFileInPart {
                    part: self.name(),
                    file: file.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The primary-key values at each mark (the final mark included), one array per key column.
    pub fn read_primary_index(&self, key_types: &[DataType]) -> Result<Vec<ArrayRef>> {
        let bytes = read(&self.dir.join("primary.idx"))?;
        primary_index::deserialize_binary(&self.name(), &bytes, key_types, self.granule_count() + 1)
    }

    /// The primary index, cached after the first read (`key_types` are the table's and never
    /// change for a part).
    pub fn primary_index(&self, key_types: &[DataType]) -> Result<std::sync::Arc<Vec<ArrayRef>>> {
        if let Some(index) = self.primary_index.get() {
            return Ok(std::sync::Arc::clone(index));
        }
        let index = std::sync::Arc::new(self.read_primary_index(key_types)?);
        Ok(std::sync::Arc::clone(
            self.primary_index.get_or_init(|| index),
        ))
    }

    /// The minimum and maximum of each partition-key column (`minmax_<column>.idx`; two values per
    /// array), cached after the first read.
    pub fn minmax(&self, columns: &[(String, DataType)]) -> Result<std::sync::Arc<Vec<ArrayRef>>> {
        if let Some(minmax) = self.minmax.get() {
            return Ok(std::sync::Arc::clone(minmax));
        }
        let arrays = columns
            .iter()
            .map(|(name, data_type)| {
                let file = format!("minmax_{}.idx", escape_for_file_name(name));
                let bytes = read(&self.dir.join(&file))?;
                let value_type = primary_index::index_value_type(data_type);
                let mut arrays =
                    primary_index::deserialize_binary(&self.name(), &bytes, &[value_type], 2)?;
                arrays
                    .pop()
                    .ok_or_else(|| Error::corrupted(self.name(), format!("{file} is empty")))
            })
            .collect::<Result<Vec<_>>>()?;
        let arrays = std::sync::Arc::new(arrays);
        Ok(std::sync::Arc::clone(self.minmax.get_or_init(|| arrays)))
    }

    /// Every row of the given columns, as one batch (fields carry their ClickHouse types).
    pub fn read_all(&self, columns: &[(String, DataType)]) -> Result<arrow_array::RecordBatch> {
        self.read_granules(columns, 0..self.granule_count(), &ReadStats::default())
    }

    /// Reads the given columns over granules `granules` as one batch, counting what was read.
    pub fn read_granules(
        &self,
        columns: &[(String, DataType)],
        granules: Range<usize>,
        stats: &ReadStats,
    ) -> Result<arrow_array::RecordBatch> {
        let fields: Vec<arrow_schema::Field> = columns
            .iter()
            .map(|(name, data_type)| granary_protocol::types::field_for(name, data_type))
            .collect();
        let arrays = columns
            .iter()
            .map(|(name, _)| self.read_column(name, granules.clone()))
            .collect::<Result<Vec<_>>>()?;
        let rows: u64 = self.granule_rows[granules].iter().sum();
        let bytes: usize = arrays
            .iter()
            .map(|array| array.get_buffer_memory_size())
            .sum();
        stats.add(rows, bytes as u64);
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows as usize));
        Ok(arrow_array::RecordBatch::try_new_with_options(
            std::sync::Arc::new(arrow_schema::Schema::new(fields)),
            arrays,
            &options,
        )?)
    }

    /// Reads the rows of granules `granules` of column `name`.
    pub fn read_column(&self, name: &str, granules: Range<usize>) -> Result<ArrayRef> {
        let data_type = self
            .columns
            .iter()
            .find(|(column, _)| column == name)
            .map(|(_, data_type)| data_type)
            .ok_or_else(|| Error::NoSuchColumn {
                column: name.to_string(),
                context: format!("part {}", self.name()),
            })?;
        if granules.start > granules.end || granules.end > self.granule_count() {
            return Err(Error::Logical(format!(
                "granules {granules:?} of a part with {}",
                self.granule_count()
            )));
        }
        let rows: u64 = self.granule_rows[granules.clone()].iter().sum();
        let paths = substream_paths(data_type);
        let mut prefixes = Vec::with_capacity(paths.len());
        let mut bodies = Vec::with_capacity(paths.len());
        for path in &paths {
            let stream = stream_file_name(name, path);
            let marks = &self.marks[&stream];
            let file_path = self.dir.join(format!("{stream}.bin"));
            let file = File::open(&file_path).map_err(|e| Error::io("open", &file_path, e))?;
            let mut reader = CompressedReader::new(BufReader::new(file), FRAME_BYTES_MAX);
            // The state prefix sits before the first mark; most streams have none, and reading it
            // would decompress the first frame again for every granule range.
            let mut prefix = Vec::new();
            if marks[0].position() != compress::Mark::default() {
                reader.seek(compress::Mark::default())?;
                reader.read_to_mark(marks[0].position(), &mut prefix)?;
            }
            let mut body = Vec::new();
            reader.seek(marks[granules.start].position())?;
            reader.read_to_mark(marks[granules.end].position(), &mut body)?;
            prefixes.push(prefix);
            bodies.push(body);
        }
        let mut prefix_source = stream_cursors(&paths, &prefixes);
        Decoder::new(&mut prefix_source, ArraySizes::Sizes).decode_prefix(data_type)?;
        let mut body_source = stream_cursors(&paths, &bodies);
        let array =
            Decoder::new(&mut body_source, ArraySizes::Sizes).decode(data_type, rows as usize)?;
        for (path, cursor) in body_source.0.iter().chain(prefix_source.0.iter()) {
            if !cursor.is_empty() {
                return Err(Error::corrupted(
                    self.name(),
                    format!(
                        "{}: {} bytes left after reading granules {granules:?}",
                        stream_file_name(name, path),
                        cursor.remaining()
                    ),
                ));
            }
        }
        Ok(array)
    }
}
