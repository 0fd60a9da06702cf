//! Druid's `DataSegment` and `SegmentId`: the JSON that `druid_segments.payload`, the publish
//! actions and the Coordinator's metadata API carry, written exactly as Druid writes it
//! (`dimensions` and `metrics` comma-joined, a read-only `identifier`), so Druid's Coordinator
//! and Historicals read what Steward publishes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::interval::Interval;
use crate::time::{format_ts, parse_instant};

/// The segment format version Druid writes (`IndexIO.V9_VERSION`).
pub const BINARY_VERSION_V9: i32 = 9;

/// Druid's `DataSegment.TOMBSTONE_LOADSPEC_TYPE`: a load spec naming no files.
pub const TOMBSTONE_LOAD_SPEC_TYPE: &str = "tombstone";

/// Druid's `ShardSpec`: where a segment sits among the partitions of its time chunk. The kinds
/// Steward writes are typed; any other is kept as read, so a row written by Druid survives a
/// round trip through Steward unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardSpec {
    /// `numbered`: partition `partition_num` of a chunk whose first `partitions` ("core")
    /// partitions must all be loaded before the chunk is queried.
    Numbered { partition_num: u32, partitions: u32 },
    /// `linear`: partitions with no core set.
    Linear { partition_num: u32 },
    /// `none`: the only segment of its chunk.
    None,
    /// `hashed`: a numbered partition holding one hash bucket of its chunk.
    Hashed(HashedShardSpec),
    /// `tombstone`: no rows, no files; overshadows older segments of its interval. Partition 0
    /// of no core set, so segments appended later stand without it.
    Tombstone,
    /// Any other kind, as read.
    Other(Map<String, Value>),
}

/// Druid's `HashBasedNumberedShardSpec`: the rows of a chunk whose group key hashes to
/// `bucket_id` among `num_buckets`. Brokers prune on it when `partition_dimensions` are named
/// and the function is known, so both must say exactly how the rows were bucketed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedShardSpec {
    pub partition_num: u32,
    /// The chunk's core partition count: its non-empty buckets.
    pub partitions: u32,
    pub bucket_id: u32,
    pub num_buckets: u32,
    /// Empty: the group key is the truncated time and every dimension.
    pub partition_dimensions: Vec<String>,
    /// `None` for segments of Druid versions before the function was recorded: never pruned.
    pub partition_function: Option<HashPartitionFunction>,
}

/// Druid's `HashPartitionFunction`, by its JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashPartitionFunction {
    /// `abs(murmur3_32(key) % buckets)`, Java's signed remainder.
    #[serde(rename = "murmur3_32_abs", alias = "MURMUR3_32_ABS")]
    Murmur3_32Abs,
}

impl ShardSpec {
    pub fn partition_num(&self) -> u32 {
        match self {
            ShardSpec::Numbered { partition_num, .. } | ShardSpec::Linear { partition_num } => {
                *partition_num
            }
            ShardSpec::Hashed(h) => h.partition_num,
            ShardSpec::None | ShardSpec::Tombstone => 0,
            ShardSpec::Other(m) => m
                .get("partitionNum")
                .or_else(|| m.get("partitionId"))
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        }
    }

