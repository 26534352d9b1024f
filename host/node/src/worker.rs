//! The workers: take the next task in turn, run it in the sandbox on a
//! blocking thread, keep the output (in the database or, when large, in the
//! blob store), sign the receipt, and record how it ended.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use clusterai_runtime::{RunError, TaskInput, TaskResult};
use clusterai_types::{ContentHash, ExecutionProvider, Receipt, SignedReceipt};

use crate::db::Write;
use crate::events::TaskEvent;
use crate::service::{Node, Refusal, refusal_text};
use crate::task::{
    InferenceView, LogView, Outcome, TaskFailure, TaskRecord, TaskState, TaskSuccess, UsageView,
    now_ms,
};

/// The version a receipt names.
pub const RUNTIME_VERSION: &str = concat!("clusterai/", env!("CARGO_PKG_VERSION"));

impl Node {
    /// One worker: runs tasks until the scheduler closes.
    pub(crate) async fn worker(self: Arc<Self>) {
        while let Some(id) = self.scheduler.next().await {
            self.run_task(&id).await;
        }
    }

    async fn run_task(self: &Arc<Self>, id: &str) {
        enum Start {
            Gone,
            Cancelled(TaskRecord),
            Run(TaskRecord, Option<Arc<Vec<u8>>>),
        }
        let start = {
            let mut pending = self.lock_pending();
            match pending.get_mut(id) {
                // Cancelled between the queue and here.
                None => Start::Gone,
                Some(p) if p.cancel => match pending.remove(id) {
                    Some(p) => Start::Cancelled(p.record),
                    None => Start::Gone,
                },
                Some(p) => {
                    p.running = true;
                    p.record.state = TaskState::Running;
                    p.record.attempts += 1;
                    p.record.started_ms = Some(now_ms());
                    Start::Run(p.record.clone(), p.input.clone())
                }
            }
        };
        let (record, input) = match start {
            Start::Gone => return,
            Start::Cancelled(r) => {
                self.finish(r, TaskState::Cancelled, None);
                return;
            }
            Start::Run(r, i) => (r, i),
        };
        // The attempt is committed durably (in a group with other writes)
        // while the task runs, without waiting: a node that dies during the
        // run counts the attempt after a restart, so a task that keeps
        // taking the node down ends failed after `max_attempts`. Only a
        // death within the commit's first moments goes uncounted.
        if let Err(e) = self
            .db
            .enqueue(vec![Write::Task(Box::new(record.clone()))], true)
        {
            tracing::error!(error = %e, "recording a task start");
        }
        self.events.send(
            id,
            TaskEvent::Started {
                at_ms: record.started_ms.unwrap_or_default(),
                attempt: record.attempts,
            },
        );
        self.running.fetch_add(1, Ordering::Relaxed);
        let outcome = self.execute(&record, input).await;
        // Still counted as running until its end is queued for the
        // database: a clean stop waits for that, then commits it.
        self.record_end(id, record, outcome).await;
        self.running.fetch_sub(1, Ordering::Relaxed);
    }

    /// Keeps a run's output and receipt, or its failure, or its cancellation.
    async fn record_end(
        self: &Arc<Self>,
        id: &str,
        record: TaskRecord,
        outcome: Result<TaskResult, TaskFailure>,
    ) {
        let pending = self.lock_pending().remove(id);
        let cancelled = pending.as_ref().is_some_and(|p| p.cancel);
        let record = pending.map_or(record, |p| p.record);
        if cancelled {
            self.finish(record, TaskState::Cancelled, None);
            return;
        }
        match outcome {
            Ok(result) => match self.keep_output(&record, result).await {
                Ok(success) => {
                    self.finish(
                        record,
                        TaskState::Succeeded,
                        Some(Outcome::Success(Box::new(success))),
                    );
                }
                Err(failure) => {
                    self.finish(record, TaskState::Failed, Some(Outcome::Failure(failure)));
                }
            },
            Err(failure) => {
                self.finish(record, TaskState::Failed, Some(Outcome::Failure(failure)));
            }
        }
    }

