//! The task database: an embedded redb file (`<data>/tasks.redb`).
//!
//! redb because it is pure Rust, transactional and crash-safe (a commit is
//! all or nothing, copy-on-write pages, no recovery step that can lose a
//! committed task), and the blob store already links it: no second database
//! engine, no C build.
//!
//! Writes go through one writer thread that commits in groups: every write
//! that arrives while a commit is in progress joins the next one, so a
//! thousand concurrent submissions cost a handful of `fsync`s, not a
//! thousand. A durable write is acknowledged only after its commit reached
//! the disk. Reads run concurrently on snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::task::TaskRecord;

/// id -> JSON record.
const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
/// acceptance sequence -> id, for listing in order.
const ORDER: TableDefinition<u64, &str> = TableDefinition::new("order");
/// id -> input bytes (inputs kept in the database).
const INPUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("inputs");
/// id -> output bytes (outputs kept in the database).
const OUTPUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("outputs");
/// owner + "\n" + idempotency key -> id.
const IDEMPOTENCY: TableDefinition<&str, &str> = TableDefinition::new("idempotency");

/// Most writes one commit takes.
const MAX_GROUP: usize = 512;

/// Why the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// redb refused (I/O, corruption, a full disk).
    #[error("task database: {0}")]
    Redb(String),
    /// A stored record does not parse.
    #[error("task database: record {id} is unreadable: {source}")]
    Corrupt {
        /// The task.
        id: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The writer thread has stopped (the node is shutting down).
    #[error("task database is closed")]
    Closed,
}

fn redb_err(e: impl std::fmt::Display) -> DbError {
    DbError::Redb(e.to_string())
}

/// One change to the database.
#[derive(Debug)]
pub enum Write {
    /// Insert or replace a task's record.
    Task(Box<TaskRecord>),
    /// Keep a task's input.
    Input(String, Vec<u8>),
    /// Keep a task's output.
    Output(String, Vec<u8>),
    /// Remember an idempotency key.
    Idempotency(String, String),
    /// Forget a task: its record, order entry, input, output and key.
    Delete {
        /// The task.
        id: String,
        /// Its order entry.
        seq: u64,
        /// Its idempotency key entry, if any.
        idempotency: Option<String>,
    },
}

struct Job {
    writes: Vec<Write>,
    durable: bool,
    done: Option<oneshot::Sender<Result<(), DbError>>>,
}

/// The task database. Cheap to clone.
#[derive(Clone)]
pub struct TaskDb {
    db: Arc<Database>,
    writer: mpsc::Sender<Job>,
    next_seq: Arc<AtomicU64>,
}

impl std::fmt::Debug for TaskDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskDb").finish_non_exhaustive()
    }
}