    /// Druid's `getNumCorePartitions`: how many partitions form the chunk's core set. `None`
    /// when the shard spec says it does not know (`-1`, written by Druid's older range
    /// partitioning), which makes appending to its chunk impossible.
    pub fn core_partitions(&self) -> Option<u32> {
        match self {
            ShardSpec::Numbered { partitions, .. } => Some(*partitions),
            ShardSpec::Hashed(h) => Some(h.partitions),
            ShardSpec::Linear { .. } | ShardSpec::None | ShardSpec::Tombstone => Some(0),
            // `single` and `range` say `numCorePartitions`; `hashed` of old Druid versions
            // (read as other kinds) `partitions`; the others have no core set.
            ShardSpec::Other(m) => match m.get("partitions").or_else(|| m.get("numCorePartitions"))
            {
                Some(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                None => Some(0),
            },
        }
    }

    /// Druid's `sharePartitionSpace` for a root-generation request (numbered or linear): every
    /// kind but `numbered_overwrite`, whose partition ids are counted apart (segment locks).
    pub fn shares_root_partition_space(&self) -> bool {
        self.type_name() != "numbered_overwrite"
    }

    /// The JSON `type`.
    pub fn type_name(&self) -> &str {
        match self {
            ShardSpec::Numbered { .. } => "numbered",
            ShardSpec::Linear { .. } => "linear",
            ShardSpec::None => "none",
            ShardSpec::Hashed(_) => "hashed",
            ShardSpec::Tombstone => "tombstone",
            ShardSpec::Other(m) => m.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            ShardSpec::Numbered {
                partition_num,
                partitions,
            } => {
                m.insert("type".into(), "numbered".into());
                m.insert("partitionNum".into(), (*partition_num).into());
                m.insert("partitions".into(), (*partitions).into());
            }
            ShardSpec::Linear { partition_num } => {
                m.insert("type".into(), "linear".into());
                m.insert("partitionNum".into(), (*partition_num).into());
            }
            ShardSpec::None => {
                m.insert("type".into(), "none".into());
            }
            ShardSpec::Hashed(h) => {
                m.insert("type".into(), "hashed".into());
                m.insert("partitionNum".into(), h.partition_num.into());
                m.insert("partitions".into(), h.partitions.into());
                m.insert("bucketId".into(), h.bucket_id.into());
                m.insert("numBuckets".into(), h.num_buckets.into());
                m.insert(
                    "partitionDimensions".into(),
                    h.partition_dimensions.clone().into(),
                );
                m.insert(
                    "partitionFunction".into(),
                    serde_json::to_value(h.partition_function).expect("a name serializes"),
                );
            }
            ShardSpec::Tombstone => {
                m.insert("type".into(), "tombstone".into());
                m.insert("partitionNum".into(), 0.into());
                m.insert("partitions".into(), 0.into());
            }
            ShardSpec::Other(o) => m = o.clone(),
        }
        m
    }

    fn from_map(m: Map<String, Value>) -> Result<ShardSpec, String> {
        let num = |key: &str| -> Result<u32, String> {
            m.get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("shardSpec field [{key}] must be a non-negative integer"))
        };
        match m.get("type").and_then(Value::as_str) {
            Some("numbered") => Ok(ShardSpec::Numbered {
                partition_num: num("partitionNum")?,
                partitions: num("partitions")?,
            }),
            Some("linear") => Ok(ShardSpec::Linear {
                partition_num: num("partitionNum")?,
            }),
            Some("none") => Ok(ShardSpec::None),
            Some("tombstone") => Ok(ShardSpec::Tombstone),
            Some("hashed") => Ok(match HashedShardSpec::from_map(&m) {
                Some(h) => ShardSpec::Hashed(h),
                None => ShardSpec::Other(m),
            }),
            Some(_) => Ok(ShardSpec::Other(m)),
            None => Err("shardSpec has no [type]".to_string()),
        }
    }
}

