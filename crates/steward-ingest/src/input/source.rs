//! Input sources: where the bytes come from (Druid's `LocalInputSource`, `InlineInputSource`,
//! `HttpInputSource`), and how an `index_parallel` task splits them among sub-tasks.
//!
//! A source lists its entities (files, URIs, the inline text); a split is a source of the same
//! type restricted to some of them, serialised into the sub-task's spec as Druid's `withSplit`
//! does. Local files are grouped by Druid's `maxSize` split hint (at most `maxSplitSize` bytes
//! and `maxNumFiles` files a split, at least one file each); HTTP sources split one URI each.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use steward_model::{DataSegment, Interval};

use super::http::{HttpInputSource, PasswordProvider};
use super::InputError;
use crate::spec::fields::{within, Obj};
use crate::spec::tuning::SplitHintSpec;
use crate::SpecError;

/// What the operator allows HTTP sources to use (Druid's `druid.ingestion.http.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSourceConfig {
    /// `allowedProtocols`, lower case; Druid's default is `["http", "https"]`.
    pub allowed_protocols: Vec<String>,
    /// `allowedHeaders`, lower case; none by default.
    pub allowed_headers: Vec<String>,
}

impl Default for InputSourceConfig {
    fn default() -> Self {
        InputSourceConfig {
            allowed_protocols: vec!["http".into(), "https".into()],
            allowed_headers: Vec::new(),
        }
    }
}

/// An input source, in Druid's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InputSourceSpec {
    Local(LocalInputSource),
    Inline(InlineInputSource),
    Http(HttpInputSource),
    Druid(DruidInputSource),
}

/// Druid's `DruidInputSource`: the rows of a datasource's used segments in an interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DruidInputSource {
    pub data_source: String,
    pub interval: Interval,
    /// Dimensions to read (every one of each segment when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<String>>,
    /// Metrics to read (every one of each segment when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
    /// A split's segments (Druid's `segments`): only these of the interval's used segments
    /// are read. Absent in a submitted spec; the supervisor of a parallel ingestion sets it
    /// for each sub-task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<WindowedSegmentId>>,
    /// The segments' files and the windows of each to read, as the task found them when it
    /// started reading; `None` until then.
    #[serde(skip)]
    pub files: Option<Vec<SegmentFile>>,
}

/// A segment's files on this machine and the parts of it the source reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub windows: Vec<Interval>,
}

/// Druid's `WindowedSegmentId`: a segment of a split, and the part of it to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowedSegmentId {
    pub segment_id: String,
    pub intervals: Vec<Interval>,
}

impl DruidInputSource {
    /// Where each of `segments` (used segments of the datasource) shows within the source's
    /// interval: its interval there, less what segments of higher versions cover (Druid's
    /// timeline lookup); segments that show nowhere are left out, the rest keep their order.
    pub fn visible(&self, segments: Vec<DataSegment>) -> Vec<(DataSegment, Vec<Interval>)> {
        let covers: Vec<(Interval, String)> = segments
            .iter()
            .map(|s| (s.interval, s.version.clone()))
            .collect();
        segments
            .into_iter()
            .filter_map(|segment| {
                let mut windows: Vec<Interval> = self
                    .interval
                    .overlap(&segment.interval)
                    .into_iter()
                    .collect();
                for (cover, _) in covers.iter().filter(|(_, v)| *v > segment.version) {
                    windows = windows
                        .into_iter()
                        .flat_map(|w| subtract(w, cover))
                        .collect();
                }
                (!windows.is_empty()).then_some((segment, windows))
            })
            .collect()
    }

