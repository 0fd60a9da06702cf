//! Scraping `/metrics` as Prometheus does, and reading the result with a real Prometheus
//! text-format parser (`prometheus-parse`).

use prometheus_parse::{Sample, Scrape, Value};

/// `GET url/metrics`, parsed; panics unless it answers 200 in Prometheus' text format.
pub async fn scrape(http: &reqwest::Client, url: &str) -> Metrics {
    let r = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}/metrics");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    Metrics(Scrape::parse(lines).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}")))
}

pub struct Metrics(pub Scrape);

impl Metrics {
    /// The sample of `name` whose labels include `labels`.
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.0
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    }

    /// The value of a counter or gauge sample.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.sample(name, labels)?.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            ref other => panic!("{name} is not a counter or gauge: {other:?}"),
        }
    }

    /// How many observations a histogram sample holds.
    pub fn observations(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match &self.sample(name, labels)?.value {
            Value::Histogram(buckets) => buckets.last().map(|b| b.count),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// Whether the scrape has any sample of `name`.
    pub fn has_sample(&self, name: &str) -> bool {
        self.0.samples.iter().any(|s| s.metric == name)
    }
}
