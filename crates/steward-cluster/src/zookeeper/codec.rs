//! The bytes of each znode: what Steward writes and what it accepts from Druid.
//!
//! Druid gzips announcements by default (`druid.zk.service.compress`) and its readers fall back
//! to the raw bytes when decompression fails; Steward writes plain JSON and reads both.
//! Assignment znodes hold the plain task JSON, or, for a task over `maxZnodeBytes`, a small
//! reference to its payload on the Overlord (see the module doc of `zookeeper`).

use std::borrow::Cow;
use std::io::Read;

use serde::{Deserialize, Serialize};
use steward_model::{Task, TaskAnnouncement, Worker};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The data of a znode, gunzipped if it is gzip.
pub(crate) fn decompress(data: &[u8]) -> Cow<'_, [u8]> {
    if data.starts_with(&GZIP_MAGIC) {
        let mut plain = Vec::new();
        if flate2::read::GzDecoder::new(data)
            .read_to_end(&mut plain)
            .is_ok()
        {
            return Cow::Owned(plain);
        }
    }
    Cow::Borrowed(data)
}

pub(crate) fn parse_worker(data: &[u8]) -> Result<Worker, String> {
    serde_json::from_slice(&decompress(data)).map_err(|e| format!("not a Worker: {e}"))
}

pub(crate) fn parse_announcement(data: &[u8]) -> Result<TaskAnnouncement, String> {
    serde_json::from_slice(&decompress(data)).map_err(|e| format!("not a TaskAnnouncement: {e}"))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("model types serialise to JSON")
}

/// The data Druid's MiddleManager gives the per-worker parents `tasks/<worker>` and
/// `status/<worker>`.
pub(crate) fn parent_data() -> Vec<u8> {
    to_json(&serde_json::json!({ "created": steward_model::time::now_iso() }))
}

/// Where a worker fetches a task too large for its assignment znode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PayloadRef {
    pub task_id: String,
    pub url: String,
    pub bytes: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefEnvelope {
    #[serde(rename = "stewardPayloadRef")]
    payload_ref: PayloadRef,
}

/// What an assignment znode holds.
#[derive(Debug)]
pub(crate) enum Assignment {
    Inline(Task),
    Ref(PayloadRef),
}

/// The data of the assignment znode for `task`: the task itself if it fits in `max_bytes`,
/// else a reference to `<payload_url>/druid/indexer/v1/task/<id>`.
pub(crate) fn encode_assignment(
    task: &Task,
    max_bytes: usize,
    payload_url: Option<&str>,
) -> Result<Vec<u8>, String> {
    let json = task.to_bytes();
    if json.len() <= max_bytes {
        return Ok(json);
    }
    let Some(base) = payload_url else {
        return Err(format!(
            "task [{}] is {} bytes, over maxZnodeBytes [{max_bytes}], and no payload URL is \
             configured for workers to fetch it from",
            task.id(),
            json.len()
        ));
    };
    let mut url =
        reqwest::Url::parse(base).map_err(|e| format!("bad payload URL [{base}]: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("bad payload URL [{base}]"))?
        .pop_if_empty()
        .extend(["druid", "indexer", "v1", "task", task.id()]);
    Ok(to_json(&RefEnvelope {
        payload_ref: PayloadRef {
            task_id: task.id().to_string(),
            url: url.to_string(),
            bytes: json.len(),
        },
    }))
}

pub(crate) fn decode_assignment(data: &[u8]) -> Result<Assignment, String> {
    let value: serde_json::Value = serde_json::from_slice(&decompress(data))
        .map_err(|e| format!("assignment is not JSON: {e}"))?;
    if value.get("stewardPayloadRef").is_some() {
        let envelope: RefEnvelope =
            serde_json::from_value(value).map_err(|e| format!("bad payload reference: {e}"))?;
        return Ok(Assignment::Ref(envelope.payload_ref));
    }
    Task::from_json(value)
        .map(Assignment::Inline)
        .map_err(|e| format!("assignment is not a task: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn task(padding: usize) -> Task {
        Task::from_json(serde_json::json!({
            "type": "noop", "id": "t 1", "padding": "x".repeat(padding)
        }))
        .unwrap()
    }

    #[test]
    fn reads_plain_and_gzip() {
        let json = br#"{"host":"mm:8091","ip":"10.0.0.5","capacity":3,"version":"0"}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json).unwrap();
        let gz = gz.finish().unwrap();
        let plain = parse_worker(json).unwrap();
        assert_eq!(parse_worker(&gz).unwrap(), plain);
        assert_eq!(plain.scheme, "http");
        assert_eq!(plain.category, steward_model::DEFAULT_WORKER_CATEGORY);
        assert!(parse_worker(b"\x1f\x8bnot gzip").is_err());
    }

    #[test]
    fn small_tasks_inline_large_ones_by_reference() {
        let small = task(10);
        let bytes = encode_assignment(&small, 1024, None).unwrap();
        assert_eq!(bytes, small.to_bytes());
        assert!(matches!(decode_assignment(&bytes), Ok(Assignment::Inline(t)) if t == small));

        let large = task(2000);
        assert!(encode_assignment(&large, 1024, None).is_err());
        let bytes = encode_assignment(&large, 1024, Some("http://overlord:8090/")).unwrap();
        assert!(bytes.len() < 200);
        match decode_assignment(&bytes).unwrap() {
            Assignment::Ref(r) => {
                assert_eq!(r.task_id, "t 1");
                assert_eq!(r.url, "http://overlord:8090/druid/indexer/v1/task/t%201");
                assert_eq!(r.bytes, large.to_bytes().len());
            }
            other => panic!("expected a reference, got {other:?}"),
        }
    }
}