impl HashedShardSpec {
    /// The typed form of a `hashed` shard spec that has every field Druid writes today; older
    /// forms (no bucket fields, no function) stay as read.
    fn from_map(m: &Map<String, Value>) -> Option<HashedShardSpec> {
        let num = |key: &str| {
            m.get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        let partition_dimensions = m
            .get("partitionDimensions")?
            .as_array()?
            .iter()
            .map(|d| d.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()?;
        let partition_function =
            serde_json::from_value(m.get("partitionFunction")?.clone()).ok()?;
        Some(HashedShardSpec {
            partition_num: num("partitionNum")?,
            partitions: num("partitions")?,
            bucket_id: num("bucketId")?,
            num_buckets: num("numBuckets")?,
            partition_dimensions,
            partition_function,
        })
    }
}

impl Serialize for ShardSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ShardSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ShardSpec, D::Error> {
        ShardSpec::from_map(Map::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Druid's `PartialShardSpec` of a segment allocation: the kind of shard spec the new segment
/// gets, completed with its partition number and core partition count once they are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartialShardSpec {
    /// `numbered`, Druid's default.
    #[default]
    Numbered,
    /// `linear`.
    Linear,
}

impl PartialShardSpec {
    /// Druid's `PartialShardSpec.complete`.
    pub fn complete(self, partition_num: u32, core_partitions: u32) -> ShardSpec {
        match self {
            PartialShardSpec::Numbered => ShardSpec::Numbered {
                partition_num,
                partitions: core_partitions,
            },
            PartialShardSpec::Linear => ShardSpec::Linear { partition_num },
        }
    }
}

/// Druid's `SegmentIdWithShardSpec`: an allocated (pending) segment, as the allocation action
/// answers it and `<base>_pendingSegments.payload` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentIdWithShardSpec {
    pub data_source: String,
    pub interval: Interval,
    pub version: String,
    pub shard_spec: ShardSpec,
}

impl SegmentIdWithShardSpec {
    pub fn id(&self) -> SegmentId {
        SegmentId {
            data_source: self.data_source.clone(),
            interval: self.interval,
            version: self.version.clone(),
            partition_num: self.shard_spec.partition_num(),
        }
    }
}

/// Druid's `SegmentId`: `<dataSource>_<start>_<end>_<version>[_<partitionNum>]`, the partition
/// number written only when it is not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId {
    pub data_source: String,
    pub interval: Interval,
    pub version: String,
    pub partition_num: u32,
}

impl SegmentId {
    /// Druid's `SegmentId.tryParse`: reads `id` as a segment id of `data_source`, or `None`.
    /// A last part of digits after the version is read as the partition number when it is
    /// positive, as Druid prefers; read the other way (partition 0, the digits part of the
    /// version) the id prints the same, so either reading names the same stored row.
    pub fn try_parse(data_source: &str, id: &str) -> Option<SegmentId> {
        let rest = id.strip_prefix(data_source)?.strip_prefix('_')?;
        let parts: Vec<&str> = rest.split('_').collect();
        let [start, end, version @ ..] = parts.as_slice() else {
            return None;
        };
        let (start, end) = (parse_instant(start).ok()?, parse_instant(end).ok()?);
        if start >= end {
            return None;
        }
        // Guava's `Ints.tryParse`: digits, within an int.
        let partition = match version {
            [version @ .., last]
                if !version.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) =>
            {
                last.parse::<i32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(|n| (version, n.unsigned_abs()))
            }
            _ => None,
        };
        let (version, partition_num) = partition.unwrap_or((version, 0));
        let version = version.join("_");
        // Druid would read an empty version; no segment has one.
        (!version.is_empty()).then(|| SegmentId {
            data_source: data_source.to_string(),
            interval: Interval::new(start, end),
            version,
            partition_num,
        })
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}",
            self.data_source,
            format_ts(self.interval.start),
            format_ts(self.interval.end),
            self.version
        )?;
        if self.partition_num != 0 {
            write!(f, "_{}", self.partition_num)?;
        }
        Ok(())
    }
}

/// Druid's `DataSegment`: a published segment's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSegment {
    pub data_source: String,
    pub interval: Interval,
    pub version: String,
    /// Where deep storage keeps the files (`{"type":"local","path":...}`).
    pub load_spec: Map<String, Value>,
    pub dimensions: Vec<String>,
    pub metrics: Vec<String>,
    pub shard_spec: ShardSpec,
    /// Kept as read; Steward writes none.
    pub last_compaction_state: Option<Value>,
    pub binary_version: Option<i32>,
    /// Bytes of the segment's files.
    pub size: u64,
}

