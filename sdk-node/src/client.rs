//! The `Client` class: options, one Rust client (connected on first use, reconnected when its
//! connection breaks) behind a lock, and `Cursor`, a query's batches one at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use granary_protocol::ErrorCode;
use granary_protocol::client::{
    BatchReceiver, Client as RustClient, InsertOptions as RustInsertOptions, Options,
    QueryOptions as RustQueryOptions, RetryPolicy,
};
use granary_protocol::compress::Method;
use granary_protocol::packet::settings::Setting;
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::columns::{self, ColumnInput, ColumnOutput};
use crate::errors::{client_error, to_js};

/// How to reach the server.
#[napi(object)]
pub struct ClientOptions {
    pub host: Option<String>,
    pub port: Option<u32>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    /// `lz4` (default), `zstd` or `none`.
    pub compression: Option<String>,
    pub connect_timeout_ms: Option<u32>,
    pub receive_timeout_ms: Option<u32>,
    /// Tries in all for a connection failure (default 5).
    pub retries: Option<u32>,
}

/// How an insert is made.
#[napi(object)]
pub struct InsertOptions {
    pub dedup_token: Option<String>,
    pub block_rows: Option<u32>,
    pub settings: Option<HashMap<String, String>>,
}

/// What an insert sent.
#[napi(object)]
pub struct InsertResult {
    pub rows: f64,
    pub blocks: u32,
    pub attempts: u32,
    pub token: String,
}

/// What a query sends besides its text.
#[napi(object)]
pub struct QueryOptions {
    pub settings: Option<HashMap<String, String>>,
    pub parameters: Option<HashMap<String, String>>,
    pub query_id: Option<String>,
}

/// A result (or one batch of it): its columns and how many rows they hold.
#[napi(object)]
pub struct Columns {
    pub columns: Vec<ColumnOutput>,
    pub rows: u32,
}

/// What a statement read and wrote.
#[napi(object)]
pub struct Summary {
    pub read_rows: f64,
    pub read_bytes: f64,
    pub written_rows: f64,
    pub written_bytes: f64,
}

#[napi(js_name = "NativeClient")]
pub struct Client {
    options: Options,
    client: Arc<Mutex<Option<RustClient>>>,
}

#[napi]
impl Client {
    #[napi(constructor)]
    pub fn new(options: Option<ClientOptions>) -> napi::Result<Client> {
        let given = options.unwrap_or(ClientOptions {
            host: None,
            port: None,
            user: None,
            password: None,
            database: None,
            compression: None,
            connect_timeout_ms: None,
            receive_timeout_ms: None,
            retries: None,
        });
        let host = given.host.unwrap_or_else(|| "127.0.0.1".to_string());
        let port = given.port.unwrap_or(9000);
        let address = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut options = Options::new(address);
        if let Some(user) = given.user {
            options.user = user;
        }
        options.password = given.password.unwrap_or_default();
        options.database = given.database.unwrap_or_default();
        options.compression = match given.compression.as_deref() {
            None | Some("lz4") => Some(Method::Lz4),
            Some("zstd") => Some(Method::Zstd(1)),
            Some("none") => None,
            Some(other) => {
                return Err(client_error(
                    ErrorCode::BAD_ARGUMENTS,
                    format!("unknown compression {other:?}: use \"lz4\", \"zstd\" or \"none\""),
                ));
            }
        };
        if let Some(ms) = given.connect_timeout_ms {
            options.connect_timeout = Duration::from_millis(ms.into());
        }
        if let Some(ms) = given.receive_timeout_ms {
            options.receive_timeout = Duration::from_millis(ms.into());
        }
        if let Some(retries) = given.retries {
            options.retry = RetryPolicy {
                attempts: retries.max(1),
                ..RetryPolicy::default()
            };
        }
        Ok(Client {
            options,
            client: Arc::new(Mutex::new(None)),
        })
    }

    /// Connects now (otherwise the first call does).
    #[napi]
    pub async fn connect(&self) -> napi::Result<()> {
        connected(&self.client, &self.options).await.map(drop)
    }

    /// Inserts the columns into `table` exactly once (see `InsertOptions`).
    #[napi]
    pub async fn insert(
        &self,
        table: String,
        columns: Vec<ColumnInput>,
        options: Option<InsertOptions>,
    ) -> napi::Result<InsertResult> {
        let batch = columns::batch(columns)?;
        let mut insert = RustInsertOptions::default();
        if let Some(options) = options {
            insert.dedup_token = options.dedup_token;
            if let Some(rows) = options.block_rows {
                if rows == 0 {
                    return Err(client_error(
                        ErrorCode::BAD_ARGUMENTS,
                        "blockRows must be at least 1",
                    ));
                }
                insert.block_rows = rows as usize;
            }
            insert.settings = settings(options.settings);
        }
        let mut guard = self.client.lock().await;
        let client = connect_in(&mut guard, &self.options).await?;
        let summary = client
            .insert(&table, &[batch], &insert)
            .await
            .map_err(to_js)?;
        Ok(InsertResult {
            rows: summary.rows as f64,
            blocks: summary.blocks as u32,
            attempts: summary.attempts,
            token: summary.token,
        })
    }

