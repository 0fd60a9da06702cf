use super::*;

const DEFAULT: &str = "_default_worker_category";

fn c(host: &str, capacity: u32, used: u32) -> Candidate<'_> {
    Candidate {
        host,
        capacity,
        used,
        category: DEFAULT,
    }
}

fn in_category<'a>(host: &'a str, capacity: u32, used: u32, category: &'a str) -> Candidate<'a> {
    Candidate {
        host,
        capacity,
        used,
        category,
    }
}

fn task<'a>(task_type: &'a str, data_source: &'a str) -> TaskDemand<'a> {
    TaskDemand {
        task_type,
        data_source,
        required_capacity: 1,
    }
}

fn noop() -> TaskDemand<'static> {
    task("noop", "wiki")
}

fn unused() -> SlotUsage {
    panic!("usage must not be computed without a limit for the task's type")
}

fn strategy(preference: WorkerPreference, restriction: WorkerRestriction) -> WorkerSelectStrategy {
    WorkerSelectStrategy {
        preference,
        restriction,
        task_limits: TaskLimits::default(),
    }
}

fn affinity(entries: &[(&str, &[&str])], strong: bool) -> WorkerRestriction {
    let map = entries
        .iter()
        .map(|(ds, hosts)| {
            (
                ds.to_string(),
                hosts.iter().map(|h| h.to_string()).collect(),
            )
        })
        .collect();
    WorkerRestriction::Affinity(AffinityConfig::new(map, strong))
}

fn category_spec(
    task_type: &str,
    default_category: Option<&str>,
    by_data_source: &[(&str, &str)],
    strong: bool,
) -> WorkerRestriction {
    let config = CategoryConfig {
        default_category: default_category.map(str::to_string),
        category_affinity: by_data_source
            .iter()
            .map(|(ds, cat)| (ds.to_string(), cat.to_string()))
            .collect(),
    };
    WorkerRestriction::Category(WorkerCategorySpec {
        category_map: BTreeMap::from([(task_type.to_string(), config)]),
        strong,
    })
}

#[test]
fn equal_distribution_prefers_most_free_capacity_ties_to_lowest_host() {
    let s = WorkerSelectStrategy::default();
    assert_eq!(
        s.select(&noop(), unused, [c("a", 4, 3), c("b", 4, 1), c("c", 2, 0)]),
        Some("b")
    );
    assert_eq!(
        s.select(&noop(), unused, [c("b", 4, 0), c("a", 4, 0)]),
        Some("a")
    );
    assert_eq!(s.select(&noop(), unused, []), None);
}

#[test]
fn fill_capacity_prefers_busiest_worker_ties_to_lowest_host() {
    let s = strategy(WorkerPreference::FillCapacity, WorkerRestriction::None);
    assert_eq!(
        s.select(&noop(), unused, [c("a", 4, 1), c("b", 4, 3), c("c", 8, 0)]),
        Some("b")
    );
    assert_eq!(
        s.select(&noop(), unused, [c("b", 4, 0), c("a", 4, 0)]),
        Some("a")
    );
}

#[test]
fn affinity_reserves_listed_workers_for_their_datasources() {
    let workers = [c("a", 4, 0), c("b", 4, 3), c("c", 4, 1)];
    let s = strategy(
        WorkerPreference::EqualDistribution,
        affinity(&[("wiki", &["b"]), ("web", &["c"])], false),
    );
    // Its own worker even though another has more room.
    assert_eq!(s.select(&task("noop", "wiki"), unused, workers), Some("b"));
    assert_eq!(s.select(&task("noop", "web"), unused, workers), Some("c"));
    // A datasource without an entry only gets workers nobody reserved.
    assert_eq!(s.select(&task("noop", "other"), unused, workers), Some("a"));
    assert_eq!(
        s.select(&task("noop", "other"), unused, [c("b", 4, 0), c("c", 4, 0)]),
        None
    );
    // The preference still orders several workers of one datasource.
    let s = strategy(
        WorkerPreference::FillCapacity,
        affinity(&[("wiki", &["a", "b", "c"])], false),
    );
    assert_eq!(s.select(&task("noop", "wiki"), unused, workers), Some("b"));
}

#[test]
fn weak_affinity_falls_back_to_unreserved_workers_strong_affinity_waits() {
    // b (wiki's) is not runnable, c is web's, a is nobody's.
    let runnable = [c("a", 4, 0), c("c", 4, 0)];
    let weak = strategy(
        WorkerPreference::EqualDistribution,
        affinity(&[("wiki", &["b"]), ("web", &["c"])], false),
    );
    assert_eq!(
        weak.select(&task("noop", "wiki"), unused, runnable),
        Some("a")
    );
    assert_eq!(
        weak.select(&task("noop", "wiki"), unused, [c("c", 4, 0)]),
        None,
        "another datasource's worker is never a fallback"
    );
    let strong = strategy(
        WorkerPreference::EqualDistribution,
        affinity(&[("wiki", &["b"]), ("web", &["c"])], true),
    );
    assert_eq!(strong.select(&task("noop", "wiki"), unused, runnable), None);
    assert_eq!(
        strong.select(&task("noop", "wiki"), unused, [c("b", 4, 3), c("a", 4, 0)]),
        Some("b")
    );
}

