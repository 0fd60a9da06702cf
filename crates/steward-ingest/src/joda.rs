//! Joda-Time `DateTimeFormat` patterns, as Druid's timestamp specs and time functions use them.
//!
//! Placeholder with the public surface the expression functions rely on; the spec work
//! replaces it.

use jiff::tz::TimeZone;

/// A compiled Joda pattern such as `yyyy-MM-dd'T'HH:mm:ss.SSSZ`.
#[derive(Debug, Clone)]
pub struct JodaFormat {
    pattern: String,
}

impl JodaFormat {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn compile(pattern: &str) -> Result<JodaFormat, String> {
        Err(format!("Joda patterns are not supported yet: [{pattern}]"))
    }

    /// Parses `text` in full; a text without an offset is read in `tz`. Milliseconds UTC.
    pub fn parse(&self, text: &str, tz: &TimeZone) -> Option<i64> {
        let _ = (text, tz, &self.pattern);
        None
    }

    /// Formats `millis` in `tz`.
    pub fn format(&self, millis: i64, tz: &TimeZone) -> String {
        let _ = (millis, tz);
        String::new()
    }
}
