//! `clusterai task submit|get|watch`: a buyer's side of a node's HTTP API
//! (`task post`, the chain's market, lives in [`super::post`]).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use clap::{Args, Subcommand};
use clusterai_node::api::TaskResultView;
use clusterai_node::task::{TaskState, TaskView};
use clusterai_types::{ContentHash, env};
use tokio_stream::StreamExt as _;

use crate::exit::{self, UsageError};
use crate::terminal::{Stream, escape, on_stderr, on_stdout};

/// Where the node is and how to talk to it.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeUrl {
    /// The node's HTTP API.
    #[arg(long = "node", env = env::NODE_URL_VAR, value_name = "URL", default_value_t = env::node_url())]
    url: String,
    /// A bearer token, when the node needs one.
    #[arg(long, env = env::TOKEN_VAR, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// `clusterai task <command>`.
#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Submit a task; uploads the plugin first when it is a file the node lacks.
    Submit {
        /// The plugin: its hash, or a .wasm file.
        #[arg(long, value_name = "HASH|FILE")]
        plugin: String,
        /// The input: a file, or - for standard input. Empty if omitted.
        #[arg(long, short, value_name = "FILE|-")]
        input: Option<String>,
        /// The input's content type.
        #[arg(long, value_name = "TYPE")]
        content_type: Option<String>,
        /// A parameter, repeatable.
        #[arg(short, long = "param", value_name = "KEY=VALUE", value_parser = super::plugin::parse_param)]
        params: Vec<(String, String)>,
        /// A model the task names (and pays for), by hash; repeatable.
        #[arg(long = "model", value_name = "HASH")]
        models: Vec<ContentHash>,
        /// Wait for the result (at most this many seconds; default 300) and print it.
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "300")]
        wait: Option<f64>,
        /// An idempotency key: a retried submit returns the first task.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        #[command(flatten)]
        node: NodeUrl,
    },
    /// Post a task to the chain's market: drawn nodes fetch the input from
    /// this process over iroh; with --wait, print the winning output.
    Post(Box<super::post::PostArgs>),
    /// A task's status, and its output once it has one.
    Get {
        /// The task id.
        id: String,
        #[command(flatten)]
        node: NodeUrl,
    },
    /// Follow a task's events (queued, started, logs, finished) as they happen.
    Watch {
        /// The task id.
        id: String,
        #[command(flatten)]
        node: NodeUrl,
    },
}

/// A client of one node.
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(node: &NodeUrl) -> anyhow::Result<Self> {
        let base = node.url.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            UsageError(format!("--node must be an http:// URL, got {:?}", node.url))
        );
        // The tree's reqwest takes TLS without a built-in provider (iroh
        // chooses ring); install ring once so that https:// nodes work.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("clusterai/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base,
            token: node.token.clone(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends and returns the response, or the node's error message.
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {}", self.base))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<clusterai_node::api::ErrorBody>(&body)
            .map(|e| e.error.message)
            .unwrap_or(body);
        anyhow::bail!("the node answered {status}: {message}")
    }
}

/// Runs a `task` command.
pub(crate) fn run(cmd: TaskCommand, json: bool) -> anyhow::Result<ExitCode> {
    if let TaskCommand::Post(args) = cmd {
        return super::post::run(*args, json);
    }
    super::async_runtime()?.block_on(async move {
        match cmd {
            TaskCommand::Submit {
                plugin,
                input,
                content_type,
                params,
                models,
                wait,
                idempotency_key,
                node,
            } => {
                let client = Client::new(&node)?;
                let plugin = ensure_plugin(&client, &plugin).await?;
                let data = read_input(input.as_deref())?;
                let mut body = serde_json::json!({
                    "plugin": plugin,
                    "input": { "base64": base64::engine::general_purpose::STANDARD.encode(&data) },
                    "params": params.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                    "models": models,
                });
                if let Some(ct) = content_type {
                    body["content_type"] = ct.into();
                }
                if let Some(k) = idempotency_key {
                    body["idempotency_key"] = k.into();
                }
                let path = match wait {
                    Some(w) => format!("/v1/tasks?wait={w}"),
                    None => "/v1/tasks".into(),
                };
                let resp = client
                    .send(client.request(reqwest::Method::POST, &path).json(&body))
                    .await?;
                answer(resp, json).await
            }
            TaskCommand::Get { id, node } => {
                let client = Client::new(&node)?;
                let resp = client
                    .send(client.request(reqwest::Method::GET, &format!("/v1/tasks/{id}/result")))
                    .await?;
                answer(resp, json).await
            }
            TaskCommand::Watch { id, node } => watch(&Client::new(&node)?, &id, json).await,
            TaskCommand::Post(_) => unreachable!("handled above"),
        }
    })
}

