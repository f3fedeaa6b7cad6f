//! The catalog: databases and their tables, persisted as one metadata file per table.
//!
//! ```text
//! <data>/metadata/<db>/                 one directory per database (names escaped as ClickHouse does)
//! <data>/metadata/<db>/<table>.sql      the table's definition (`ATTACH TABLE _ ...`): its source of truth
//! <data>/data/<db>/<table>/             the table's parts, dedup.log, detached/
//! <data>/orphaned/                      data directories found without a definition (never deleted)
//! ```
//!
//! Metadata files are written to `<table>.sql.tmp`, fsynced and renamed, so a definition is either
//! the old or the new one. A file carries no table name, so RENAME is two renames: the data
//! directory, then the metadata file. DDL statements run one at a time.

pub mod definition;
pub mod settings;
pub mod table;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use datafusion::execution::session_state::SessionState;
use granary_protocol::ErrorCode;
use granary_protocol::column::escape_for_file_name;

use crate::error::{Error, Result};
use crate::sql::parser::parse_metadata;
use crate::storage::fs::{publish_file, sync_path};
use crate::storage::merge::MergeScheduler;
use definition::TableDefinition;
pub use table::Table;

/// The database every session starts in.
pub const DEFAULT_DATABASE: &str = "default";
/// The read-only database of system tables.
pub const SYSTEM_DATABASE: &str = "system";

type Databases = BTreeMap<String, BTreeMap<String, Arc<Table>>>;

/// Databases and tables.
#[derive(Debug)]
pub struct Catalog {
    root: PathBuf,
    databases: RwLock<Databases>,
    /// Held by each DDL statement for its whole run.
    ddl: Mutex<()>,
    /// Compiles table expressions (defaults, partition keys).
    functions: SessionState,
    merges: Option<MergeScheduler>,
}

impl Catalog {
    /// Opens the catalog under `root`, creating `default` on first use and opening every table.
    pub fn open(
        root: &Path,
        functions: SessionState,
        merges: Option<MergeScheduler>,
    ) -> Result<Catalog> {
        for dir in [
            root.join("metadata").join(DEFAULT_DATABASE),
            root.join("data").join(DEFAULT_DATABASE),
        ] {
            fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        }
        let catalog = Catalog {
            root: root.to_path_buf(),
            databases: RwLock::new(BTreeMap::new()),
            ddl: Mutex::new(()),
            functions,
            merges,
        };
        let metadata = root.join("metadata");
        let mut databases = Databases::new();
        for entry in list(&metadata)? {
            if !entry.is_dir() {
                continue;
            }
            let Some(database) = file_name(&entry).map(unescape_file_name) else {
                continue;
            };
            let mut tables = BTreeMap::new();
            let mut broken = Vec::new();
            for file in list(&entry)? {
                let Some(name) = file_name(&file) else {
                    continue;
                };
                if name.ends_with(".sql.tmp") {
                    fs::remove_file(&file).map_err(|e| Error::io("remove", &file, e))?;
                    continue;
                }
                if let Some(stem) = name.strip_suffix(BROKEN_SUFFIX) {
                    broken.push(unescape_file_name(stem));
                    continue;
                }
                let Some(stem) = name.strip_suffix(".sql") else {
                    continue;
                };
                let table_name = unescape_file_name(stem);
                match catalog.load_table(&database, &table_name, &file) {
                    Ok(table) => {
                        tables.insert(table_name, table);
                    }
                    Err(error) => {
                        // One table that cannot load must not keep the others from being served:
                        // its definition is set aside (its data stays where it is).
                        let target = entry.join(format!("{stem}{BROKEN_SUFFIX}"));
                        tracing::error!(
                            database = %database, table = %table_name, %error, moved_to = %target.display(),
                            "cannot load a table; its definition is set aside and the table is not served"
                        );
                        fs::rename(&file, &target).map_err(|e| Error::io("rename", &file, e))?;
                        sync_path(&entry)?;
                        broken.push(table_name);
                    }
                }
            }
            catalog.set_aside_orphans(&database, &tables, &broken)?;
            databases.insert(database, tables);
        }
        *catalog.write()? = databases;
        Ok(catalog)
    }

