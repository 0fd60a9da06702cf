//! The `steward task ...` and `steward workers` commands: what each asks the Overlord and how
//! its answer is printed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use steward_model::{TaskState, TaskStatusPlus};

use super::http::{exit_code, ClientError, ClientOptions, OverlordClient, TaskFilter};
use super::tables::{format_millis, short_time, task_table, worker_table, WorkerEntry};

/// `submit --wait` polls this often: fast enough that short tasks do not feel slow.
const WAIT_POLL: Duration = Duration::from_millis(100);
/// `submit --wait` asks a running ingestion for its row counts this often.
const ROWS_POLL: Duration = Duration::from_secs(1);
const FOLLOW_POLL: Duration = Duration::from_millis(250);
/// After a followed task ends, its log may still be on its way to the log store; a 404 is
/// retried for this many polls before it is reported.
const FOLLOW_FINAL_RETRIES: u32 = 8;

/// `steward task ...`
#[derive(clap::Subcommand, Debug)]
pub enum TaskCommand {
    /// Submit a task spec file (JSON); prints the task id.
    Submit {
        /// Path of the task spec (a JSON object with a "type").
        file: PathBuf,
        /// Wait for the task to end, showing its progress; exit 0 on SUCCESS, 1 on FAILED.
        #[arg(long)]
        wait: bool,
    },
    /// Show a task's status.
    Status { id: String },
    /// Print a task's log.
    Log {
        id: String,
        /// Keep printing new output until the task ends.
        #[arg(long)]
        follow: bool,
        /// Start at this byte; a negative value prints only the last |offset| bytes.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        offset: i64,
    },
    /// Ask the Overlord to stop a task (it is marked FAILED at once).
    Shutdown { id: String },
    /// List tasks.
    List {
        /// pending, waiting, running or complete (default: all).
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        datasource: Option<String>,
        /// At most this many complete tasks.
        #[arg(long)]
        max: Option<u32>,
        /// Only tasks of this type.
        #[arg(long = "type")]
        task_type: Option<String>,
    },
}

/// Runs one `steward task` subcommand against the Overlord at `overlord` and returns the exit
/// code. Failures are printed on stderr (`error: ...`) and turned into the exit code here, so
/// the `Err` case does not occur; the signature matches the other subcommands'.
pub async fn run_task_command(
    overlord: &ClientOptions,
    json: bool,
    cmd: TaskCommand,
) -> anyhow::Result<i32> {
    Ok(report(task_command(overlord, json, cmd).await))
}

/// Runs `steward workers`; exit code and error handling as for [`run_task_command`].
pub async fn run_workers(overlord: &ClientOptions, json: bool) -> anyhow::Result<i32> {
    Ok(report(workers(overlord, json).await))
}

/// Prints a command's failure and chooses its exit code.
pub(super) fn report(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        // The reader went away (`steward task log x | head`): not worth a message.
        Err(err) if is_broken_pipe(&err) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit_code(&err)
        }
    }
}

pub(super) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

pub(super) async fn task_command(
    options: &ClientOptions,
    json: bool,
    cmd: TaskCommand,
) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    match cmd {
        TaskCommand::Submit { file, wait } => submit(&client, json, read_spec(&file)?, wait).await,
        TaskCommand::Status { id } => {
            let answer = client.task_status_raw(&id).await?;
            if json {
                print_json(&answer)?;
            } else {
                print_line(&status_summary(&parse_status(&answer)?))?;
            }
            Ok(0)
        }
        TaskCommand::Log {
            id,
            follow: false,
            offset,
        } => {
            let mut resp = client.task_log(&id, offset).await?;
            while let Some(chunk) = resp.chunk().await.map_err(|e| client.unreachable(&e))? {
                write_out(&chunk)?;
            }
            Ok(0)
        }
        TaskCommand::Log {
            id,
            follow: true,
            offset,
        } => follow_log(&client, &id, offset).await,
        TaskCommand::Shutdown { id } => {
            let answer = client.shutdown(&id).await?;
            if json {
                print_json(&answer)?;
            } else {
                print_line(&format!("shutdown requested for {id}"))?;
            }
            Ok(0)
        }
        TaskCommand::List {
            state,
            datasource,
            max,
            task_type,
        } => {
            let filter = TaskFilter {
                state,
                datasource,
                max,
                task_type,
            };
            let answer = client.tasks_raw(&filter).await?;
            if json {
                print_json(&answer)?;
            } else {
                let tasks: Vec<TaskStatusPlus> =
                    from_answer(client.indexer_url(&["tasks"]), answer)?;
                if tasks.is_empty() {
                    print_line("no tasks")?;
                } else {
                    write_out(task_table(&tasks).as_bytes())?;
                }
            }
            Ok(0)
        }
    }
}

