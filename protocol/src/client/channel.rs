//! A query read by a task of its own into a bounded channel, for callers that cannot hold a
//! borrow of the client between calls — the SDKs' iterators, which Python and JavaScript drive
//! one batch at a time. The task holds the client until the answer ends; the channel's bound is
//! the backpressure (the server is read only as fast as batches are taken).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::Client;
use super::query::{CancelHandle, QueryOptions, Summary};
use crate::error::{Error, Result};

/// Batches a task has read ahead of the caller.
const READ_AHEAD: usize = 2;

/// A running query's batches, arriving through a channel (see [`BatchReceiver::spawn`]).
#[derive(Debug)]
pub struct BatchReceiver {
    schema: SchemaRef,
    batches: mpsc::Receiver<Result<RecordBatch>>,
    summary: Option<oneshot::Receiver<Summary>>,
    cancel: CancelHandle,
}

impl BatchReceiver {
    /// Starts `sql` on `client` in a task of the current tokio runtime and waits for its header.
    /// The client stays locked until the answer has been read to its end; dropping the receiver
    /// early cancels the query, and the task reads what the server still sends so the
    /// connection can take the next query.
    pub async fn spawn(
        client: Arc<Mutex<Client>>,
        sql: String,
        options: QueryOptions<'static>,
    ) -> Result<BatchReceiver> {
        let (started_sender, started) = oneshot::channel();
        let (batch_sender, batches) = mpsc::channel(READ_AHEAD);
        let (summary_sender, summary) = oneshot::channel();
        tokio::spawn(async move {
            let mut client = client.lock_owned().await;
            let mut stream = match client.query_with(&sql, options).await {
                Ok(stream) => stream,
                Err(error) => {
                    let _ = started_sender.send(Err(error));
                    return;
                }
            };
            if started_sender
                .send(Ok((stream.schema(), stream.cancel_handle())))
                .is_err()
            {
                let _ = stream.cancel().await;
                return;
            }
            loop {
                match stream.next_batch().await {
                    Ok(Some(batch)) => {
                        if batch_sender.send(Ok(batch)).await.is_err() {
                            // The receiver is gone: stop the query and read its end.
                            let _ = stream.cancel().await;
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        let _ = batch_sender.send(Err(error)).await;
                        return;
                    }
                }
            }
            let _ = summary_sender.send(stream.summary());
        });
        let (schema, cancel) = started.await.map_err(|_| task_ended())??;
        Ok(BatchReceiver {
            schema,
            batches,
            summary: Some(summary),
            cancel,
        })
    }

    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The next batch, or `None` at the end of the result.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.batches.recv().await.transpose()
    }

    /// What the query did, once its batches have all been taken; `None` before, or after an
    /// error.
    pub async fn summary(&mut self) -> Option<Summary> {
        self.summary.take()?.await.ok()
    }

    /// Asks the server to stop the query; the batches then end early.
    pub async fn cancel(&self) -> Result<()> {
        self.cancel.cancel().await
    }
}

fn task_ended() -> Error {
    Error::Logical("the query's task ended before the query started".to_string())
}
