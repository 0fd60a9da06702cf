//! Why a submitted task is refused: one type for every parser of a task's parts (the envelope
//! in `task`, the batch ingestion facts in `ingest`), so neither depends on the other for it.
//! A refusal about one field names it, so that a client (the web console's spec editor) can
//! point at it.

/// Why a submitted task was refused; the text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The JSON does not describe a task (Druid answers these as Jackson mapping errors).
    #[error("{0}")]
    Mapping(String),
    /// The task is well-formed but violates a rule (invalid id, ...).
    #[error("{0}")]
    Invalid(String),
    /// One of the above about one field, at `field`: its JSON path from the task's root
    /// (`spec.dataSchema.dataSource`, `context.priority`).
    #[error("{error}")]
    Field {
        field: String,
        error: Box<TaskError>,
    },
}

impl TaskError {
    /// A mapping error about the field at `field`.
    pub fn mapping_at(field: impl Into<String>, message: impl Into<String>) -> TaskError {
        TaskError::Mapping(message.into()).at(field)
    }

    /// A rule the field at `field` violates.
    pub fn invalid_at(field: impl Into<String>, message: impl Into<String>) -> TaskError {
        TaskError::Invalid(message.into()).at(field)
    }

    /// The same error, about the field at `field` (the innermost field named stays).
    pub fn at(self, field: impl Into<String>) -> TaskError {
        match self {
            TaskError::Field { .. } => self,
            error => TaskError::Field {
                field: field.into(),
                error: Box::new(error),
            },
        }
    }

    /// The field the error is about, if it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            TaskError::Field { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The error without its field: [`TaskError::Mapping`] or [`TaskError::Invalid`].
    pub fn without_field(self) -> TaskError {
        match self {
            TaskError::Field { error, .. } => error.without_field(),
            error => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_named_once_and_the_message_is_kept() {
        let error = TaskError::invalid_at("id", "bad").at("outer");
        assert_eq!(error.field(), Some("id"));
        assert_eq!(error.to_string(), "bad");
        assert_eq!(error.without_field(), TaskError::Invalid("bad".into()));
        assert_eq!(TaskError::Mapping("m".into()).field(), None);
    }
}
