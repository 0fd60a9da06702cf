//! [`Metrics`]: one service's registry of the figures recorded as things happen (task ends,
//! assignments, request latencies), and [`Scrape`]: the figures a service computes from its
//! own state when it is scraped (task and slot counts, per-task ingestion counters).
//!
//! # One registry per service, not the process-global recorder
//!
//! Quickstart runs an Overlord and MiddleManagers in one process, and the tests run several
//! of each in one process: with the `metrics` crate's global recorder, every `/metrics` would
//! show the sum of all of them. So each service builds its own [`Metrics`] and hands it to
//! what records for it (the Overlord's driver and metadata store, the MiddleManager, each
//! one's ZooKeeper session); nothing goes through `metrics`' global macros.
//!
//! Counts of things that exist now (running tasks, idle slots, a running task's rows) are not
//! kept in the registry at all: each scrape asks the service's state and builds a [`Scrape`]
//! from the answer, so a datasource with no running task left drops out instead of showing a
//! stale value, and nothing is done for them between scrapes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::catalogue::{Kind, MetricDef, ALL};
use crate::naming::prometheus_name;

const METADATA: Metadata<'static> = Metadata::new("steward", Level::INFO, None);

/// How often histograms' recent samples are folded in when nobody scrapes, so that their
/// memory stays bounded.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// One service's registry (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl Metrics {
    /// A registry with every timer's buckets and every metric's help text. Inside a tokio
    /// runtime it also starts the upkeep, which stops when the last clone is dropped.
    pub fn new() -> Metrics {
        let recorder = Arc::new(build_recorder(true));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(upkeep(Arc::downgrade(&recorder)));
        }
        Metrics { recorder }
    }

    /// Adds `n` to the counter `def` with these label values (in `def.labels`' order).
    pub fn count(&self, def: &MetricDef, labels: &[&str], n: u64) {
        counter(&self.recorder, def, labels).increment(n);
    }

    /// Records `millis` in the timer `def`, converted as Druid's emitter converts it.
    pub fn observe_millis(&self, def: &MetricDef, labels: &[&str], millis: f64) {
        let Kind::Timer { conversion, .. } = def.kind else {
            panic!("{} is not a timer", def.druid_name);
        };
        self.recorder
            .register_histogram(&key(def, labels), &METADATA)
            .record(millis / conversion);
    }

    /// Records how long a request took in the timer `def`.
    pub fn observe(&self, def: &MetricDef, labels: &[&str], elapsed: Duration) {
        self.observe_millis(def, labels, elapsed.as_secs_f64() * 1000.0);
    }

    /// The Prometheus text of this registry followed by the scrape-time figures.
    pub fn render(&self, scrape: Scrape) -> String {
        let mut text = self.recorder.handle().render();
        text.push_str(&scrape.recorder.handle().render());
        text
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The figures one scrape computes from the service's state.
pub struct Scrape {
    recorder: PrometheusRecorder,
}

impl Scrape {
    pub fn new() -> Scrape {
        Scrape {
            recorder: build_recorder(false),
        }
    }

    /// Sets the gauge `def` with these label values (in `def.labels`' order).
    pub fn gauge(&self, def: &MetricDef, labels: &[&str], value: f64) {
        debug_assert_eq!(def.kind, Kind::Gauge, "{}", def.druid_name);
        self.recorder
            .register_gauge(&key(def, labels), &METADATA)
            .set(value);
    }

    /// Sets the counter `def` to a total kept elsewhere (a task's rows, counted by its peon).
    pub fn counter(&self, def: &MetricDef, labels: &[&str], total: u64) {
        counter(&self.recorder, def, labels).absolute(total);
    }
}

impl Default for Scrape {
    fn default() -> Self {
        Scrape::new()
    }
}

/// The counter `def` with these label values, registered on first use.
fn counter(recorder: &PrometheusRecorder, def: &MetricDef, labels: &[&str]) -> metrics::Counter {
    debug_assert_eq!(def.kind, Kind::Counter, "{}", def.druid_name);
    recorder.register_counter(&key(def, labels), &METADATA)
}

/// A recorder naming counters `..._total` as Druid's (Prometheus' `simpleclient`) do, with
/// every metric described and, if `histograms`, every timer's buckets.
fn build_recorder(histograms: bool) -> PrometheusRecorder {
    let mut builder = PrometheusBuilder::new().with_recommended_naming(true);
    if histograms {
        for def in ALL {
            if let Kind::Timer { buckets, .. } = def.kind {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(prometheus_name(def.druid_name)), buckets)
                    .expect("the catalogue's buckets are not empty");
            }
        }
    }
    let recorder = builder.build_recorder();
    for def in ALL {
        let name = prometheus_name(def.druid_name);
        match def.kind {
            Kind::Counter => recorder.describe_counter(name.into(), None, def.help.into()),
            Kind::Gauge => recorder.describe_gauge(name.into(), None, def.help.into()),
            Kind::Timer { .. } => recorder.describe_histogram(name.into(), None, def.help.into()),
        }
    }
    recorder
}