    /// Reads and opens one table's definition file.
    fn load_table(&self, database: &str, name: &str, file: &Path) -> Result<Arc<Table>> {
        let text = fs::read_to_string(file).map_err(|e| Error::io("read", file, e))?;
        let definition = parse_metadata(&text).map_err(|error| {
            Error::query(
                ErrorCode::INCORRECT_QUERY,
                format!("cannot load {}: {error}", file.display()),
            )
        })?;
        Table::validate(&definition, &self.functions)?;
        self.open_table(database, name, definition)
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Databases>> {
        self.databases
            .read()
            .map_err(|_| Error::Logical("the catalog lock is poisoned".into()))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Databases>> {
        self.databases
            .write()
            .map_err(|_| Error::Logical("the catalog lock is poisoned".into()))
    }

    fn lock_ddl(&self) -> Result<MutexGuard<'_, ()>> {
        self.ddl
            .lock()
            .map_err(|_| Error::Logical("a DDL statement panicked".into()))
    }

    /// The background merge scheduler, when merges run in the background.
    pub fn merges(&self) -> Option<&MergeScheduler> {
        self.merges.as_ref()
    }

    /// The functions table expressions may use.
    pub fn functions(&self) -> &SessionState {
        &self.functions
    }

    fn metadata_dir(&self, database: &str) -> PathBuf {
        self.root
            .join("metadata")
            .join(escape_for_file_name(database))
    }

    fn metadata_path(&self, database: &str, table: &str) -> PathBuf {
        self.metadata_dir(database)
            .join(format!("{}.sql", escape_for_file_name(table)))
    }

    fn database_data_dir(&self, database: &str) -> PathBuf {
        self.root.join("data").join(escape_for_file_name(database))
    }

    fn data_dir(&self, database: &str, table: &str) -> PathBuf {
        self.database_data_dir(database)
            .join(escape_for_file_name(table))
    }

    fn open_table(
        &self,
        database: &str,
        name: &str,
        definition: TableDefinition,
    ) -> Result<Arc<Table>> {
        let dir = self.data_dir(database, name);
        let table = Arc::new(Table::open(
            database,
            name,
            &dir,
            definition,
            &self.functions,
        )?);
        if let Some(merges) = &self.merges {
            merges.register(&table.data);
        }
        Ok(table)
    }

    /// Data directories without a definition (a crash between the steps of a DROP or RENAME) are
    /// moved to `<data>/orphaned/` with a warning, never deleted, and never adopted by a new table.
    fn set_aside_orphans(
        &self,
        database: &str,
        tables: &BTreeMap<String, Arc<Table>>,
        broken: &[String],
    ) -> Result<()> {
        let data = self.root.join("data").join(escape_for_file_name(database));
        for dir in list(&data)? {
            let Some(name) = file_name(&dir) else {
                continue;
            };
            let table = unescape_file_name(name);
            if tables.contains_key(&table) || broken.contains(&table) || !dir.is_dir() {
                continue;
            }
            if name.starts_with("tmp_dropped_") {
                // A DROP that a crash interrupted after its metadata was gone.
                fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
                continue;
            }
            let orphaned = self
                .root
                .join("orphaned")
                .join(escape_for_file_name(database));
            fs::create_dir_all(&orphaned).map_err(|e| Error::io("create", &orphaned, e))?;
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|age| age.as_secs())
                .unwrap_or(0);
            let target = orphaned.join(format!("{name}_{stamp}"));
            tracing::warn!(dir = %dir.display(), to = %target.display(), "a table data directory has no definition; setting it aside");
            fs::rename(&dir, &target).map_err(|e| Error::io("rename", &dir, e))?;
        }
        Ok(())
    }

