//! Druid's rules for task ids and datasource names (`IdUtils.validateId`), made strict enough
//! for every place an id ends up.
//!
//! Ids become directory and file names on MiddleManagers and in the task-log store, node names
//! in ZooKeeper and keys in three databases, so the rules are enforced at submission, before
//! anything is stored, and on every id that arrives in a URL, before it touches a file, a znode
//! or another URL. Druid's own check compares UTF-16 units with exclusive bounds; Steward
//! excludes the whole ranges Druid means (NUL, which PostgreSQL refuses in text, and U+001F,
//! U+007F, U+F8FF included) and every character outside the Basic Multilingual Plane (Druid
//! rejects those through their surrogates only by accident of its bounds).

/// The longest id, in bytes. The longest file name the task-log store makes from an id is
/// `<id>.report.json.tmp` (the temporary name of a pushed report), and a file name has at most
/// 255 bytes on every filesystem Steward runs on.
pub const MAX_ID_BYTES: usize = 255 - ".report.json.tmp".len();

/// The longest segment id, in characters: Druid's segment tables key rows by a `VARCHAR(255)`
/// id. Segment ids never become file names, so the file-name limit of [`MAX_ID_BYTES`] does not
/// apply (a datasource name of the longest kind makes a longer segment id).
pub const MAX_SEGMENT_ID_CHARS: usize = 255;

/// Directories of deep storage's root that are not datasources: a datasource of such a name
/// would share its files with partial segments or pushes in flight (whose cleanup could then
/// delete its segments).
pub const RESERVED_DATA_SOURCES: [&str; 2] = ["shuffle-data", "intermediate_pushes"];

/// Refuses a datasource name deep storage keeps for itself.
pub fn validate_data_source(name: &str) -> Result<(), String> {
    match RESERVED_DATA_SOURCES.contains(&name) {
        true => Err(format!(
            "dataSource [{name}] is reserved: deep storage keeps its own files in a directory of that name"
        )),
        false => Ok(()),
    }
}

/// Checks `value` against the id rules; `what` names the field in the error ("Task ID").
pub fn validate_id(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be null or empty."));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(format!(
            "{what} is {} bytes long; the limit is {MAX_ID_BYTES} bytes (ids become file names).",
            value.len()
        ));
    }
    validate_characters(what, value)
}

/// Checks a segment id from a request before it reaches the store: the characters of the id
/// rules (a segment id holds a datasource name and a version), at most
/// [`MAX_SEGMENT_ID_CHARS`] of them.
pub fn validate_segment_id(value: &str) -> Result<(), String> {
    let what = "Segment ID";
    if value.is_empty() {
        return Err(format!("{what} must not be null or empty."));
    }
    let chars = value.chars().count();
    if chars > MAX_SEGMENT_ID_CHARS {
        return Err(format!(
            "{what} is {chars} characters long; the limit is {MAX_SEGMENT_ID_CHARS}."
        ));
    }
    validate_characters(what, value)
}

/// The character rules every id follows, wherever it ends up.
fn validate_characters(what: &str, value: &str) -> Result<(), String> {
    // An id with control characters is not echoed back: it would break the log line or the
    // terminal that shows the error.
    let shown = value.escape_debug();
    if value.starts_with('.') {
        return Err(format!("{what} [{shown}] cannot start with '.'."));
    }
    if value.contains('/') {
        return Err(format!("{what} [{shown}] cannot contain '/'."));
    }
    for c in value.chars() {
        if c.is_whitespace() && c != ' ' {
            return Err(format!(
                "{what} [{shown}] cannot contain whitespace character except space."
            ));
        }
        if is_illegal(c) {
            return Err(format!(
                "{what} [{shown}] contains illegal UTF8 character [{:#x}].",
                c as u32
            ));
        }
    }
    Ok(())
}

fn is_illegal(c: char) -> bool {
    matches!(c as u32, 0..=31 | 127..=159 | 0xD800..=0xF8FF | 0xFFF0..)
}

#[cfg(test)]
mod tests {
    use super::{validate_id, validate_segment_id, MAX_ID_BYTES, MAX_SEGMENT_ID_CHARS};

    #[test]
    fn accepts_druid_style_ids() {
        for ok in [
            "noop_2026-01-01T00:00:00.000Z_abc",
            "wiki pedia",
            "a.b",
            "ünïcode",
            "\u{F900}",
            "\u{FFEF}",
        ] {
            assert!(validate_id("Task ID", ok).is_ok(), "{ok}");
        }
        assert!(validate_id("Task ID", &"a".repeat(MAX_ID_BYTES)).is_ok());
    }

    #[test]
    fn rejects_what_druid_rejects() {
        for bad in [
            "",
            ".hidden",
            "a/b",
            "tab\there",
            "new\nline",
            "ctl\u{1}",
            "\u{85}x",
        ] {
            assert!(validate_id("Task ID", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            validate_id("Task ID", "a/b").unwrap_err(),
            "Task ID [a/b] cannot contain '/'."
        );
    }

    #[test]
    fn rejects_the_bounds_of_every_excluded_range() {
        for bad in [
            "\u{0}",
            "nul\u{0}",
            "\u{1F}",
            "\u{7F}",
            "\u{9F}",
            "\u{D7FF}\u{F8FF}",
            "\u{E000}",
            "\u{FFF0}",
            "\u{FFFF}",
            "\u{10000}",
            "emoji \u{1F600}",
            "\u{10FFFF}",
        ] {
            assert!(validate_id("Task ID", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            validate_id("Task ID", "nul\u{0}").unwrap_err(),
            "Task ID [nul\\0] contains illegal UTF8 character [0x0]."
        );
    }

    #[test]
    fn limits_the_length_in_bytes() {
        let long = "a".repeat(MAX_ID_BYTES + 1);
        assert!(validate_id("Task ID", &long).is_err());
        // Two bytes per character: half as many characters fit.
        assert!(validate_id("Task ID", &"é".repeat(MAX_ID_BYTES / 2)).is_ok());
        assert!(validate_id("Task ID", &"é".repeat(MAX_ID_BYTES / 2 + 1)).is_err());
    }

    #[test]
    fn segment_ids_follow_the_character_rules_up_to_the_columns_width() {
        let id = "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1_3";
        assert!(validate_segment_id(id).is_ok());
        // Longer than a task id may be: the datasource name alone may take 239 bytes.
        let long = format!("{}_{}", "w".repeat(200), &id[5..]);
        assert_eq!(long.chars().count(), MAX_SEGMENT_ID_CHARS);
        assert!(long.len() > MAX_ID_BYTES && validate_segment_id(&long).is_ok());
        assert!(validate_segment_id(&"s".repeat(MAX_SEGMENT_ID_CHARS + 1)).is_err());
        for bad in ["", "a/b", ".x", "nul\u{0}", "tab\tx", "\u{1F600}"] {
            assert!(validate_segment_id(bad).is_err(), "{bad:?}");
        }
    }
}
