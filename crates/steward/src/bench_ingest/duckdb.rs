//! The yardstick: DuckDB computing the same rollup from the same files into Parquet, timed in
//! the same run on the same machine.
//!
//! DuckDB runs in a Python interpreter that has the `duckdb` package (`scripts/bench-ingest.sh`
//! installs it into a virtualenv); without one the comparison is skipped, saying why. The query
//! is the task's spec in SQL: the time truncated to the hour, the sixteen dimensions as text (as
//! Druid's string dimensions hold them), `count(*)` and the three sums, grouped by everything
//! else.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use serde::Deserialize;

use super::spec::{DIMENSIONS, SUMMED};

/// What DuckDB did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuckDbRun {
    pub version: String,
    pub threads: u64,
    pub seconds: f64,
    /// Rows of the Parquet file: the rolled-up rows.
    pub rows: u64,
    pub peak_rss_bytes: u64,
}

/// Runs the query in `python` over the JSON files of `input_dir`, writing `out` (a Parquet
/// file). `Ok(None)` when `python` cannot import `duckdb`.
pub fn run(python: &Path, input_dir: &Path, out: &Path) -> anyhow::Result<Option<DuckDbRun>> {
    let probe = Command::new(python).args(["-c", "import duckdb"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => return Ok(None),
    }
    let glob = input_dir.join("*.json");
    let output = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(query(
            &glob.display().to_string(),
            &out.display().to_string(),
        ))
        .arg(out)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "DuckDB failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let run = serde_json::from_str(stdout.trim())
        .with_context(|| format!("reading DuckDB's figures from {stdout:?}"))?;
    Ok(Some(run))
}

/// Times the query (argv[1]) alone, then counts the rows it wrote to argv[2].
const SCRIPT: &str = r#"
import json, resource, sys, time
import duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
start = time.perf_counter()
con.execute(sys.argv[1])
seconds = time.perf_counter() - start
rows = con.execute("SELECT count(*) FROM read_parquet(?)", [sys.argv[2]]).fetchone()[0]
threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
print(json.dumps({"version": duckdb.__version__, "threads": int(threads), "seconds": seconds,
                  "rows": rows,
                  "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"#;

/// The rollup as one `COPY`: every column typed up front, so that DuckDB does not sample the
/// files to guess, and dimensions as text whatever their JSON type.
fn query(glob: &str, out: &str) -> String {
    let mut columns = vec![("time".to_string(), "TIMESTAMP")];
    columns.extend(DIMENSIONS.iter().map(|d| (d.to_string(), "VARCHAR")));
    columns.extend(
        SUMMED
            .iter()
            .map(|(field, _)| (field.to_string(), "BIGINT")),
    );
    let columns = columns
        .iter()
        .map(|(name, kind)| format!("'{name}': '{kind}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let dimensions = DIMENSIONS
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let sums = SUMMED
        .iter()
        .map(|(field, name)| format!("sum(\"{field}\") AS \"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "COPY (SELECT date_trunc('hour', \"time\") AS __time, {dimensions}, count(*) AS \"count\", \
         {sums} FROM read_json({}, format = 'newline_delimited', columns = {{{columns}}}) \
         GROUP BY ALL) TO {} (FORMAT parquet)",
        sql_string(glob),
        sql_string(out)
    )
}

/// A SQL string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_specs_rollup() {
        let q = query("/data/it's/*.json", "/out/x.parquet");
        assert!(
            q.starts_with(
                "COPY (SELECT date_trunc('hour', \"time\") AS __time, \"channel\", \"cityName\""
            ),
            "{q}"
        );
        assert!(q.contains("\"user\", count(*) AS \"count\", sum(\"added\") AS \"sum_added\", sum(\"deleted\") AS \"sum_deleted\", sum(\"delta\") AS \"sum_delta\""), "{q}");
        assert!(
            q.contains("read_json('/data/it''s/*.json', format = 'newline_delimited'"),
            "{q}"
        );
        assert!(
            q.contains("'time': 'TIMESTAMP', 'channel': 'VARCHAR'"),
            "{q}"
        );
        assert!(
            q.contains("'delta': 'BIGINT'}) GROUP BY ALL) TO '/out/x.parquet' (FORMAT parquet)"),
            "{q}"
        );
    }

    #[test]
    fn a_python_without_duckdb_skips_the_comparison() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-python");
        assert_eq!(
            run(&missing, dir.path(), &dir.path().join("x.parquet")).unwrap(),
            None
        );
    }
}