pub(super) async fn workers(options: &ClientOptions, json: bool) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    let answer = client.workers_raw().await?;
    if json {
        print_json(&answer)?;
    } else {
        let workers: Vec<WorkerEntry> = from_answer(client.indexer_url(&["workers"]), answer)?;
        if workers.is_empty() {
            print_line("no workers")?;
        } else {
            write_out(worker_table(&workers).as_bytes())?;
        }
    }
    Ok(0)
}

/// Reads a task spec, checking it is a JSON object; returns the file's bytes unchanged so the
/// server sees exactly what the user wrote.
pub(super) fn read_spec(file: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(file).with_context(|| format!("cannot read task spec {}", file.display()))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(_)) => Ok(bytes),
        Ok(_) => bail!("task spec {} is not a JSON object", file.display()),
        Err(e) => bail!("task spec {} is not valid JSON: {e}", file.display()),
    }
}

pub(super) async fn submit(
    client: &OverlordClient,
    json: bool,
    spec: Vec<u8>,
    wait: bool,
) -> anyhow::Result<i32> {
    let answer = client.submit_raw(spec).await?;
    let id = client.submitted_id(&answer)?;
    if json && !wait {
        print_json(&answer)?;
        return Ok(0);
    }
    if !json {
        print_line(&id)?;
    }
    if !wait {
        return Ok(0);
    }
    wait_for(client, json, &id).await
}