    /// Runs the task's plugin on its input under its policy; what the
    /// plugin streams goes to the task's followers as it comes.
    async fn execute(
        self: &Arc<Self>,
        record: &TaskRecord,
        input: Option<Arc<Vec<u8>>>,
    ) -> Result<TaskResult, TaskFailure> {
        let data = match input {
            Some(d) => d.as_ref().clone(),
            None => self.stored_input(record).await.map_err(|r| TaskFailure {
                kind: "input-unavailable".into(),
                message: refusal_text(&r).to_string(),
            })?,
        };
        let plugin = self.plugin(record.plugin).await.map_err(|r| TaskFailure {
            kind: "plugin-unavailable".into(),
            message: refusal_text(&r).to_string(),
        })?;
        let task_input =
            TaskInput::new(data, record.content_type.clone()).params(record.params.iter().cloned());
        let policy = record.policy.clone();
        let node = self.clone();
        let id = record.id.clone();
        let seq = std::sync::atomic::AtomicU64::new(0);
        let sink: clusterai_runtime::StreamSink = Arc::new(move |chunk: &[u8]| {
            let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            node.events.send(&id, TaskEvent::output(n, chunk));
        });
        tokio::task::spawn_blocking(move || {
            plugin.run_streaming(&task_input, Some(&policy), Some(sink))
        })
        .await
        .map_err(|e| TaskFailure {
            kind: "host-error".into(),
            message: format!("the task's thread failed: {e}"),
        })?
        .map_err(|e: RunError| TaskFailure {
            kind: e.kind().into(),
            message: e.to_string(),
        })
    }

    async fn stored_input(&self, record: &TaskRecord) -> Result<Vec<u8>, Refusal> {
        let data = if record.input_in_blobs {
            self.store()
                .read(record.input)
                .await
                .map(|b| b.to_vec())
                .map_err(|e| Refusal::Internal(e.to_string()))?
        } else {
            self.db
                .input(&record.id)
                .map_err(|e| Refusal::Internal(e.to_string()))?
                .ok_or_else(|| Refusal::Internal("the input is missing".into()))?
        };
        if ContentHash::of(&data) != record.input {
            return Err(Refusal::Internal(format!(
                "the stored input does not hash to {}",
                record.input
            )));
        }
        Ok(data)
    }

    /// Keeps the output where it belongs and signs the receipt.
    async fn keep_output(
        &self,
        record: &TaskRecord,
        result: TaskResult,
    ) -> Result<TaskSuccess, TaskFailure> {
        let output = ContentHash::of(&result.output.data);
        let size = result.output.data.len() as u64;
        let in_blobs = size > self.config.queue.inline_output_bytes;
        if in_blobs {
            let kept = match self.store().import_bytes(result.output.data.clone()).await {
                Ok(_) => self.store().sync().await,
                Err(e) => Err(e),
            };
            kept.map_err(|e| TaskFailure {
                kind: "host-error".into(),
                message: format!("keeping the output: {e}"),
            })?;
        } else if let Err(e) = self.db.write_later(vec![Write::Output(
            record.id.clone(),
            result.output.data.clone(),
        )]) {
            return Err(TaskFailure {
                kind: "host-error".into(),
                message: format!("keeping the output: {e}"),
            });
        }
        let inferences: Vec<InferenceView> = crate::capabilities::inferences(&result.extensions)
            .iter()
            .map(|u| InferenceView {
                model: u.model,
                provider: u.provider,
                micros: u.micros,
                peak_bytes: u.peak_bytes,
            })
            .collect();
        for i in &inferences {
            self.metrics
                .inference(i.provider.as_str(), i.micros, i.peak_bytes);
        }
        let mut models: Vec<ContentHash> = Vec::new();
        for i in &inferences {
            if !models.contains(&i.model) {
                models.push(i.model);
            }
        }
        let provider = if inferences
            .iter()
            .any(|i| i.provider == ExecutionProvider::Cuda)
        {
            ExecutionProvider::Cuda
        } else if inferences.is_empty() {
            ExecutionProvider::None
        } else {
            ExecutionProvider::Cpu
        };
        let receipt = Receipt {
            task_id: record.id.clone(),
            node: self.node_id().to_string(),
            plugin: record.plugin,
            models,
            input: record.input,
            output,
            runtime_version: RUNTIME_VERSION.to_string(),
            execution_provider: provider,
            fuel_used: result.usage.fuel,
            time_us: result.usage.wall.as_micros() as u64,
        };
        let signature = self.blobs.identity().sign_receipt(&receipt);
        Ok(TaskSuccess {
            output,
            output_size: size,
            content_type: result.output.content_type.clone(),
            output_in_blobs: in_blobs,
            usage: UsageView {
                fuel: result.usage.fuel,
                wall_us: result.usage.wall.as_micros() as u64,
                peak_memory: result.usage.peak_memory,
                peak_host_memory: result.usage.peak_host_memory,
            },
            inferences,
            logs: result
                .logs
                .iter()
                .map(|l| LogView {
                    level: l.level,
                    message: l.message.clone(),
                })
                .collect(),
            logs_dropped: result.logs_dropped as u64,
            receipt: SignedReceipt {
                receipt,
                signature: hex::encode(signature.to_bytes()),
            },
        })
    }

