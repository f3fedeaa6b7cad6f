//! `Connection`: one Rust client (one connection, reopened when it breaks) behind a lock, with
//! the GIL released while it works.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_pyarrow::{IntoPyArrow, PyArrowType, Table};
use granary_protocol::client::{
    Client, InsertOptions, InsertProgress, Options, QueryOptions, RetryPolicy,
};
use granary_protocol::compress::Method;
use granary_protocol::packet::server::Progress;
use granary_protocol::packet::settings::Setting;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::Mutex;

use crate::batches::BatchIterator;
use crate::errors::to_py;
use crate::runtime;

/// A logged-in connection to a Granary (or ClickHouse) server's native protocol port.
#[derive(Debug)]
#[pyclass(module = "granary._granary", frozen)]
pub struct Connection {
    client: Arc<Mutex<Client>>,
    address: String,
}

#[pymethods]
impl Connection {
    /// Connects and logs in (retrying connection failures up to `retries` times in all).
    #[new]
    #[pyo3(signature = (host, port, user, password, database, compression, connect_timeout, receive_timeout, retries, revision=None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        database: &str,
        compression: Option<&str>,
        connect_timeout: f64,
        receive_timeout: f64,
        retries: u32,
        revision: Option<u64>,
    ) -> PyResult<Connection> {
        let address = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut options = Options::new(address.clone());
        options.user = user.to_string();
        options.password = password.to_string();
        options.database = database.to_string();
        options.compression = match compression.map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") => None,
            Some("lz4") => Some(Method::Lz4),
            Some("zstd") => Some(Method::Zstd(1)),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "unknown compression {other:?}: use \"lz4\", \"zstd\" or None"
                )));
            }
        };
        options.connect_timeout = seconds(connect_timeout, "connect_timeout")?;
        options.receive_timeout = seconds(receive_timeout, "receive_timeout")?;
        options.retry = RetryPolicy {
            attempts: retries.max(1),
            ..RetryPolicy::default()
        };
        if let Some(revision) = revision {
            options.revision = revision;
        }
        let client = py
            .detach(|| runtime().block_on(Client::connect(options)))
            .map_err(to_py)?;
        Ok(Connection {
            client: Arc::new(Mutex::new(client)),
            address,
        })
    }

    /// Inserts the Arrow stream `data` (any object with `__arrow_c_stream__`) into `table`,
    /// exactly once under `token`; returns `(rows, blocks, attempts, token)`.
    #[pyo3(signature = (table, data, token=None, block_rows=None, settings=None, progress=None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn insert(
        &self,
        py: Python<'_>,
        table: &str,
        data: PyArrowType<Table>,
        token: Option<String>,
        block_rows: Option<usize>,
        settings: Option<&Bound<'_, PyDict>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(u64, usize, u32, String)> {
        let (batches, _schema) = data.0.into_inner();
        let mut options = InsertOptions {
            dedup_token: token,
            settings: settings_of(settings)?,
            ..InsertOptions::default()
        };
        if let Some(rows) = block_rows {
            if rows == 0 {
                return Err(PyValueError::new_err("block_rows must be at least 1"));
            }
            options.block_rows = rows;
        }
        if let Some(callback) = progress {
            options.on_progress = Some(Arc::new(move |progress: &InsertProgress| {
                call_back(&callback, |py| {
                    let report = PyDict::new(py);
                    report.set_item("rows_written", progress.rows_written)?;
                    report.set_item("rows_total", progress.rows_total)?;
                    report.set_item("blocks_written", progress.blocks_written)?;
                    report.set_item("blocks_total", progress.blocks_total)?;
                    Ok(report.into_any())
                })
            }));
        }
        let client = self.client.clone();
        let table = table.to_string();
        let summary = py
            .detach(move || {
                runtime().block_on(async move {
                    client.lock().await.insert(&table, &batches, &options).await
                })
            })
            .map_err(to_py)?;
        Ok((
            summary.rows,
            summary.blocks,
            summary.attempts,
            summary.token,
        ))
    }

    /// Runs `sql` and returns its whole result as a `pyarrow.Table`.
    #[pyo3(signature = (sql, settings=None, parameters=None, query_id=None, progress=None))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        settings: Option<&Bound<'py, PyDict>>,
        parameters: Option<&Bound<'py, PyDict>>,
        query_id: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = query_options(settings, parameters, query_id, progress)?;
        let client = self.client.clone();
        let sql = sql.to_string();
        let (batches, schema) = py
            .detach(move || {
                runtime().block_on(async move {
                    let mut client = client.lock().await;
                    let stream = client.query_with(&sql, options).await?;
                    let schema = stream.schema();
                    let batches: Vec<RecordBatch> = stream.collect().await?;
                    Ok((batches, schema))
                })
            })
            .map_err(to_py)?;
        let table = Table::try_new(batches, schema)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        table.into_pyarrow(py)
    }

    /// Starts `sql` and returns an iterator over its result's `pyarrow.RecordBatch`es.
    #[pyo3(signature = (sql, settings=None, parameters=None, query_id=None, progress=None))]
    fn iter_batches(
        &self,
        py: Python<'_>,
        sql: &str,
        settings: Option<&Bound<'_, PyDict>>,
        parameters: Option<&Bound<'_, PyDict>>,
        query_id: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<BatchIterator> {
        let options = query_options(settings, parameters, query_id, progress)?;
        BatchIterator::start(py, self.client.clone(), sql.to_string(), options)
    }

    /// Runs `sql`, dropping any rows; returns the progress totals as a dict.
    #[pyo3(signature = (sql, settings=None, parameters=None, query_id=None))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        settings: Option<&Bound<'py, PyDict>>,
        parameters: Option<&Bound<'py, PyDict>>,
        query_id: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let options = query_options(settings, parameters, query_id, None)?;
        let client = self.client.clone();
        let sql = sql.to_string();
        let summary = py
            .detach(move || {
                runtime()
                    .block_on(async move { client.lock().await.execute_with(&sql, options).await })
            })
            .map_err(to_py)?;
        progress_dict(py, &summary.progress)
    }

    /// Sends Ping and waits for Pong.
    fn ping(&self, py: Python<'_>) -> PyResult<()> {
        let client = self.client.clone();
        py.detach(move || runtime().block_on(async move { client.lock().await.ping().await }))
            .map_err(to_py)
    }

    /// The server's name, version and time zone from its Hello.
    fn server_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let client = self.client.clone();
        let hello = py.detach(move || {
            runtime().block_on(async move { client.lock().await.server().cloned() })
        });
        let info = PyDict::new(py);
        if let Some(hello) = hello {
            info.set_item("name", hello.name)?;
            info.set_item(
                "version",
                format!(
                    "{}.{}.{}",
                    hello.version_major, hello.version_minor, hello.version_patch
                ),
            )?;
            info.set_item("revision", hello.revision)?;
            info.set_item("timezone", hello.timezone)?;
            info.set_item("display_name", hello.display_name)?;
        }
        Ok(info)
    }

    fn __repr__(&self) -> String {
        format!("<granary._granary.Connection to {}>", self.address)
    }
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a positive number of seconds")))
}