impl DataSegment {
    pub fn id(&self) -> SegmentId {
        SegmentId {
            data_source: self.data_source.clone(),
            interval: self.interval,
            version: self.version.clone(),
            partition_num: self.shard_spec.partition_num(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a DataSegment serializes")
    }

    /// Druid's `TombstoneHelper.createTombstoneForTimeChunkInterval`: a segment of no rows
    /// and no files that hides the older segments of `interval` (`size` 1, as Druid writes,
    /// so the Coordinator's balancing does not choke on a zero; no binary version).
    pub fn tombstone(data_source: &str, interval: Interval, version: &str) -> DataSegment {
        // In the order Druid's `HashMap` writes the two keys.
        let mut load_spec = Map::new();
        load_spec.insert("path".into(), Value::Null);
        load_spec.insert("type".into(), TOMBSTONE_LOAD_SPEC_TYPE.into());
        DataSegment {
            data_source: data_source.to_string(),
            interval,
            version: version.to_string(),
            load_spec,
            dimensions: Vec::new(),
            metrics: Vec::new(),
            shard_spec: ShardSpec::Tombstone,
            last_compaction_state: None,
            binary_version: None,
            size: 1,
        }
    }

    /// Druid's `isTombstone`: by the shard spec.
    pub fn is_tombstone(&self) -> bool {
        self.shard_spec == ShardSpec::Tombstone
    }
}

/// The wire shape, in Druid's property order.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    data_source: String,
    interval: Interval,
    version: String,
    #[serde(default)]
    load_spec: Option<Map<String, Value>>,
    #[serde(default, with = "comma_list")]
    dimensions: Vec<String>,
    #[serde(default, with = "comma_list")]
    metrics: Vec<String>,
    shard_spec: Option<ShardSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_compaction_state: Option<Value>,
    #[serde(default)]
    binary_version: Option<i32>,
    size: u64,
    #[serde(default, skip_deserializing)]
    identifier: String,
}

impl Serialize for DataSegment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            data_source: self.data_source.clone(),
            interval: self.interval,
            version: self.version.clone(),
            load_spec: Some(self.load_spec.clone()),
            dimensions: self.dimensions.clone(),
            metrics: self.metrics.clone(),
            shard_spec: Some(self.shard_spec.clone()),
            last_compaction_state: self.last_compaction_state.clone(),
            binary_version: self.binary_version,
            size: self.size,
            identifier: self.id().to_string(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for DataSegment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DataSegment, D::Error> {
        let w = Wire::deserialize(d)?;
        Ok(DataSegment {
            data_source: w.data_source,
            interval: w.interval,
            version: w.version,
            load_spec: w.load_spec.unwrap_or_default(),
            dimensions: w.dimensions,
            metrics: w.metrics,
            // Druid reads a missing shard spec as `none`.
            shard_spec: w.shard_spec.unwrap_or(ShardSpec::None),
            last_compaction_state: w.last_compaction_state,
            binary_version: w.binary_version,
            size: w.size,
        })
    }
}

/// Druid's `CommaListJoinSerializer`/`Deserializer`: a list written as one comma-joined string;
/// read from a string or, as older writers did, a list.
mod comma_list {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.join(","))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) if s.is_empty() => Ok(Vec::new()),
            Value::String(s) => Ok(s.split(',').map(|p| p.trim().to_string()).collect()),
            Value::Array(a) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(serde::de::Error::custom(format!(
                        "expected a string in the list, got {other}"
                    ))),
                })
                .collect(),
            other => Err(serde::de::Error::custom(format!(
                "expected a comma-joined string, got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segment(partition_num: u32) -> DataSegment {
        DataSegment {
            data_source: "wikipedia".into(),
            interval: "2015-09-12/2015-09-13".parse().unwrap(),
            version: "2024-01-01T00:00:00.000Z".into(),
            load_spec: json!({"type":"local","path":"/seg/index/"})
                .as_object()
                .unwrap()
                .clone(),
            dimensions: vec!["channel".into(), "page".into()],
            metrics: vec!["count".into(), "added".into()],
            shard_spec: ShardSpec::Numbered {
                partition_num,
                partitions: 2,
            },
            last_compaction_state: None,
            binary_version: Some(BINARY_VERSION_V9),
            size: 4821,
        }
    }

    #[test]
    fn writes_druids_json_with_joined_lists_and_identifier() {
        let v = serde_json::to_value(segment(1)).unwrap();
        assert_eq!(
            v,
            json!({"dataSource":"wikipedia",
                "interval":"2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z",
                "version":"2024-01-01T00:00:00.000Z",
                "loadSpec":{"type":"local","path":"/seg/index/"},
                "dimensions":"channel,page","metrics":"count,added",
                "shardSpec":{"type":"numbered","partitionNum":1,"partitions":2},
                "binaryVersion":9,"size":4821,
                "identifier":"wikipedia_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_2024-01-01T00:00:00.000Z_1"})
        );
        let text = serde_json::to_string(&segment(1)).unwrap();
        assert!(text.starts_with("{\"dataSource\":\"wikipedia\",\"interval\":"));
        assert_eq!(
            serde_json::from_value::<DataSegment>(v).unwrap(),
            segment(1)
        );
    }

    #[test]
    fn partition_zero_is_left_out_of_the_id() {
        assert_eq!(
            segment(0).id().to_string(),
            "wikipedia_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_2024-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn segment_ids_parse_as_druid_reads_them() {
        let parse = |id: &str| SegmentId::try_parse("wiki_pedia", id);
        let with_partition = segment(3).id();
        let text = with_partition
            .to_string()
            .replace("wikipedia", "wiki_pedia");
        let parsed = parse(&text).unwrap();
        assert_eq!(
            (parsed.version.as_str(), parsed.partition_num),
            ("2024-01-01T00:00:00.000Z", 3)
        );
        assert_eq!(parsed.to_string(), text);
        // Partition 0 is not written; a version of several parts keeps its underscores.
        let id = "wiki_pedia_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v_1_0";
        let parsed = parse(id).unwrap();
        assert_eq!(
            (parsed.version.as_str(), parsed.partition_num),
            ("v_1_0", 0)
        );
        assert_eq!(parsed.to_string(), id);
        // Short forms of the instants are read, and printed in Druid's form.
        let parsed = parse("wiki_pedia_2015-09-12_2015-09-13_v").unwrap();
        assert_eq!(parsed.interval, "2015-09-12/2015-09-13".parse().unwrap());
        for bad in [
            "wiki_pedia",
            "wiki_pedia_2015-09-12_2015-09-13",
            "wiki_pedia_2015-09-12_2015-09-13_",
            "wiki_pedia_2015-09-12_2015-09-13__4",
            "wikipedia_2015-09-12_2015-09-13_v",
            "wiki_pedia_2015-09-13_2015-09-12_v",
            "wiki_pedia_2015-09-12_2015-09-12_v",
            "wiki_pedia_yesterday_2015-09-13_v",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        // Digits beyond an int, or signed, are part of the version.
        let big = parse("wiki_pedia_2015-09-12_2015-09-13_v_3000000000").unwrap();
        assert_eq!(
            (big.version.as_str(), big.partition_num),
            ("v_3000000000", 0)
        );
        assert_eq!(
            parse("wiki_pedia_2015-09-12_2015-09-13_v_+2")
                .unwrap()
                .partition_num,
            0
        );
    }

    #[test]
    fn reads_a_descriptor_druid_wrote_in_2015() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/druid/segments/hadoop-test-segment-2015/descriptor.json"
        ))
        .unwrap();
        let s: DataSegment = serde_json::from_str(&text).unwrap();
        assert_eq!(s.dimensions, vec!["host".to_string()]);
        assert_eq!(s.binary_version, Some(9));
        let back: DataSegment = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn allocated_ids_read_and_write_druids_json() {
        let druid = json!({"dataSource":"wikipedia",
            "interval":"2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z",
            "version":"2024-01-01T00:00:00.000Z",
            "shardSpec":{"type":"numbered","partitionNum":3,"partitions":2}});
        let id: SegmentIdWithShardSpec = serde_json::from_value(druid.clone()).unwrap();
        assert_eq!(
            id.shard_spec,
            PartialShardSpec::Numbered.complete(3, 2),
            "{id:?}"
        );
        assert_eq!(serde_json::to_value(&id).unwrap(), druid);
        assert_eq!(
            id.id().to_string(),
            "wikipedia_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_2024-01-01T00:00:00.000Z_3"
        );
        assert_eq!(
            PartialShardSpec::Linear.complete(4, 2),
            ShardSpec::Linear { partition_num: 4 }
        );
    }

    #[test]
    fn core_partitions_and_partition_space_follow_the_kind() {
        let other = |v: serde_json::Value| -> ShardSpec { serde_json::from_value(v).unwrap() };
        assert_eq!(segment(1).shard_spec.core_partitions(), Some(2));
        assert_eq!(
            ShardSpec::Linear { partition_num: 5 }.core_partitions(),
            Some(0)
        );
        let hashed = other(json!({"type":"hashed","partitionNum":1,"partitions":4}));
        assert_eq!(hashed.core_partitions(), Some(4));
        let range = other(json!({"type":"single","partitionNum":1,"numCorePartitions":-1}));
        assert_eq!(range.core_partitions(), None);
        let overwrite = other(json!({"type":"numbered_overwrite","partitionId":32768}));
        assert!(!overwrite.shares_root_partition_space());
        assert!(hashed.shares_root_partition_space());
    }

    #[test]
    fn unknown_shard_specs_are_kept_as_read() {
        let spec = json!({"type":"single","partitionNum":3,"dimension":"page","start":"a",
            "end":null,"numCorePartitions":4});
        let s: ShardSpec = serde_json::from_value(spec.clone()).unwrap();
        assert_eq!(s.partition_num(), 3);
        assert_eq!(s.type_name(), "single");
        assert_eq!(serde_json::to_value(&s).unwrap(), spec);
        assert!(serde_json::from_value::<ShardSpec>(json!({"partitionNum":1})).is_err());
    }

    // Mirrors Druid's HashBasedNumberedShardSpecTest serde tests: today's form is typed and
    // written back field for field in Druid's order; older forms stay as read.
    #[test]
    fn hashed_shard_specs_read_and_write_druids_json() {
        let text = r#"{"type":"hashed","partitionNum":1,"partitions":2,"bucketId":1,"numBuckets":3,"partitionDimensions":["visitor_id"],"partitionFunction":"murmur3_32_abs"}"#;
        let s: ShardSpec = serde_json::from_str(text).unwrap();
        let expected = HashedShardSpec {
            partition_num: 1,
            partitions: 2,
            bucket_id: 1,
            num_buckets: 3,
            partition_dimensions: vec!["visitor_id".into()],
            partition_function: Some(HashPartitionFunction::Murmur3_32Abs),
        };
        assert_eq!(s, ShardSpec::Hashed(expected.clone()));
        assert_eq!(serde_json::to_string(&s).unwrap(), text);
        assert_eq!((s.partition_num(), s.core_partitions()), (1, Some(2)));
        assert_eq!(s.type_name(), "hashed");
        // A function Druid did not record is written back as null.
        let unknown = r#"{"type":"hashed","partitionNum":0,"partitions":1,"bucketId":0,"numBuckets":1,"partitionDimensions":[],"partitionFunction":null}"#;
        let s: ShardSpec = serde_json::from_str(unknown).unwrap();
        assert!(matches!(&s, ShardSpec::Hashed(h) if h.partition_function.is_none()));
        assert_eq!(serde_json::to_string(&s).unwrap(), unknown);
        let old = json!({"type": "hashed", "partitions": 2, "partitionNum": 1});
        let s: ShardSpec = serde_json::from_value(old.clone()).unwrap();
        assert!(matches!(s, ShardSpec::Other(_)));
        assert_eq!((s.partition_num(), s.core_partitions()), (1, Some(2)));
        assert_eq!(serde_json::to_value(&s).unwrap(), old);
    }

    #[test]
    fn tombstones_are_druids() {
        let interval: Interval = "2015-09-13/2015-09-14".parse().unwrap();
        let t = DataSegment::tombstone("wiki", interval, "v2");
        assert!(t.is_tombstone());
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(
            text,
            r#"{"dataSource":"wiki","interval":"2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z","version":"v2","loadSpec":{"path":null,"type":"tombstone"},"dimensions":"","metrics":"","shardSpec":{"type":"tombstone","partitionNum":0,"partitions":0},"binaryVersion":null,"size":1,"identifier":"wiki_2015-09-13T00:00:00.000Z_2015-09-14T00:00:00.000Z_v2"}"#
        );
        assert_eq!(serde_json::from_str::<DataSegment>(&text).unwrap(), t);
        assert_eq!(t.shard_spec.core_partitions(), Some(0));
        assert!(!segment(0).is_tombstone());
    }
}