    /// Records how a task ended, durably. The worker moves on to its next
    /// task at once: the commit joins the other workers' and submitters'
    /// in one group, instead of each worker waiting out an fsync per task.
    /// Only once the commit is on disk are followers told and the task's
    /// room freed, so nobody sees a result a crash could take back; the
    /// write is queued before the worker moves on, so a clean stop's final
    /// commit carries it.
    pub(crate) fn finish(
        self: &Arc<Self>,
        mut record: TaskRecord,
        state: TaskState,
        outcome: Option<Outcome>,
    ) {
        let now = now_ms();
        record.state = state;
        record.finished_ms = Some(now);
        record.outcome = outcome;
        // Counted before the result can be read anywhere, so that a caller
        // holding it finds it in the figures too.
        self.count_finished(&record, state, now);
        let committed = self
            .db
            .enqueue(vec![Write::Task(Box::new(record.clone()))], true);
        let node = self.clone();
        tokio::spawn(async move {
            let result = match committed {
                Ok(commit) => commit.await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                // The task stays unfinished in the database and runs again
                // after a restart.
                tracing::error!(task = %record.id, error = %e, "recording a finished task");
            }
            node.announce_finished(record, state, now);
        });
    }

    /// Tells a finished task's followers and frees its room.
    fn announce_finished(&self, record: TaskRecord, state: TaskState, now: u64) {
        // Room first: a follower that submits again on hearing the end
        // must find it.
        self.scheduler.finished();
        let failure = match &record.outcome {
            Some(Outcome::Failure(f)) => Some(f.clone()),
            _ => None,
        };
        if let Some(Outcome::Success(s)) = &record.outcome {
            for line in &s.logs {
                self.events.send(&record.id, TaskEvent::Log(line.clone()));
            }
        }
        self.events.send(
            &record.id,
            TaskEvent::Finished {
                at_ms: now,
                state,
                error: failure,
            },
        );
    }

    /// Counts a finished task in the metrics and the dashboard's figures.
    fn count_finished(&self, record: &TaskRecord, state: TaskState, now: u64) {
        let (failure, usage) = match &record.outcome {
            Some(Outcome::Failure(f)) => (Some(f), None),
            Some(Outcome::Success(s)) => (None, Some(s.usage)),
            None => (None, None),
        };
        let usage = usage.unwrap_or(UsageView {
            fuel: 0,
            wall_us: 0,
            peak_memory: 0,
            peak_host_memory: 0,
        });
        self.metrics.finished(
            &record.id,
            &record.plugin_name,
            state.as_str(),
            failure.map(|f| (f.kind.as_str(), f.message.as_str())),
            now.saturating_sub(record.created_ms) * 1000,
            usage.wall_us,
            usage.fuel,
            usage.peak_memory,
            usage.peak_host_memory,
        );
    }
}