fn key(def: &MetricDef, values: &[&str]) -> Key {
    debug_assert_eq!(def.labels.len(), values.len(), "{}", def.druid_name);
    let labels = def
        .labels
        .iter()
        .zip(values)
        .map(|(name, value)| Label::new(*name, value.to_string()))
        .collect::<Vec<_>>();
    Key::from_parts(prometheus_name(def.druid_name), labels)
}

async fn upkeep(recorder: Weak<PrometheusRecorder>) {
    loop {
        tokio::time::sleep(UPKEEP_PERIOD).await;
        match recorder.upgrade() {
            Some(recorder) => recorder.handle().run_upkeep(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_parse::{Scrape as Parsed, Value};

    use super::{Metrics, Scrape};
    use crate::catalogue::{TASK_RUNNING_COUNT, TASK_RUN_TIME, TASK_SUCCESS_COUNT};

    fn parse(text: &str) -> Parsed {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        Parsed::parse(lines).expect("Prometheus text")
    }

    #[tokio::test]
    async fn renders_counters_timers_and_scrape_gauges_with_druids_names() {
        let metrics = Metrics::new();
        metrics.count(&TASK_SUCCESS_COUNT, &["wiki"], 2);
        metrics.observe_millis(&TASK_RUN_TIME, &["wiki", "index"], 1500.0);
        let scrape = Scrape::new();
        scrape.gauge(&TASK_RUNNING_COUNT, &["wiki"], 3.0);
        let parsed = parse(&metrics.render(scrape));

        let success = parsed
            .samples
            .iter()
            .find(|s| s.metric == "druid_task_success_count_total")
            .expect("counter sample");
        assert_eq!(success.labels.get("dataSource"), Some("wiki"));
        assert!(matches!(success.value, Value::Counter(v) if v == 2.0));

        let run_time = parsed
            .samples
            .iter()
            .find(|s| s.metric == "druid_task_run_time")
            .expect("histogram sample");
        assert_eq!(run_time.labels.get("taskType"), Some("index"));
        let Value::Histogram(buckets) = &run_time.value else {
            panic!("not a histogram: {:?}", run_time.value);
        };
        // 1.5 s, Druid's default buckets: in 2.5 and above, not in 1.0.
        let count_at = |le: f64| buckets.iter().find(|b| b.less_than == le).unwrap().count;
        assert_eq!(
            (count_at(1.0), count_at(2.5), count_at(300.0)),
            (0.0, 1.0, 1.0)
        );

        let running = parsed
            .samples
            .iter()
            .find(|s| s.metric == "druid_task_running_count")
            .expect("gauge sample");
        assert!(matches!(running.value, Value::Gauge(v) if v == 3.0));
        assert_eq!(
            parsed
                .docs
                .get("druid_task_running_count")
                .map(String::as_str),
            Some(TASK_RUNNING_COUNT.help)
        );
    }
}