impl TaskDb {
    /// Opens (or creates) the database at `path` and starts its writer.
    pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(redb_err)?;
        }
        let db = Arc::new(Database::create(path).map_err(redb_err)?);
        // Create the tables so that readers find them.
        let txn = db.begin_write().map_err(redb_err)?;
        let last = {
            txn.open_table(TASKS).map_err(redb_err)?;
            txn.open_table(INPUTS).map_err(redb_err)?;
            txn.open_table(OUTPUTS).map_err(redb_err)?;
            txn.open_table(IDEMPOTENCY).map_err(redb_err)?;
            let order = txn.open_table(ORDER).map_err(redb_err)?;
            order
                .last()
                .map_err(redb_err)?
                .map(|(k, _)| k.value())
                .unwrap_or(0)
        };
        txn.commit().map_err(redb_err)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("clusterai-taskdb".into())
            .spawn(move || write_loop(&writer_db, rx))
            .map_err(redb_err)?;
        Ok(Self {
            db,
            writer: tx,
            next_seq: Arc::new(AtomicU64::new(last + 1)),
        })
    }

    /// The next acceptance number.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Applies `writes` in one transaction; with `durable`, returns once the
    /// commit is on disk. Without, the writes reach the disk with the next
    /// durable commit (a crash before that loses them, which the caller
    /// accepts: an output that its task's durable record follows).
    pub async fn write(&self, writes: Vec<Write>, durable: bool) -> Result<(), DbError> {
        self.enqueue(writes, durable)?.await
    }

    /// Queues `writes` now (so that every later write commits after them)
    /// and answers a future that resolves once they are committed, durably
    /// with `durable`. A caller that need not wait (a worker moving on to
    /// its next task) hands the future to whoever must.
    pub fn enqueue(
        &self,
        writes: Vec<Write>,
        durable: bool,
    ) -> Result<impl Future<Output = Result<(), DbError>> + Send + 'static, DbError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Job {
                writes,
                durable,
                done: Some(tx),
            })
            .map_err(|_| DbError::Closed)?;
        Ok(async move { rx.await.map_err(|_| DbError::Closed)? })
    }

    /// Queues `writes` without waiting for them (not durable).
    pub fn write_later(&self, writes: Vec<Write>) -> Result<(), DbError> {
        self.writer
            .send(Job {
                writes,
                durable: false,
                done: None,
            })
            .map_err(|_| DbError::Closed)
    }

    /// The record of task `id`.
    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>, DbError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(TASKS).map_err(redb_err)?;
        let Some(bytes) = table.get(id).map_err(redb_err)? else {
            return Ok(None);
        };
        parse(id, bytes.value()).map(Some)
    }

    /// The input kept for task `id`.
    pub fn input(&self, id: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.bytes(INPUTS, id)
    }

    /// The output kept for task `id`.
    pub fn output(&self, id: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.bytes(OUTPUTS, id)
    }

    fn bytes(
        &self,
        def: TableDefinition<&str, &[u8]>,
        id: &str,
    ) -> Result<Option<Vec<u8>>, DbError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(def).map_err(redb_err)?;
        Ok(table.get(id).map_err(redb_err)?.map(|v| v.value().to_vec()))
    }

    /// The task an idempotency key names.
    pub fn idempotent(&self, key: &str) -> Result<Option<String>, DbError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(IDEMPOTENCY).map_err(redb_err)?;
        Ok(table
            .get(key)
            .map_err(redb_err)?
            .map(|v| v.value().to_string()))
    }

    /// Tasks newest first, from acceptance number `before` (exclusive)
    /// down, keeping those `keep` accepts, at most `limit`.
    pub fn list(
        &self,
        before: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(&TaskRecord) -> bool,
    ) -> Result<Vec<TaskRecord>, DbError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let order = txn.open_table(ORDER).map_err(redb_err)?;
        let tasks = txn.open_table(TASKS).map_err(redb_err)?;
        let mut out = Vec::new();
        let range = order
            .range(..before.unwrap_or(u64::MAX))
            .map_err(redb_err)?;
        for entry in range.rev() {
            let (_, id) = entry.map_err(redb_err)?;
            let id = id.value();
            if let Some(bytes) = tasks.get(id).map_err(redb_err)? {
                let record = parse(id, bytes.value())?;
                if keep(&record) {
                    out.push(record);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every task not finished (to re-queue after a restart), oldest first.
    pub fn unfinished(&self) -> Result<Vec<TaskRecord>, DbError> {
        let mut all = self.list(None, usize::MAX, |r| !r.state.is_final())?;
        all.reverse();
        Ok(all)
    }

    /// Finished tasks that ended before `cutoff_ms`.
    pub fn expired(&self, cutoff_ms: u64) -> Result<Vec<TaskRecord>, DbError> {
        self.list(None, usize::MAX, |r| {
            r.state.is_final() && r.finished_ms.is_some_and(|f| f < cutoff_ms)
        })
    }
}

fn parse(id: &str, bytes: &[u8]) -> Result<TaskRecord, DbError> {
    serde_json::from_slice(bytes).map_err(|source| DbError::Corrupt {
        id: id.to_string(),
        source,
    })
}

fn write_loop(db: &Database, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let durable = jobs.iter().any(|j| j.durable);
        let result = commit(db, &mut jobs, durable);
        for job in jobs {
            if let Some(done) = job.done {
                let _ = done.send(result.clone().map_err(DbError::Redb));
            }
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "task database commit failed");
        }
    }
}

fn commit(db: &Database, jobs: &mut [Job], durable: bool) -> Result<(), String> {
    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(|e| e.to_string())?;
    {
        let mut tasks = txn.open_table(TASKS).map_err(|e| e.to_string())?;
        let mut order = txn.open_table(ORDER).map_err(|e| e.to_string())?;
        let mut inputs = txn.open_table(INPUTS).map_err(|e| e.to_string())?;
        let mut outputs = txn.open_table(OUTPUTS).map_err(|e| e.to_string())?;
        let mut idem = txn.open_table(IDEMPOTENCY).map_err(|e| e.to_string())?;
        for job in jobs.iter_mut() {
            for w in job.writes.drain(..) {
                let r = match w {
                    Write::Task(record) => {
                        let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
                        tasks
                            .insert(record.id.as_str(), bytes.as_slice())
                            .and_then(|_| order.insert(record.seq, record.id.as_str()))
                            .map(|_| ())
                    }
                    Write::Input(id, bytes) => {
                        inputs.insert(id.as_str(), bytes.as_slice()).map(|_| ())
                    }
                    Write::Output(id, bytes) => {
                        outputs.insert(id.as_str(), bytes.as_slice()).map(|_| ())
                    }
                    Write::Idempotency(key, id) => {
                        idem.insert(key.as_str(), id.as_str()).map(|_| ())
                    }
                    Write::Delete {
                        id,
                        seq,
                        idempotency,
                    } => tasks
                        .remove(id.as_str())
                        .and_then(|_| order.remove(seq))
                        .and_then(|_| inputs.remove(id.as_str()))
                        .and_then(|_| outputs.remove(id.as_str()))
                        .and_then(|_| match &idempotency {
                            Some(k) => idem.remove(k.as_str()).map(|_| ()),
                            None => Ok(()),
                        })
                        .map(|_| ()),
                };
                r.map_err(|e| e.to_string())?;
            }
        }
    }
    txn.commit().map_err(|e| e.to_string())
}
