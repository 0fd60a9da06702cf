//! Why a submitted task is refused: one type for every parser of a task's parts (the envelope
//! in `task`, the batch ingestion facts in `ingest`), so neither depends on the other for it.

/// Why a submitted task was refused; the text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The JSON does not describe a task (Druid answers these as Jackson mapping errors).
    #[error("{0}")]
    Mapping(String),
    /// The task is well-formed but violates a rule (invalid id, ...).
    #[error("{0}")]
    Invalid(String),
}