    /// The database names, sorted (with `system`).
    pub fn database_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self.read()?.keys().cloned().collect();
        names.push(SYSTEM_DATABASE.to_string());
        names.sort();
        Ok(names)
    }

    /// Whether the database exists.
    pub fn database_exists(&self, database: &str) -> Result<bool> {
        Ok(database == SYSTEM_DATABASE || self.read()?.contains_key(database))
    }

    /// The tables of a database, sorted by name.
    pub fn tables(&self, database: &str) -> Result<Vec<Arc<Table>>> {
        let databases = self.read()?;
        let tables = databases
            .get(database)
            .ok_or_else(|| unknown_database(database))?;
        Ok(tables.values().cloned().collect())
    }

    /// Every table of every database.
    pub fn all_tables(&self) -> Result<Vec<Arc<Table>>> {
        Ok(self
            .read()?
            .values()
            .flat_map(|tables| tables.values().cloned())
            .collect())
    }

    /// The table, if it exists.
    pub fn find(&self, database: &str, table: &str) -> Result<Option<Arc<Table>>> {
        let databases = self.read()?;
        let tables = databases
            .get(database)
            .ok_or_else(|| unknown_database(database))?;
        Ok(tables.get(table).cloned())
    }

    /// The table, or `UNKNOWN_TABLE`.
    pub fn table(&self, database: &str, table: &str) -> Result<Arc<Table>> {
        self.find(database, table)?.ok_or_else(|| {
            Error::query(
                ErrorCode::UNKNOWN_TABLE,
                format!("table {database}.{table} does not exist"),
            )
        })
    }

    /// `CREATE DATABASE`.
    pub fn create_database(&self, name: &str, if_not_exists: bool) -> Result<()> {
        check_name("database", name)?;
        let _ddl = self.lock_ddl()?;
        if self.database_exists(name)? {
            if if_not_exists {
                return Ok(());
            }
            return Err(Error::query(
                ErrorCode::DATABASE_ALREADY_EXISTS,
                format!("database {name} already exists"),
            ));
        }
        let data = self.root.join("data").join(escape_for_file_name(name));
        fs::create_dir_all(&data).map_err(|e| Error::io("create", &data, e))?;
        let metadata = self.metadata_dir(name);
        fs::create_dir_all(&metadata).map_err(|e| Error::io("create", &metadata, e))?;
        sync_path(&metadata)?;
        if let Some(parent) = metadata.parent() {
            sync_path(parent)?;
        }
        self.write()?.insert(name.to_string(), BTreeMap::new());
        Ok(())
    }

    /// `DROP DATABASE`: drops its tables, then the database.
    pub fn drop_database(&self, name: &str, if_exists: bool) -> Result<()> {
        if name == SYSTEM_DATABASE || name == DEFAULT_DATABASE {
            return Err(Error::query(
                ErrorCode::ACCESS_DENIED,
                format!("database {name} cannot be dropped"),
            ));
        }
        if !self.database_exists(name)? {
            if if_exists {
                return Ok(());
            }
            return Err(unknown_database(name));
        }
        for table in self.tables(name)? {
            self.drop_table(name, &table.name, true)?;
        }
        check_name("database", name)?;
        let _ddl = self.lock_ddl()?;
        let metadata = self.metadata_dir(name);
        assert_confined(&metadata, &self.root.join("metadata"));
        fs::remove_dir_all(&metadata).map_err(|e| Error::io("remove", &metadata, e))?;
        let data = self.root.join("data").join(escape_for_file_name(name));
        assert_confined(&data, &self.root.join("data"));
        if data.exists() {
            fs::remove_dir_all(&data).map_err(|e| Error::io("remove", &data, e))?;
        }
        sync_path(&self.root.join("metadata"))?;
        self.write()?.remove(name);
        Ok(())
    }

    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS]`.
    pub fn create_table(
        &self,
        database: &str,
        name: &str,
        definition: TableDefinition,
        if_not_exists: bool,
        or_replace: bool,
    ) -> Result<()> {
        if database == SYSTEM_DATABASE {
            return Err(Error::query(
                ErrorCode::ACCESS_DENIED,
                "tables cannot be created in the system database",
            ));
        }
        check_name("database", database)?;
        check_name("table", name)?;
        let _ddl = self.lock_ddl()?;
        let existing = self.find(database, name)?;
        if existing.is_some() && !or_replace {
            if if_not_exists {
                return Ok(());
            }
            return Err(Error::query(
                ErrorCode::TABLE_ALREADY_EXISTS,
                format!("table {database}.{name} already exists"),
            ));
        }
        // The whole definition is checked before anything reaches the disk: a refused CREATE
        // leaves nothing behind (and an OR REPLACE keeps the old table).
        Table::validate(&definition, &self.functions)?;
        if let Some(old) = existing {
            self.remove_table_files(&old)?;
            self.write()?
                .get_mut(database)
                .map(|tables| tables.remove(name));
        }
        let metadata = definition.metadata_text();
        let table = self.open_table(database, name, definition)?;
        if let Err(error) = publish_file(&self.metadata_path(database, name), metadata.as_bytes()) {
            self.discard_new_table_dir(&table);
            return Err(error);
        }
        self.write()?
            .get_mut(database)
            .ok_or_else(|| unknown_database(database))?
            .insert(name.to_string(), table);
        Ok(())
    }

    /// Removes the data directory of a table whose CREATE failed after opening it (it holds no
    /// part yet).
    fn discard_new_table_dir(&self, table: &Table) {
        let data = self.data_dir(&table.database, &table.name);
        assert_confined(&data, &self.database_data_dir(&table.database));
        if let Err(error) = fs::remove_dir_all(&data) {
            tracing::warn!(dir = %data.display(), %error, "cannot remove the directory of a table that was not created");
        }
    }

    /// Removes a table's metadata file (durably) and then its data.
    fn remove_table_files(&self, table: &Table) -> Result<()> {
        check_name("table", &table.name)?;
        let metadata = self.metadata_path(&table.database, &table.name);
        assert_confined(&metadata, &self.metadata_dir(&table.database));
        fs::remove_file(&metadata).map_err(|e| Error::io("remove", &metadata, e))?;
        sync_path(&self.metadata_dir(&table.database))?;
        let data = self.data_dir(&table.database, &table.name);
        assert_confined(&data, &self.database_data_dir(&table.database));
        // Renamed first so that a crash midway leaves no half-deleted table under the name.
        let trash = data.with_file_name(format!(
            "tmp_dropped_{}",
            data.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        fs::rename(&data, &trash).map_err(|e| Error::io("rename", &data, e))?;
        fs::remove_dir_all(&trash).map_err(|e| Error::io("remove", &trash, e))?;
        Ok(())
    }

    /// `DROP TABLE [IF EXISTS]`.
    pub fn drop_table(&self, database: &str, name: &str, if_exists: bool) -> Result<()> {
        let _ddl = self.lock_ddl()?;
        let Some(table) = self.find(database, name)? else {
            if if_exists {
                return Ok(());
            }
            return Err(Error::query(
                ErrorCode::UNKNOWN_TABLE,
                format!("table {database}.{name} does not exist"),
            ));
        };
        self.write()?
            .get_mut(database)
            .map(|tables| tables.remove(name));
        self.remove_table_files(&table)
    }

    /// `RENAME TABLE a TO b`.
    pub fn rename_table(&self, from: (&str, &str), to: (&str, &str)) -> Result<()> {
        let _ddl = self.lock_ddl()?;
        let table = self.table(from.0, from.1)?;
        if !self.database_exists(to.0)? || to.0 == SYSTEM_DATABASE {
            return Err(unknown_database(to.0));
        }
        if self.find(to.0, to.1)?.is_some() {
            return Err(Error::query(
                ErrorCode::TABLE_ALREADY_EXISTS,
                format!("table {}.{} already exists", to.0, to.1),
            ));
        }
        // A running merge must not write into the directory being moved.
        let data_from = self.data_dir(from.0, from.1);
        let data_to = self.data_dir(to.0, to.1);
        self.write()?
            .get_mut(from.0)
            .map(|tables| tables.remove(from.1));
        let definition = table.definition.clone();
        drop(table);
        fs::rename(&data_from, &data_to).map_err(|e| Error::io("rename", &data_from, e))?;
        let metadata_from = self.metadata_path(from.0, from.1);
        let metadata_to = self.metadata_path(to.0, to.1);
        fs::rename(&metadata_from, &metadata_to)
            .map_err(|e| Error::io("rename", &metadata_from, e))?;
        sync_path(&self.metadata_dir(to.0))?;
        sync_path(&self.metadata_dir(from.0))?;
        if let Some(parent) = data_to.parent() {
            sync_path(parent)?;
        }
        let renamed = self.open_table(to.0, to.1, definition)?;
        self.write()?
            .get_mut(to.0)
            .ok_or_else(|| unknown_database(to.0))?
            .insert(to.1.to_string(), renamed);
        Ok(())
    }
}

/// What a table definition that could not be loaded at startup is renamed to end with.
const BROKEN_SUFFIX: &str = ".sql.broken";

/// Refuses a name that no file name can stand for on its own: an empty name would make a table's
/// directory its database's, and a database's the root of all of them.
fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::query(
            ErrorCode::SYNTAX_ERROR,
            format!("a {kind} name cannot be empty"),
        ));
    }
    Ok(())
}

/// Asserts that `path`, about to be deleted, is one object's own directory or file: a non-empty
/// name directly under `parent`.
fn assert_confined(path: &Path, parent: &Path) {
    assert!(
        path.parent() == Some(parent) && file_name(path).is_some_and(|name| !name.is_empty()),
        "refusing to delete {} outside {}",
        path.display(),
        parent.display()
    );
}

fn unknown_database(name: &str) -> Error {
    Error::query(
        ErrorCode::UNKNOWN_DATABASE,
        format!("database {name} does not exist"),
    )
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    match fs::read_dir(dir) {
        Ok(read) => {
            for entry in read {
                entries.push(entry.map_err(|e| Error::io("list", dir, e))?.path());
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(Error::io("list", dir, error)),
    }
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|name| name.to_str())
}

/// Reverses `escape_for_file_name` (`%XX` -> the byte).
pub fn unescape_file_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(digits, 16) {
                out.push(byte);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_unescape_to_table_names() {
        for name in ["hits", "my table", "a%b", "таблица", "x.y"] {
            assert_eq!(unescape_file_name(&escape_for_file_name(name)), name);
        }
    }
}