    /// Splits the source among sub-tasks by its visible segments, in the order given: Druid's
    /// `DruidInputSource.createSplits`, segments grouped under `hint`'s bytes and count
    /// (`maxInputSegmentBytesPerTask` and `maxNumSegments`, or a `maxSize` hint's).
    pub fn split_segments(
        &self,
        visible: &[(DataSegment, Vec<Interval>)],
        hint: &SplitHintSpec,
    ) -> Vec<InputSourceSpec> {
        let (max_bytes, max_count) = match hint {
            SplitHintSpec::MaxSize {
                max_split_size,
                max_num_files,
            } => (*max_split_size, *max_num_files),
            SplitHintSpec::Segments {
                max_input_segment_bytes_per_task,
                max_num_segments,
            } => (*max_input_segment_bytes_per_task, *max_num_segments),
        };
        let windowed = visible
            .iter()
            .map(|(s, windows)| {
                let window = WindowedSegmentId {
                    segment_id: s.id().to_string(),
                    intervals: windows.clone(),
                };
                (window, s.size)
            })
            .collect();
        group_by_size(windowed, max_bytes, max_count)
            .into_iter()
            .map(|split| {
                InputSourceSpec::Druid(DruidInputSource {
                    segments: Some(split),
                    files: None,
                    ..self.clone()
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalInputSource {
    /// Searched recursively for files whose name matches `filter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_dir: Option<PathBuf>,
    /// A wildcard (`*`, `?`) on file names; required with `baseDir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InlineInputSource {
    pub data: String,
}

/// One thing to read: a file, a URI, the inline text or a segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entity {
    File(PathBuf),
    Inline(String),
    Http {
        uri: String,
        source: HttpInputSource,
    },
    Segment {
        file: SegmentFile,
        source: DruidInputSource,
    },
}

impl Entity {
    /// The entity's size as stored, when known without reading it.
    pub(crate) fn size(&self) -> Option<u64> {
        match self {
            Entity::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Entity::Inline(data) => Some(data.len() as u64),
            Entity::Http { .. } | Entity::Segment { .. } => None,
        }
    }

    /// The name that decides compression (`.gz`), as Druid takes it from the file name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Entity::File(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
            Entity::Inline(_) | Entity::Segment { .. } => "",
            Entity::Http { uri, .. } => uri.split(['?', '#']).next().unwrap_or(uri),
        }
    }

    /// The URI Druid shows in parse errors (`Path: file:/data/x.json`); inline data has none.
    pub(crate) fn uri(&self) -> Option<String> {
        match self {
            Entity::File(path)
            | Entity::Segment {
                file: SegmentFile { path, .. },
                ..
            } => {
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                Some(format!("file:{}", absolute.display()))
            }
            Entity::Inline(_) => None,
            Entity::Http { uri, .. } => Some(uri.clone()),
        }
    }
}

impl InputSourceSpec {
    /// Reads an `inputSource` object as Druid does at submit; error paths are relative to it.
    pub fn from_json(
        v: &serde_json::Value,
        config: &InputSourceConfig,
    ) -> Result<InputSourceSpec, SpecError> {
        let obj = Obj::new(v, "an inputSource")?;
        match obj.type_name(None)? {
            "local" => {
                let base_dir: Option<PathBuf> = obj.typed("baseDir")?;
                let filter: Option<String> = obj.typed("filter")?;
                let files: Vec<PathBuf> = obj.typed("files")?.unwrap_or_default();
                if base_dir.is_some() && filter.is_none() {
                    return Err(SpecError::new(
                        "filter",
                        "A [filter] is required with [baseDir], such as \"*\" for every file",
                    ));
                }
                if base_dir.is_none() && files.is_empty() {
                    return Err(SpecError::new(
                        "baseDir",
                        "At least one of baseDir or files should be specified",
                    ));
                }
                Ok(InputSourceSpec::Local(LocalInputSource {
                    base_dir,
                    filter,
                    files,
                }))
            }
            "inline" => {
                let data = obj.string("data")?.unwrap_or_default();
                if data.is_empty() {
                    return Err(SpecError::new("data", "empty data"));
                }
                Ok(InputSourceSpec::Inline(InlineInputSource {
                    data: data.to_string(),
                }))
            }
            "http" => {
                let uris: Vec<String> = obj.typed("uris")?.unwrap_or_default();
                if uris.is_empty() {
                    return Err(SpecError::new("uris", "Empty URIs"));
                }
                for (i, uri) in uris.iter().enumerate() {
                    let scheme = uri
                        .split_once(':')
                        .map(|(s, _)| s.to_ascii_lowercase())
                        .unwrap_or_default();
                    if !config.allowed_protocols.contains(&scheme) {
                        return Err(SpecError::new(
                            format!("uris[{i}]"),
                            format!(
                                "Only {:?} protocols are allowed",
                                config.allowed_protocols
                            ),
                        ));
                    }
                }
                let request_headers: BTreeMap<String, String> =
                    obj.typed("requestHeaders")?.unwrap_or_default();
                if let Some(header) = request_headers
                    .keys()
                    .find(|h| !config.allowed_headers.contains(&h.to_ascii_lowercase()))
                {
                    return Err(SpecError::new(
                        "requestHeaders",
                        format!(
                            "Got forbidden header [{header}], allowed headers are only {:?}. You can control the allowed headers by updating druid.ingestion.http.allowedHeaders",
                            config.allowed_headers
                        ),
                    ));
                }
                let password = obj
                    .get("httpAuthenticationPassword")
                    .map(PasswordProvider::from_json)
                    .transpose()
                    .map_err(|e| within(e, "httpAuthenticationPassword"))?;
                Ok(InputSourceSpec::Http(HttpInputSource {
                    uris,
                    http_authentication_username: obj
                        .string("httpAuthenticationUsername")?
                        .map(str::to_string),
                    http_authentication_password: password,
                    request_headers,
                }))
            }
            "druid" => {
                let data_source = obj
                    .string("dataSource")?
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| SpecError::new("dataSource", "dataSource must not be null"))?;
                let interval = obj
                    .string("interval")?
                    .ok_or_else(|| SpecError::new("interval", "interval must not be null"))?;
                let interval = interval
                    .parse::<Interval>()
                    .map_err(|e| SpecError::new("interval", e.to_string()))?;
                if obj.get("filter").is_some_and(|f| !f.is_null()) {
                    return Err(SpecError::new(
                        "filter",
                        "A [filter] on the druid input source is not supported by Steward yet; filter rows with [transformSpec.filter] instead",
                    ));
                }
                Ok(InputSourceSpec::Druid(DruidInputSource {
                    data_source: data_source.to_string(),
                    interval,
                    dimensions: obj.typed("dimensions")?,
                    metrics: obj.typed("metrics")?,
                    segments: obj.typed("segments")?,
                    files: None,
                }))
            }
            other => Err(SpecError::new(
                "type",
                format!(
                    "Input source type [{other}] is not supported yet; supported types are [local, inline, http, druid]"
                ),
            )),
        }
    }

    /// The entities to read, in order. Listing a directory happens here, at read time.
    pub(crate) fn entities(&self) -> Result<Vec<Entity>, InputError> {
        Ok(match self {
            InputSourceSpec::Local(local) => local
                .files_with_sizes()?
                .into_iter()
                .map(|(path, _)| Entity::File(path))
                .collect(),
            InputSourceSpec::Inline(inline) => vec![Entity::Inline(inline.data.clone())],
            InputSourceSpec::Http(http) => http
                .uris
                .iter()
                .map(|uri| Entity::Http {
                    uri: uri.clone(),
                    source: http.clone(),
                })
                .collect(),
            InputSourceSpec::Druid(druid) => druid
                .files
                .as_ref()
                .ok_or_else(|| {
                    InputError::new(format!(
                        "The segments of [{}] in [{}] were not looked up before reading",
                        druid.data_source, druid.interval
                    ))
                })?
                .iter()
                .map(|file| Entity::Segment {
                    file: file.clone(),
                    source: druid.clone(),
                })
                .collect(),
        })
    }

    /// Whether the source splits among sub-tasks (Druid's `SplittableInputSource`): inline
    /// data does not, so an `index_parallel` task reading it runs in one peon.
    pub fn is_splittable(&self) -> bool {
        !matches!(self, InputSourceSpec::Inline(_))
    }

    /// Splits for an `index_parallel` task's sub-tasks, each a source of the same type.
    pub fn splits(&self, hint: &SplitHintSpec) -> Result<Vec<InputSourceSpec>, InputError> {
        Ok(match self {
            InputSourceSpec::Local(local) => {
                let (max_bytes, max_files) =
                    match hint {
                        SplitHintSpec::MaxSize {
                            max_split_size,
                            max_num_files,
                        } => (*max_split_size, *max_num_files),
                        SplitHintSpec::Segments { .. } => return Err(InputError::new(
                            "The [segments] splitHintSpec applies to the druid input source only",
                        )),
                    };
                group_by_size(local.files_with_sizes()?, max_bytes, max_files)
                    .into_iter()
                    .map(|files| {
                        InputSourceSpec::Local(LocalInputSource {
                            base_dir: None,
                            filter: None,
                            files,
                        })
                    })
                    .collect()
            }
            InputSourceSpec::Inline(_) => vec![self.clone()],
            InputSourceSpec::Druid(_) => {
                return Err(InputError::new(
                    "The druid input source splits by its segments, which must be looked up first",
                ))
            }
            InputSourceSpec::Http(http) => http
                .uris
                .iter()
                .map(|uri| {
                    InputSourceSpec::Http(HttpInputSource {
                        uris: vec![uri.clone()],
                        ..http.clone()
                    })
                })
                .collect(),
        })
    }
}

/// `from` without `cover`: nothing, one interval, or the two parts on either side.
fn subtract(from: Interval, cover: &Interval) -> Vec<Interval> {
    if !from.overlaps(cover) {
        return vec![from];
    }
    [
        Interval::new(from.start, cover.start.max(from.start)),
        Interval::new(cover.end.min(from.end), from.end),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect()
}

/// Druid's `MaxSizeSplitHintSpec.split`: fill a split while it stays under both limits; a
/// file larger than the limit gets a split of its own.
fn group_by_size<T>(files: Vec<(T, u64)>, max_bytes: u64, max_files: u32) -> Vec<Vec<T>> {
    let mut splits = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut size = 0u64;
    for (path, length) in files {
        let fits = size.saturating_add(length) < max_bytes && current.len() < max_files as usize;
        if !current.is_empty() && !fits {
            splits.push(std::mem::take(&mut current));
            size = 0;
        }
        size = size.saturating_add(length);
        current.push(path);
        if size >= max_bytes {
            splits.push(std::mem::take(&mut current));
            size = 0;
        }
    }
    if !current.is_empty() {
        splits.push(current);
    }
    splits
}

impl LocalInputSource {
    /// The files to read with their lengths: the matches under `baseDir` (sorted by path), then
    /// `files`, skipping empty files as Druid does and listed files the directory also holds.
    fn files_with_sizes(&self) -> Result<Vec<(PathBuf, u64)>, InputError> {
        let mut out = Vec::new();
        if let (Some(base), Some(filter)) = (&self.base_dir, &self.filter) {
            let listed: HashSet<&std::ffi::OsStr> =
                self.files.iter().filter_map(|f| f.file_name()).collect();
            let mut found = Vec::new();
            let mut visited = HashSet::new();
            walk(base, filter, &listed, &mut visited, &mut found)?;
            found.sort();
            out.extend(found);
        }
        for file in &self.files {
            let length = fs::metadata(file)
                .map_err(|e| {
                    InputError::new(format!("Cannot read file [{}]: {e}", file.display()))
                })?
                .len();
            out.push((file.clone(), length));
        }
        out.retain(|(_, length)| *length > 0);
        Ok(out)
    }
}

/// Recursive listing (Commons IO's `iterateFiles` with a wildcard on names); a directory
/// reached twice through links is read once.
fn walk(
    dir: &Path,
    filter: &str,
    listed: &HashSet<&std::ffi::OsStr>,
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<(PathBuf, u64)>,
) -> Result<(), InputError> {
    let not_a_dir = |e: std::io::Error| {
        InputError::new(format!(
            "baseDir [{}] is not a readable directory: {e}",
            dir.display()
        ))
    };
    let canonical = fs::canonicalize(dir).map_err(not_a_dir)?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(not_a_dir)? {
        let entry = entry.map_err(not_a_dir)?;
        let path = entry.path();
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, filter, listed, visited, out)?;
        } else {
            let name = entry.file_name();
            if !listed.contains(name.as_os_str())
                && name.to_str().is_some_and(|n| wildcard_match(filter, n))
            {
                out.push((path, meta.len()));
            }
        }
    }
    Ok(())
}

/// `*` matches any run of characters, `?` one character; case-sensitive.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<InputSourceSpec, SpecError> {
        InputSourceSpec::from_json(&v, &InputSourceConfig::default())
    }

    #[test]
    fn wildcards_match_names_like_commons_io() {
        assert!(wildcard_match(
            "*.json.gz",
            "wikiticker-2015-09-12-sampled.json.gz"
        ));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a?c*", "abcdef"));
        assert!(wildcard_match("*a*b", "xxaxxb"));
        assert!(!wildcard_match("*.json", "x.json.gz"));
        assert!(!wildcard_match("A*", "abc"));
    }

    #[test]
    fn submit_time_checks_name_the_field() {
        for (spec, path, message) in [
            (
                json!({"type": "local", "baseDir": "/x"}),
                "filter",
                "A [filter] is required",
            ),
            (
                json!({"type": "local"}),
                "baseDir",
                "At least one of baseDir or files",
            ),
            (
                json!({"type": "local", "files": "a"}),
                "files",
                "invalid type",
            ),
            (json!({"type": "inline", "data": ""}), "data", "empty data"),
            (json!({"type": "http", "uris": []}), "uris", "Empty URIs"),
            (
                json!({"type": "http", "uris": ["http://a/x", "file:///etc/passwd"]}),
                "uris[1]",
                "Only [\"http\", \"https\"] protocols are allowed",
            ),
            (
                json!({"type": "http", "uris": ["http://a"], "requestHeaders": {"X-A": "1"}}),
                "requestHeaders",
                "Got forbidden header [X-A]",
            ),
            (
                json!({"type": "http", "uris": ["http://a"], "httpAuthenticationPassword": {"type": "environment"}}),
                "httpAuthenticationPassword.variable",
                "Missing [variable]",
            ),
            (
                json!({"type": "druid", "interval": "2015-09-12/2015-09-13"}),
                "dataSource",
                "dataSource must not be null",
            ),
            (
                json!({"type": "druid", "dataSource": "wiki"}),
                "interval",
                "interval must not be null",
            ),
            (
                json!({"type": "druid", "dataSource": "wiki", "interval": "yesterday"}),
                "interval",
                "yesterday",
            ),
            (
                json!({"type": "druid", "dataSource": "wiki", "interval": "2015-09-12/2015-09-13",
                       "filter": {"type": "selector", "dimension": "page", "value": "x"}}),
                "filter",
                "filter rows with [transformSpec.filter]",
            ),
            (
                json!({"type": "s3"}),
                "type",
                "Input source type [s3] is not supported yet",
            ),
            (json!({}), "type", "Missing type id"),
        ] {
            let err = parse(spec.clone()).unwrap_err();
            assert_eq!(err.path, path, "{spec}");
            assert!(err.message.contains(message), "{spec}: {}", err.message);
        }
    }

    #[test]
    fn sources_serialize_back_to_druids_json() {
        let spec = json!({"type": "http", "uris": ["https://example.com/a.json"],
            "httpAuthenticationUsername": "u",
            "httpAuthenticationPassword": {"type": "environment", "variable": "PW"}});
        assert_eq!(
            serde_json::to_value(parse(spec.clone()).unwrap()).unwrap(),
            spec
        );
        let local = json!({"type": "local", "baseDir": "/data", "filter": "*.json"});
        assert_eq!(
            serde_json::to_value(parse(local.clone()).unwrap()).unwrap(),
            local
        );
        let druid = json!({"type": "druid", "dataSource": "wiki",
            "interval": "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z",
            "dimensions": ["page"], "metrics": ["count"]});
        assert_eq!(
            serde_json::to_value(parse(druid.clone()).unwrap()).unwrap(),
            druid
        );
    }

    // Druid's DruidInputSource.createSplits: segments grouped by bytes and count, each split
    // naming its segments and the part of each within the interval.
    #[test]
    fn druid_sources_split_by_their_segments() {
        let InputSourceSpec::Druid(source) = parse(json!({"type": "druid", "dataSource": "wiki",
            "interval": "2015-09-12T12:00:00Z/2015-09-14"}))
        .unwrap() else {
            panic!("a druid source")
        };
        assert!(InputSourceSpec::Druid(source.clone()).is_splittable());
        assert!(InputSourceSpec::Druid(source.clone())
            .splits(&SplitHintSpec::default())
            .is_err());
        let segment = |day: &str, partition: u32, size: u64| -> DataSegment {
            serde_json::from_value(json!({"dataSource": "wiki",
                "interval": format!("2015-09-{day}T00:00:00.000Z/2015-09-{}T00:00:00.000Z",
                    day.parse::<u32>().unwrap() + 1),
                "version": "v1", "loadSpec": {}, "dimensions": "", "metrics": "",
                "shardSpec": {"type": "numbered", "partitionNum": partition, "partitions": 0},
                "binaryVersion": 9, "size": size}))
            .unwrap()
        };
        let segments = [
            segment("12", 0, 60),
            segment("12", 1, 60),
            segment("13", 0, 10),
        ];
        let hint = SplitHintSpec::Segments {
            max_input_segment_bytes_per_task: 100,
            max_num_segments: 1000,
        };
        let visible = source.visible(segments.to_vec());
        let splits: Vec<serde_json::Value> = source
            .split_segments(&visible, &hint)
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        assert_eq!(splits.len(), 2, "{splits:?}");
        assert_eq!(
            splits[0]["segments"],
            json!([{"segmentId": segments[0].id().to_string(),
                    "intervals": ["2015-09-12T12:00:00.000Z/2015-09-13T00:00:00.000Z"]}])
        );
        let second: Vec<&str> = splits[1]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["segmentId"].as_str().unwrap())
            .collect();
        assert_eq!(
            second,
            [segments[1].id().to_string(), segments[2].id().to_string()]
        );
        assert_eq!(splits[1]["interval"], splits[0]["interval"]);
        // A split reads back as a source that names its segments.
        let InputSourceSpec::Druid(back) = parse(splits[1].clone()).unwrap() else {
            panic!("a druid source")
        };
        assert_eq!(back.segments.unwrap().len(), 2);

        // Druid's timeline: a newer version shows where it covers, an older one elsewhere,
        // and a segment covered whole shows nowhere.
        let mut newer = segment("12", 0, 1);
        newer.interval = "2015-09-12T15:00:00Z/2015-09-12T16:00:00Z".parse().unwrap();
        newer.version = "v2".into();
        let mut covered = segment("12", 0, 1);
        covered.interval = newer.interval;
        covered.version = "v0".into();
        let windows: Vec<(String, Vec<String>)> = source
            .visible(vec![segments[0].clone(), newer.clone(), covered])
            .into_iter()
            .map(|(s, w)| (s.version, w.iter().map(|i| i.to_string()).collect()))
            .collect();
        assert_eq!(
            windows,
            [
                (
                    "v1".to_string(),
                    vec![
                        "2015-09-12T12:00:00.000Z/2015-09-12T15:00:00.000Z".to_string(),
                        "2015-09-12T16:00:00.000Z/2015-09-13T00:00:00.000Z".to_string()
                    ]
                ),
                (
                    "v2".to_string(),
                    vec!["2015-09-12T15:00:00.000Z/2015-09-12T16:00:00.000Z".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn local_splits_follow_max_size_and_max_num_files() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        for (name, size) in [
            ("a.json", 10),
            ("b.json", 10),
            ("c.json", 30),
            ("empty.json", 0),
        ] {
            fs::write(dir.path().join(name), vec![b'x'; size]).unwrap();
        }
        fs::write(sub.join("d.json"), b"xxxxx").unwrap();
        fs::write(sub.join("skip.csv"), b"xxxxx").unwrap();
        let source =
            parse(json!({"type": "local", "baseDir": dir.path(), "filter": "*.json"})).unwrap();
        let names = |splits: Vec<InputSourceSpec>| -> Vec<Vec<String>> {
            splits
                .into_iter()
                .map(|s| match s {
                    InputSourceSpec::Local(l) => {
                        assert!(l.base_dir.is_none() && l.filter.is_none());
                        l.files
                            .iter()
                            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
                            .collect()
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let hint = |bytes, files| SplitHintSpec::MaxSize {
            max_split_size: bytes,
            max_num_files: files,
        };
        // Recursive, sorted, empty files skipped.
        assert_eq!(
            names(source.splits(&SplitHintSpec::default()).unwrap()),
            vec![vec!["a.json", "b.json", "c.json", "d.json"]]
        );
        assert_eq!(
            names(source.splits(&hint(25, 1000)).unwrap()),
            vec![vec!["a.json", "b.json"], vec!["c.json"], vec!["d.json"]]
        );
        assert_eq!(names(source.splits(&hint(1 << 30, 3)).unwrap()).len(), 2);
        // A split is itself a valid source.
        let split = source.splits(&hint(25, 1000)).unwrap().remove(1);
        let json = serde_json::to_value(&split).unwrap();
        assert_eq!(parse(json).unwrap(), split);
    }

    #[test]
    fn http_splits_one_uri_each_and_inline_stays_whole() {
        let http = parse(json!({"type": "http", "uris": ["http://a/1", "http://a/2"]})).unwrap();
        let splits = http.splits(&SplitHintSpec::default()).unwrap();
        assert_eq!(splits.len(), 2);
        assert_eq!(
            serde_json::to_value(&splits[1]).unwrap(),
            json!({"type": "http", "uris": ["http://a/2"]})
        );
        let inline = parse(json!({"type": "inline", "data": "x"})).unwrap();
        assert_eq!(
            inline.splits(&SplitHintSpec::default()).unwrap(),
            vec![inline]
        );
    }

    #[test]
    fn a_missing_base_dir_is_an_error_at_read_time() {
        let source =
            parse(json!({"type": "local", "baseDir": "/no/such/dir", "filter": "*"})).unwrap();
        let err = source.entities().unwrap_err();
        assert!(err.to_string().contains("baseDir [/no/such/dir]"), "{err}");
    }
}