/// `{name: value}` as settings, values in their text form (`str(value)`; booleans as 0/1).
fn settings_of(settings: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<Setting>> {
    let Some(settings) = settings else {
        return Ok(Vec::new());
    };
    settings
        .iter()
        .map(|(name, value)| {
            let value = match value.extract::<bool>() {
                Ok(flag) if value.is_instance_of::<pyo3::types::PyBool>() => {
                    u8::from(flag).to_string()
                }
                _ => value.str()?.to_string(),
            };
            Ok(Setting::new(name.str()?.to_string(), value))
        })
        .collect()
}

fn query_options(
    settings: Option<&Bound<'_, PyDict>>,
    parameters: Option<&Bound<'_, PyDict>>,
    query_id: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<QueryOptions<'static>> {
    let parameters = settings_of(parameters)?
        .into_iter()
        .map(|setting| (setting.name, setting.value))
        .collect();
    let on_progress = progress.map(|callback| {
        Box::new(move |progress: &Progress| {
            call_back(&callback, |py| Ok(progress_dict(py, progress)?.into_any()))
        }) as Box<dyn FnMut(&Progress) + Send>
    });
    Ok(QueryOptions {
        settings: settings_of(settings)?,
        parameters,
        query_id: query_id.unwrap_or_default(),
        on_progress,
    })
}

fn progress_dict<'py>(py: Python<'py>, progress: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let report = PyDict::new(py);
    report.set_item("read_rows", progress.read_rows)?;
    report.set_item("read_bytes", progress.read_bytes)?;
    report.set_item("total_rows_to_read", progress.total_rows_to_read)?;
    report.set_item("written_rows", progress.written_rows)?;
    report.set_item("written_bytes", progress.written_bytes)?;
    Ok(report)
}

/// Calls a Python progress callback from the runtime's thread. A callback that raises does not
/// stop the work: its exception is reported as unraisable (printed), as Python does for
/// callbacks it cannot propagate from.
fn call_back(
    callback: &Py<PyAny>,
    argument: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>,
) {
    Python::attach(|py| {
        if let Err(error) = argument(py).and_then(|report| callback.call1(py, (report,))) {
            error.write_unraisable(py, Some(callback.bind(py)));
        }
    });
}
