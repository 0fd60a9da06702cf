//! The metrics Steward serves: each with Druid's name, the type and labels Druid's Prometheus
//! emitter gives it (its `defaultMetrics.json`), and what it means.
//!
//! Where Druid's file has no entry for a metric Steward serves, the name is made the way
//! Druid names its metrics (`area/what/unit`) and the entry follows the file's conventions.
//! Three departures, each because Druid's choice would make the figure wrong in Prometheus:
//!
//! - `task/{running,pending,waiting}/count` are `count`s in Druid's file, so Druid's emitter
//!   adds each period's snapshot to a counter; here they are gauges, the number right now.
//! - Timers are histograms of seconds (Druid's `conversionFactor` 1000 on milliseconds), with
//!   Druid's default buckets (0.1 s to 300 s) where a figure is that coarse; latencies of a few
//!   milliseconds (assignment, metadata-store and ZooKeeper requests) get buckets from 0.5 ms.
//! - Label values are kept as they are (Druid's emitter replaces digits and punctuation in
//!   them, which makes task ids and datasources like `wiki2024` unreadable).

/// How Druid's emitter exposes a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Druid's `count`: a Prometheus counter (its samples end in `_total`).
    Counter,
    /// Druid's `gauge`.
    Gauge,
    /// Druid's `timer`: a histogram of the value divided by `conversion` (ms → s), in `buckets`.
    Timer {
        conversion: f64,
        buckets: &'static [f64],
    },
}

/// One metric: Druid's name, its kind, its label names (sorted, as Druid's emitter sorts the
/// dimensions) and its help text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    pub druid_name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

/// Druid's emitter's default histogram buckets, in seconds.
pub const DRUID_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Buckets for requests that take milliseconds, in seconds.
pub const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for a task's wait for a worker: milliseconds when slots are free, up to Druid's
/// five-minute assignment timeout when they are not.
pub const PENDING_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

const MILLIS: f64 = 1000.0;
const DS: &[&str] = &["dataSource"];
const DS_TYPE: &[&str] = &["dataSource", "taskType"];
const CATEGORY: &[&str] = &["category"];
const WORKER: &[&str] = &["category", "workerVersion"];
const INGEST: &[&str] = &["dataSource", "taskId", "taskType"];

const fn def(
    druid_name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        druid_name,
        kind,
        labels,
        help,
    }
}

const fn timer(buckets: &'static [f64]) -> Kind {
    Kind::Timer {
        conversion: MILLIS,
        buckets,
    }
}

// ----- the Overlord ------------------------------------------------------------------------

pub const TASK_RUN_TIME: MetricDef = def(
    "task/run/time",
    timer(DRUID_BUCKETS),
    DS_TYPE,
    "Seconds taken to run a task.",
);
pub const TASK_PENDING_TIME: MetricDef = def(
    "task/pending/time",
    timer(PENDING_BUCKETS),
    DS_TYPE,
    "Seconds a task waited for a worker: from entering the runner to its assignment being written.",
);
pub const TASK_SUCCESS_COUNT: MetricDef = def(
    "task/success/count",
    Kind::Counter,
    DS,
    "Number of successful tasks.",
);
pub const TASK_FAILED_COUNT: MetricDef = def(
    "task/failed/count",
    Kind::Counter,
    DS,
    "Number of failed tasks.",
);
pub const TASK_RUNNING_COUNT: MetricDef = def(
    "task/running/count",
    Kind::Gauge,
    DS,
    "Number of current running tasks.",
);
pub const TASK_PENDING_COUNT: MetricDef = def(
    "task/pending/count",
    Kind::Gauge,
    DS,
    "Number of current pending tasks.",
);
pub const TASK_WAITING_COUNT: MetricDef = def(
    "task/waiting/count",
    Kind::Gauge,
    DS,
    "Number of current waiting tasks.",
);
pub const TASK_SLOT_TOTAL_COUNT: MetricDef = def(
    "taskSlot/total/count",
    Kind::Gauge,
    CATEGORY,
    "Number of total task slots per worker category.",
);
pub const TASK_SLOT_IDLE_COUNT: MetricDef = def(
    "taskSlot/idle/count",
    Kind::Gauge,
    CATEGORY,
    "Number of idle task slots per worker category (blacklisted workers' excluded).",
);
pub const TASK_SLOT_USED_COUNT: MetricDef = def(
    "taskSlot/used/count",
    Kind::Gauge,
    CATEGORY,
    "Number of busy task slots per worker category.",
);
pub const TASK_SLOT_LAZY_COUNT: MetricDef = def(
    "taskSlot/lazy/count",
    Kind::Gauge,
    CATEGORY,
    "Number of task slots on workers marked lazy by an autoscaler (Steward has none: 0).",
);
pub const TASK_SLOT_BLACKLISTED_COUNT: MetricDef = def(
    "taskSlot/blacklisted/count",
    Kind::Gauge,
    CATEGORY,
    "Number of task slots on blacklisted workers per worker category.",
);
pub const WORKER_COUNT: MetricDef = def(
    "worker/count",
    Kind::Gauge,
    WORKER,
    "Number of announced workers (MiddleManagers); disabled ones have workerVersion \"\".",
);
pub const SEGMENT_COUNT: MetricDef = def(
    "segment/count",
    Kind::Gauge,
    DS,
    "Number of used segments belonging to a data source.",
);
pub const SEGMENT_SIZE: MetricDef = def(
    "segment/size",
    Kind::Gauge,
    DS,
    "Size in bytes of the used segments of a data source.",
);
pub const METADATA_REQUEST_TIME: MetricDef = def(
    "metadata/request/time",
    timer(REQUEST_BUCKETS),
    &["backend", "operation"],
    "Seconds taken by a metadata-store operation (its statements or transaction).",
);

