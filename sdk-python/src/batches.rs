//! `BatchIterator`: a query's batches one at a time, read ahead by a task of the runtime
//! ([`BatchReceiver`]) so Python takes them at its own pace.

use std::sync::Arc;

use arrow_pyarrow::{PyArrowType, ToPyArrow};
use granary_protocol::client::{BatchReceiver, Client, QueryOptions};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::errors::to_py;
use crate::runtime;

/// Iterates over a running query's `pyarrow.RecordBatch`es; `schema` is known from the start.
/// Closing it (or dropping it) before the end cancels the query.
#[derive(Debug)]
#[pyclass(module = "granary._granary")]
pub struct BatchIterator {
    receiver: Option<Arc<Mutex<BatchReceiver>>>,
    schema: Py<PyAny>,
}

impl BatchIterator {
    pub(crate) fn start(
        py: Python<'_>,
        client: Arc<Mutex<Client>>,
        sql: String,
        options: QueryOptions<'static>,
    ) -> PyResult<BatchIterator> {
        let receiver = py
            .detach(move || runtime().block_on(BatchReceiver::spawn(client, sql, options)))
            .map_err(to_py)?;
        let schema = receiver.schema().as_ref().to_pyarrow(py)?.unbind();
        Ok(BatchIterator {
            receiver: Some(Arc::new(Mutex::new(receiver))),
            schema,
        })
    }
}

#[pymethods]
impl BatchIterator {
    /// The result's `pyarrow.Schema`.
    #[getter]
    fn schema(&self, py: Python<'_>) -> Py<PyAny> {
        self.schema.clone_ref(py)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<PyArrowType<arrow_array::RecordBatch>> {
        let Some(receiver) = self.receiver.clone() else {
            return Err(PyStopIteration::new_err(()));
        };
        let next = py.detach(move || {
            runtime().block_on(async move { receiver.lock().await.next_batch().await })
        });
        match next {
            Ok(Some(batch)) => Ok(PyArrowType(batch)),
            Ok(None) => {
                self.receiver = None;
                Err(PyStopIteration::new_err(()))
            }
            Err(error) => {
                self.receiver = None;
                Err(to_py(error))
            }
        }
    }

    /// Stops the query; further iteration ends.
    fn close(&mut self, py: Python<'_>) {
        if let Some(receiver) = self.receiver.take() {
            // Dropping the receiver cancels the query in its task; an explicit Cancel first
            // stops it sooner. A failure to send it is a connection that is already gone.
            py.detach(move || {
                runtime().block_on(async move {
                    let _ = receiver.lock().await.cancel().await;
                })
            });
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _kind: Option<Py<PyAny>>,
        _value: Option<Py<PyAny>>,
        _traceback: Option<Py<PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }
}