    /// Runs a query; its whole result as columns.
    #[napi]
    pub async fn query(&self, sql: String, options: Option<QueryOptions>) -> napi::Result<Columns> {
        let options = query_options(options);
        let mut guard = self.client.lock().await;
        let client = connect_in(&mut guard, &self.options).await?;
        let stream = client.query_with(&sql, options).await.map_err(to_js)?;
        let schema = stream.schema();
        let batches = stream.collect().await.map_err(to_js)?;
        let rows = batches.iter().map(|batch| batch.num_rows()).sum::<usize>();
        Ok(Columns {
            columns: columns::outputs(&schema, &batches)?,
            rows: rows as u32,
        })
    }

    /// Starts a query whose batches are read one at a time from the cursor.
    #[napi]
    pub async fn cursor(&self, sql: String, options: Option<QueryOptions>) -> napi::Result<Cursor> {
        connected(&self.client, &self.options).await?;
        let receiver = BatchReceiver::spawn(
            Arc::new(Mutex::new(take(&self.client).await?)),
            sql,
            query_options(options),
        )
        .await;
        // The cursor's task holds its own client: this one connects afresh on its next call.
        let receiver = receiver.map_err(to_js)?;
        Ok(Cursor {
            receiver: Arc::new(Mutex::new(Some(receiver))),
        })
    }

    /// Runs a statement, dropping any rows.
    #[napi]
    pub async fn execute(
        &self,
        sql: String,
        options: Option<QueryOptions>,
    ) -> napi::Result<Summary> {
        let options = query_options(options);
        let mut guard = self.client.lock().await;
        let client = connect_in(&mut guard, &self.options).await?;
        let summary = client.execute_with(&sql, options).await.map_err(to_js)?;
        Ok(Summary {
            read_rows: summary.progress.read_rows as f64,
            read_bytes: summary.progress.read_bytes as f64,
            written_rows: summary.progress.written_rows as f64,
            written_bytes: summary.progress.written_bytes as f64,
        })
    }

    /// Sends Ping and waits for Pong.
    #[napi]
    pub async fn ping(&self) -> napi::Result<()> {
        let mut guard = self.client.lock().await;
        let client = connect_in(&mut guard, &self.options).await?;
        client.ping().await.map_err(to_js)
    }

    /// Closes the connection (a later call opens a new one).
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.client.lock().await.take();
        Ok(())
    }
}

/// A running query's batches.
#[napi]
pub struct Cursor {
    receiver: Arc<Mutex<Option<BatchReceiver>>>,
}

#[napi]
impl Cursor {
    /// The next batch as columns, or null at the end.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<Columns>> {
        let mut guard = self.receiver.lock().await;
        let Some(receiver) = guard.as_mut() else {
            return Ok(None);
        };
        match receiver.next_batch().await {
            Ok(Some(batch)) => Ok(Some(Columns {
                columns: columns::outputs(&batch.schema(), std::slice::from_ref(&batch))?,
                rows: batch.num_rows() as u32,
            })),
            Ok(None) => {
                guard.take();
                Ok(None)
            }
            Err(error) => {
                guard.take();
                Err(to_js(error))
            }
        }
    }

    /// Stops the query (dropping the cursor's batches).
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        if let Some(receiver) = self.receiver.lock().await.take() {
            // A Cancel that cannot be sent finds the connection already gone.
            let _ = receiver.cancel().await;
        }
        Ok(())
    }
}

async fn connect_in<'a>(
    slot: &'a mut Option<RustClient>,
    options: &Options,
) -> napi::Result<&'a mut RustClient> {
    if slot.is_none() {
        *slot = Some(RustClient::connect(options.clone()).await.map_err(to_js)?);
    }
    slot.as_mut()
        .ok_or_else(|| client_error(ErrorCode::LOGICAL_ERROR, "no client after connecting"))
}

async fn connected(client: &Mutex<Option<RustClient>>, options: &Options) -> napi::Result<()> {
    let mut guard = client.lock().await;
    connect_in(&mut guard, options).await.map(drop)
}

async fn take(client: &Mutex<Option<RustClient>>) -> napi::Result<RustClient> {
    client
        .lock()
        .await
        .take()
        .ok_or_else(|| client_error(ErrorCode::LOGICAL_ERROR, "no client to hand to the cursor"))
}

fn settings(settings: Option<HashMap<String, String>>) -> Vec<Setting> {
    let mut settings: Vec<Setting> = settings
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| Setting::new(name, value))
        .collect();
    // A stable order: the Query packet is the same for the same options.
    settings.sort_by(|a, b| a.name.cmp(&b.name));
    settings
}

fn query_options(options: Option<QueryOptions>) -> RustQueryOptions<'static> {
    let Some(options) = options else {
        return RustQueryOptions::default();
    };
    let mut parameters: Vec<(String, String)> =
        options.parameters.unwrap_or_default().into_iter().collect();
    parameters.sort();
    RustQueryOptions {
        settings: settings(options.settings),
        parameters,
        query_id: options.query_id.unwrap_or_default(),
        on_progress: None,
    }
}
