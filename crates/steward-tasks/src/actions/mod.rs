//! The task-action client: how a peon asks the Overlord for locks, segment ids and metadata
//! changes (Druid's `RemoteTaskActionClient`).
//!
//! Every action is a `POST /druid/indexer/v1/action` to the leading Overlord with Druid's
//! envelope `{"task": <task JSON>, "action": {"type": ..., ...}}`, answered `{"result": ...}`.
//! The peon does not know which Overlord leads, and leadership may move while a task runs, so
//! the client asks the Overlords it was given who leads (`GET /druid/indexer/v1/leader`), sends
//! there, follows a standby's redirect, and on a failure that another try may cure (no
//! connection, 500, 502, 503, 504) waits and asks again, with Druid's retry policy. Anything
//! else the Overlord refuses is the task's problem and comes back at once.
//!
//! The actions and what some of them answer are defined with Druid's JSON in
//! `steward_model::action`, shared with the Overlord's endpoint; `client` holds
//! [`TaskActionClient`], [`OverlordLocator`] and [`ActionError`].

mod client;

pub(crate) use client::error_chain;
pub use client::{ActionError, OverlordLocator, TaskActionClient};
pub use steward_model::action::{SegmentAllocate, SegmentPublishResult, TaskAction, Visibility};
pub use steward_model::SegmentIdWithShardSpec;