/// The plugin's hash; a file is hashed and uploaded if the node lacks it.
async fn ensure_plugin(client: &Client, plugin: &str) -> anyhow::Result<ContentHash> {
    if let Ok(hash) = plugin.parse::<ContentHash>() {
        return Ok(hash);
    }
    let wasm = std::fs::read(plugin)
        .with_context(|| format!("--plugin {plugin}: neither a hash nor a readable file"))?;
    let hash = ContentHash::of(&wasm);
    let have = client
        .request(reqwest::Method::GET, &format!("/v1/plugins/{hash}"))
        .send()
        .await
        .with_context(|| format!("cannot reach the node at {}", client.base))?;
    if have.status() == reqwest::StatusCode::NOT_FOUND {
        client
            .send(
                client
                    .request(reqwest::Method::POST, "/v1/plugins")
                    .header("content-type", "application/wasm")
                    .body(wasm),
            )
            .await
            .context("uploading the plugin")?;
        eprintln!("uploaded plugin {hash}");
    }
    Ok(hash)
}

fn read_input(input: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match input {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the input from standard input")?;
            Ok(buf)
        }
        Some(path) => std::fs::read(path).with_context(|| format!("cannot read input {path}")),
    }
}

/// Prints a submit/get answer: the result when finished, else the status.
async fn answer(resp: reqwest::Response, json: bool) -> anyhow::Result<ExitCode> {
    let finished = resp.status() == reqwest::StatusCode::OK;
    let text = resp.text().await?;
    if json {
        println!("{text}");
    }
    if !finished {
        let view: TaskView = serde_json::from_str(&text).context("the node's answer")?;
        if !json {
            println!("task {} {}", view.id, view.state.as_str());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let result: TaskResultView = serde_json::from_str(&text).context("the node's answer")?;
    if !json {
        print_result(&result)?;
    }
    Ok(match result.task.state {
        TaskState::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(exit::FAILURE),
    })
}

fn print_result(r: &TaskResultView) -> anyhow::Result<()> {
    match (&r.output, &r.task.error) {
        (Some(out), _) => {
            let mut stdout = std::io::stdout().lock();
            // On a terminal, what the plugin produced is shown, never acted on.
            if let Some(j) = &out.json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(j)?)?;
            } else if let Some(t) = &out.text {
                stdout.write_all(on_stdout(t).as_bytes())?;
            } else if let Some(b) = &out.base64 {
                let data = base64::engine::general_purpose::STANDARD.decode(b)?;
                if Stream::Stdout.is_terminal() {
                    stdout.write_all(escape(&String::from_utf8_lossy(&data)).as_bytes())?;
                } else {
                    stdout.write_all(&data)?;
                }
            }
            stdout.flush()?;
        }
        (None, Some(e)) => eprintln!(
            "task {} failed: {} ({})",
            r.task.id,
            on_stderr(&e.message),
            e.kind
        ),
        (None, None) => eprintln!("task {} {}", r.task.id, r.task.state.as_str()),
    }
    Ok(())
}

/// Follows the event stream, printing each event as it comes.
async fn watch(client: &Client, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let resp = client
        .send(client.request(reqwest::Method::GET, &format!("/v1/tasks/{id}/events")))
        .await?;
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut state = None;
    let mut streamed = false;
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let data: String = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue;
            }
            let event: serde_json::Value = serde_json::from_str(&data)?;
            if json {
                println!("{event}");
            } else if event["event"] == "output" {
                // Streamed output is shown as it comes, as text.
                let mut out = std::io::stdout().lock();
                let text = event["text"].as_str().unwrap_or("");
                out.write_all(on_stdout(text).as_bytes())?;
                out.flush()?;
                streamed = true;
            } else {
                if std::mem::take(&mut streamed) {
                    println!();
                }
                println!("{}", on_stdout(&describe_event(&event)));
            }
            if event["event"] == "finished" {
                state = event["state"].as_str().map(str::to_string);
            }
        }
    }
    Ok(match state.as_deref() {
        Some("succeeded") => ExitCode::SUCCESS,
        _ => ExitCode::from(exit::FAILURE),
    })
}

fn describe_event(e: &serde_json::Value) -> String {
    match e["event"].as_str().unwrap_or("") {
        "queued" => "queued".into(),
        "started" => format!("started (run {})", e["attempt"]),
        "log" => format!(
            "log {}: {}",
            e["level"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        ),
        "finished" => match e["error"]["message"].as_str() {
            Some(m) => format!("finished: {} ({m})", e["state"].as_str().unwrap_or("")),
            None => format!("finished: {}", e["state"].as_str().unwrap_or("")),
        },
        other => other.to_string(),
    }
}

/// For `receipt verify`: the bytes of `path`.
pub(crate) fn read_file(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