/// Polls a task until it ends, reporting each change of state on stderr.
pub(super) async fn wait_for(client: &OverlordClient, json: bool, id: &str) -> anyhow::Result<i32> {
    let started = Instant::now();
    let mut last_shown = None;
    let mut rows = RowProgress::default();
    loop {
        let answer = client.task_status_raw(id).await?;
        let status = parse_status(&answer)?;
        if status.status_code.is_complete() {
            if json {
                print_json(&answer)?;
            } else {
                print_line(&final_line(&status))?;
            }
            return Ok(if status.status_code == TaskState::Success {
                0
            } else {
                1
            });
        }
        let shown = (status.runner_status_code, status.location.host.clone());
        if last_shown.as_ref() != Some(&shown) {
            eprintln!("{}", progress_line(&status, started.elapsed()));
            last_shown = Some(shown);
        }
        if status.runner_status_code == steward_model::RunnerTaskState::Running
            && rows.due(started.elapsed())
        {
            // Only ingestion tasks report rows; a report that cannot be read now is skipped.
            if let Ok(report) = client.task_reports_raw(id).await {
                if let Some(line) = rows.line(&report, started.elapsed()) {
                    eprintln!("{line}");
                }
            }
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// The rows a running ingestion reports, as `submit --wait` shows them: a line whenever the
/// count moved, with the rate since the previous line.
#[derive(Debug, Default)]
pub(super) struct RowProgress {
    last: Option<(Duration, u64)>,
}

impl RowProgress {
    fn due(&self, elapsed: Duration) -> bool {
        self.last.is_none_or(|(at, _)| elapsed >= at + ROWS_POLL)
    }

    /// The line to show for `report` (a live `ingestionStatsAndErrors` report), if the rows
    /// moved since the last one.
    pub(super) fn line(&mut self, report: &Value, elapsed: Duration) -> Option<String> {
        let payload = &report["ingestionStatsAndErrors"]["payload"];
        let totals = &payload["rowStats"]["totals"]["buildSegments"];
        let processed = totals["processed"].as_u64()?;
        let (since, before) = self.last.unwrap_or((Duration::ZERO, 0));
        self.last = Some((elapsed, processed));
        if processed == before {
            return None;
        }
        let seconds = (elapsed - since).as_secs_f64().max(1e-3);
        let rate = processed.saturating_sub(before) as f64 / seconds;
        let bad = totals["unparseable"].as_u64().unwrap_or(0)
            + totals["processedWithError"].as_u64().unwrap_or(0);
        let progress = &payload["inputProgress"];
        let bar = match (
            progress["bytesRead"].as_u64(),
            progress["bytesTotal"].as_u64(),
        ) {
            (Some(read), Some(total)) if total > 0 => progress_bar(read, total),
            _ => String::new(),
        };
        Some(format!(
            "{:>7.1}s  {bar}{} rows processed ({} rows/s), {} MB read, {} thrown away, {bad} with errors",
            elapsed.as_secs_f64(),
            thousands(processed),
            thousands(rate as u64),
            totals["processedBytes"].as_u64().unwrap_or(0) / 1_000_000,
            totals["thrownAway"].as_u64().unwrap_or(0),
        ))
    }
}

/// `[#########-----------]  45%  ` for `read` of `total` bytes.
fn progress_bar(read: u64, total: u64) -> String {
    const WIDTH: u64 = 20;
    let read = read.min(total);
    let filled = (read * WIDTH / total) as usize;
    format!(
        "[{}{}] {:>3}%  ",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        read * 100 / total
    )
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of `submit --wait` progress: the runner's view, since `statusCode` stays RUNNING
/// until the task ends.
pub(super) fn progress_line(status: &TaskStatusPlus, elapsed: Duration) -> String {
    let mut line = format!(
        "{:>7.1}s  {}",
        elapsed.as_secs_f64(),
        status.runner_status_code.as_str()
    );
    if let Some(host) = &status.location.host {
        line.push_str(&format!(" on {host}:{}", status.location.port));
    }
    line
}

pub(super) fn final_line(status: &TaskStatusPlus) -> String {
    let mut line = format!(
        "{} {} (duration {})",
        status.status_code.as_str(),
        status.id,
        format_millis(status.duration)
    );
    if let Some(msg) = status.error_msg.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(": ");
        line.push_str(msg);
    }
    line
}

pub(super) fn parse_status(answer: &Value) -> Result<TaskStatusPlus, ClientError> {
    let bad = |detail: String| ClientError::BadAnswer {
        url: "task status".to_string(),
        detail,
    };
    let status = answer
        .get("status")
        .filter(|s| !s.is_null())
        .ok_or_else(|| bad("no status".into()))?;
    TaskStatusPlus::deserialize(status).map_err(|e| bad(e.to_string()))
}

/// An answer read as `T`; `url` names where it came from if it is not one.
pub(super) fn from_answer<T: DeserializeOwned>(
    url: reqwest::Url,
    answer: Value,
) -> Result<T, ClientError> {
    serde_json::from_value(answer).map_err(|e| ClientError::BadAnswer {
        url: url.to_string(),
        detail: e.to_string(),
    })
}

pub(super) fn status_summary(s: &TaskStatusPlus) -> String {
    let mut rows = vec![
        ("Task", s.id.clone()),
        ("Type", s.task_type.clone()),
        ("Datasource", s.data_source.clone()),
    ];
    if s.group_id != s.id {
        rows.push(("Group", s.group_id.clone()));
    }
    rows.push((
        "Status",
        format!(
            "{} (runner: {})",
            s.status_code.as_str(),
            s.runner_status_code.as_str()
        ),
    ));
    rows.push(("Created", short_time(&s.created_time)));
    if s.status_code.is_complete() {
        rows.push(("Duration", format_millis(s.duration)));
    }
    if let Some(host) = &s.location.host {
        rows.push(("Location", format!("{host}:{}", s.location.port)));
    }
    if let Some(msg) = s.error_msg.as_deref().filter(|m| !m.is_empty()) {
        rows.push(("Error", msg.to_string()));
    }
    rows.iter()
        .map(|(k, v)| format!("{:<12}{v}", format!("{k}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints a task's log from `offset` and then whatever is appended, until the task has ended.
pub(super) async fn follow_log(
    client: &OverlordClient,
    id: &str,
    offset: i64,
) -> anyhow::Result<i32> {
    let mut cursor = LogCursor::new(offset);
    let mut final_retries = FOLLOW_FINAL_RETRIES;
    loop {
        // Checked before reading, so the read after the task is seen complete gets everything.
        let done = client.task_status(id).await?.status_code.is_complete();
        match client.task_log_bytes(id, cursor.request_offset()).await {
            Ok(bytes) => {
                write_out(cursor.accept(&bytes))?;
                if done {
                    return Ok(0);
                }
            }
            // No log before the task starts running, nor until the worker has pushed it.
            Err(ClientError::Http {
                status: StatusCode::NOT_FOUND,
                ..
            }) if !done || final_retries > 0 => {
                if done {
                    final_retries -= 1;
                }
            }
            Err(err) => return Err(err.into()),
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// How far `log --follow` has printed, in bytes from the log's start, so each poll asks the
/// server only for new bytes (`offset=<pos>`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LogCursor {
    pos: u64,
    /// For a negative starting offset: print only this many trailing bytes of the first answer.
    /// The server's own negative-offset answer cannot be used, as it does not say where in the
    /// log it starts.
    tail: Option<u64>,
}

impl LogCursor {
    pub(super) fn new(offset: i64) -> Self {
        if offset < 0 {
            LogCursor {
                pos: 0,
                tail: Some(offset.unsigned_abs()),
            }
        } else {
            LogCursor {
                pos: offset.unsigned_abs(),
                tail: None,
            }
        }
    }

    /// The `offset` parameter of the next request.
    pub(super) fn request_offset(&self) -> i64 {
        i64::try_from(self.pos).unwrap_or(i64::MAX)
    }

    /// Takes the answer to a request at [`LogCursor::request_offset`]; returns what to print.
    pub(super) fn accept<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        self.pos += chunk.len() as u64;
        match self.tail.take() {
            Some(n) => {
                let keep = usize::try_from(n).unwrap_or(usize::MAX).min(chunk.len());
                &chunk[chunk.len() - keep..]
            }
            None => chunk,
        }
    }
}

pub(super) fn print_json(value: &Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    print_line(&text)
}

/// Writes through a short-lived lock: a held `StdoutLock` would make the futures `!Send`.
pub(super) fn print_line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

pub(super) fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
