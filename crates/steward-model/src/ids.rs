//! Druid's rules for task ids and datasource names (`IdUtils.validateId`).
//!
//! Ids become directory names on MiddleManagers and node names in ZooKeeper, so the rules are
//! enforced at submission, before anything is stored.

/// Checks `value` against Druid's id rules; `what` names the field in the error ("Task ID").
pub fn validate_id(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be null or empty."));
    }
    if value.starts_with('.') {
        return Err(format!("{what} [{value}] cannot start with '.'."));
    }
    if value.contains('/') {
        return Err(format!("{what} [{value}] cannot contain '/'."));
    }
    for c in value.chars() {
        if c.is_whitespace() && c != ' ' {
            return Err(format!(
                "{what} [{value}] cannot contain whitespace character except space."
            ));
        }
        let u = c as u32;
        let bad = (0 < u && u < 31)
            || (127 < u && u < 159)
            || (0xD800 < u && u < 0xF8FF)
            || (0xFFF0 < u && u < 0xFFFF);
        if bad {
            return Err(format!(
                "{what} [{value}] contains illegal UTF8 character [{u:#x}]."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn accepts_druid_style_ids() {
        for ok in [
            "noop_2026-01-01T00:00:00.000Z_abc",
            "wiki pedia",
            "a.b",
            "ünïcode",
        ] {
            assert!(validate_id("Task ID", ok).is_ok(), "{ok}");
        }
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
}
