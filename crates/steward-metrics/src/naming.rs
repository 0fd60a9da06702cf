//! Druid's Prometheus emitter's naming rule, so that dashboards written against Druid's
//! `prometheus-emitter` find Steward's metrics under the same names.
//!
//! Druid lower-cases the metric name (`taskSlot/idle/count`), then replaces every match of
//! `[^a-zA-Z_:][^a-zA-Z0-9_:]*` with `_`, and puts the namespace (`druid`) in front:
//! `druid_taskslot_idle_count`. The pattern makes a leading character that may not start a
//! name (a `/`, but also a digit) swallow the characters after it that may not follow one.

/// Druid's emitter's default namespace.
pub const NAMESPACE: &str = "druid";

/// The Prometheus name Druid's emitter gives the Druid metric `druid_name`.
pub fn prometheus_name(druid_name: &str) -> String {
    let lower = druid_name.to_lowercase();
    let mut out = String::with_capacity(NAMESPACE.len() + 1 + lower.len());
    out.push_str(NAMESPACE);
    out.push('_');
    let mut in_run = false;
    for c in lower.chars() {
        let may_start = c.is_ascii_alphabetic() || c == '_' || c == ':';
        let may_follow = may_start || c.is_ascii_digit();
        if in_run && !may_follow {
            continue;
        }
        in_run = !may_start;
        out.push(if may_start { c } else { '_' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::prometheus_name;

    #[test]
    fn maps_names_as_druids_prometheus_emitter_does() {
        for (druid, prometheus) in [
            ("task/run/time", "druid_task_run_time"),
            ("task/success/count", "druid_task_success_count"),
            (
                "taskSlot/blacklisted/count",
                "druid_taskslot_blacklisted_count",
            ),
            (
                "worker/taskSlot/idle/count",
                "druid_worker_taskslot_idle_count",
            ),
            (
                "ingest/events/processedWithError",
                "druid_ingest_events_processedwitherror",
            ),
            // A run of characters that may not follow one that may not start a name is one `_`.
            ("query/node//bytes", "druid_query_node_bytes"),
            // A digit may not start a run, so it is replaced together with what follows it.
            ("jvm/gc/g1/count", "druid_jvm_gc_g_count"),
            ("zk/connected", "druid_zk_connected"),
        ] {
            assert_eq!(prometheus_name(druid), prometheus, "{druid}");
        }
    }
}