#[test]
fn category_spec_prefers_the_datasource_category_then_the_default() {
    let workers = [
        in_category("a", 4, 0, "c1"),
        in_category("b", 4, 1, "c2"),
        in_category("c", 4, 2, "c2"),
        in_category("d", 4, 0, DEFAULT),
    ];
    let s = strategy(
        WorkerPreference::EqualDistribution,
        category_spec("index", Some("c1"), &[("wiki", "c2")], false),
    );
    assert_eq!(s.select(&task("index", "wiki"), unused, workers), Some("b"));
    assert_eq!(s.select(&task("index", "web"), unused, workers), Some("a"));
    // No entry for the type: any runnable worker.
    assert_eq!(s.select(&task("noop", "wiki"), unused, workers), Some("a"));
    let s = strategy(
        WorkerPreference::FillCapacity,
        category_spec("index", Some("c1"), &[("wiki", "c2")], false),
    );
    assert_eq!(s.select(&task("index", "wiki"), unused, workers), Some("c"));
    // Neither a datasource mapping nor a default: any runnable worker.
    let s = strategy(
        WorkerPreference::EqualDistribution,
        category_spec("index", None, &[("wiki", "c2")], true),
    );
    assert_eq!(s.select(&task("index", "web"), unused, workers), Some("a"));
}

#[test]
fn weak_category_spec_falls_back_to_any_worker_strong_waits() {
    let runnable = [
        in_category("a", 4, 1, "c1"),
        in_category("d", 4, 0, DEFAULT),
    ];
    let weak = strategy(
        WorkerPreference::EqualDistribution,
        category_spec("index", Some("c1"), &[("wiki", "c2")], false),
    );
    assert_eq!(
        weak.select(&task("index", "wiki"), unused, runnable),
        Some("d")
    );
    let strong = strategy(
        WorkerPreference::EqualDistribution,
        category_spec("index", Some("c1"), &[("wiki", "c2")], true),
    );
    assert_eq!(
        strong.select(&task("index", "wiki"), unused, runnable),
        None
    );
    assert_eq!(
        strong.select(&task("index", "web"), unused, runnable),
        Some("a")
    );
}

fn limits(counts: &[(&str, u32)], ratios: &[(&str, f64)]) -> TaskLimits {
    TaskLimits {
        max_slot_count_by_type: counts.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        max_slot_ratio_by_type: ratios.iter().map(|(t, r)| (t.to_string(), *r)).collect(),
    }
}

#[test]
fn task_limits_take_the_lower_of_count_and_ratio_with_at_least_one_slot() {
    let l = limits(
        &[("index", 3), ("kill", 0)],
        &[("index", 0.5), ("compact", 0.1)],
    );
    assert_eq!(l.limit("index", 10), Some(3), "count below ratio");
    assert_eq!(l.limit("index", 4), Some(2), "floor(0.5 * 4) below count");
    assert_eq!(l.limit("index", 5), Some(2), "floor(0.5 * 5)");
    assert_eq!(
        l.limit("compact", 5),
        Some(1),
        "a ratio gives at least one slot"
    );
    assert_eq!(l.limit("compact", 0), Some(1), "even without capacity");
    assert_eq!(l.limit("compact", 30), Some(3));
    assert_eq!(
        l.limit("kill", 10),
        Some(0),
        "a count of zero forbids the type"
    );
    assert_eq!(l.limit("noop", 10), None);
    assert!(!l.limits("noop"));
    let full = limits(&[], &[("index", 1.0)]);
    assert_eq!(full.limit("index", 7), Some(7));
}

#[test]
fn task_limits_count_cluster_wide_usage_and_required_capacity() {
    let mut s = WorkerSelectStrategy {
        task_limits: limits(&[("index", 3)], &[("compact", 0.25)]),
        ..WorkerSelectStrategy::default()
    };
    let workers = [c("a", 4, 0), c("b", 4, 0)];
    let usage = |used_by_type| {
        move || SlotUsage {
            total_capacity: 8,
            used_by_type,
        }
    };
    let index = task("index", "wiki");
    assert_eq!(s.select(&index, usage(2), workers), Some("a"));
    assert_eq!(s.select(&index, usage(3), workers), None);
    let two_slots = TaskDemand {
        required_capacity: 2,
        ..index
    };
    assert_eq!(s.select(&two_slots, usage(1), workers), Some("a"));
    assert_eq!(s.select(&two_slots, usage(2), workers), None);
    // floor(0.25 * 8) = 2.
    let compact = task("compact", "wiki");
    assert_eq!(s.select(&compact, usage(1), workers), Some("a"));
    assert_eq!(s.select(&compact, usage(2), workers), None);
    // Other types are not limited and do not pay for the usage.
    assert_eq!(s.select(&noop(), unused, workers), Some("a"));
    // Limits apply before affinity or categories.
    s.restriction = affinity(&[("wiki", &["b"])], false);
    assert_eq!(s.select(&index, usage(3), workers), None);
    assert_eq!(s.select(&index, usage(0), workers), Some("b"));
}