// ----- the MiddleManager -------------------------------------------------------------------

pub const WORKER_TASK_SUCCESS_COUNT: MetricDef = def(
    "worker/task/success/count",
    Kind::Counter,
    WORKER,
    "Number of tasks that succeeded on this MiddleManager.",
);
pub const WORKER_TASK_FAILED_COUNT: MetricDef = def(
    "worker/task/failed/count",
    Kind::Counter,
    WORKER,
    "Number of tasks that failed on this MiddleManager.",
);
pub const WORKER_TASK_SLOT_TOTAL_COUNT: MetricDef = def(
    "worker/taskSlot/total/count",
    Kind::Gauge,
    WORKER,
    "Number of task slots of this MiddleManager.",
);
pub const WORKER_TASK_SLOT_IDLE_COUNT: MetricDef = def(
    "worker/taskSlot/idle/count",
    Kind::Gauge,
    WORKER,
    "Number of idle task slots of this MiddleManager.",
);
pub const WORKER_TASK_SLOT_USED_COUNT: MetricDef = def(
    "worker/taskSlot/used/count",
    Kind::Gauge,
    WORKER,
    "Number of busy task slots of this MiddleManager.",
);
pub const INGEST_EVENTS_PROCESSED: MetricDef = def(
    "ingest/events/processed",
    Kind::Counter,
    INGEST,
    "Number of events successfully processed by the task.",
);
pub const INGEST_EVENTS_PROCESSED_WITH_ERROR: MetricDef = def(
    "ingest/events/processedWithError",
    Kind::Counter,
    INGEST,
    "Number of events processed with some partial errors by the task.",
);
pub const INGEST_EVENTS_UNPARSEABLE: MetricDef = def(
    "ingest/events/unparseable",
    Kind::Counter,
    INGEST,
    "Number of events the task rejected because they are unparseable.",
);
pub const INGEST_EVENTS_THROWN_AWAY: MetricDef = def(
    "ingest/events/thrownAway",
    Kind::Counter,
    INGEST,
    "Number of events the task rejected (outside its intervals, or filtered out).",
);
pub const INGEST_INPUT_BYTES: MetricDef = def(
    "ingest/input/bytes",
    Kind::Counter,
    INGEST,
    "Number of bytes the task read from its input source, after decompression.",
);

// ----- both --------------------------------------------------------------------------------

pub const ZK_REQUEST_TIME: MetricDef = def(
    "zk/request/time",
    timer(REQUEST_BUCKETS),
    &["operation"],
    "Seconds taken by a ZooKeeper request of this process.",
);

/// Every metric above, for describing and bucketing them in a registry.
pub const ALL: &[MetricDef] = &[
    TASK_RUN_TIME,
    TASK_PENDING_TIME,
    TASK_SUCCESS_COUNT,
    TASK_FAILED_COUNT,
    TASK_RUNNING_COUNT,
    TASK_PENDING_COUNT,
    TASK_WAITING_COUNT,
    TASK_SLOT_TOTAL_COUNT,
    TASK_SLOT_IDLE_COUNT,
    TASK_SLOT_USED_COUNT,
    TASK_SLOT_LAZY_COUNT,
    TASK_SLOT_BLACKLISTED_COUNT,
    WORKER_COUNT,
    SEGMENT_COUNT,
    SEGMENT_SIZE,
    METADATA_REQUEST_TIME,
    WORKER_TASK_SUCCESS_COUNT,
    WORKER_TASK_FAILED_COUNT,
    WORKER_TASK_SLOT_TOTAL_COUNT,
    WORKER_TASK_SLOT_IDLE_COUNT,
    WORKER_TASK_SLOT_USED_COUNT,
    INGEST_EVENTS_PROCESSED,
    INGEST_EVENTS_PROCESSED_WITH_ERROR,
    INGEST_EVENTS_UNPARSEABLE,
    INGEST_EVENTS_THROWN_AWAY,
    INGEST_INPUT_BYTES,
    ZK_REQUEST_TIME,
];
