//! CSV and TSV rows (Druid's `DelimitedValueReader`), one record per line.
//!
//! CSV cells follow RFC 4180 as Druid's opencsv parser reads a line: `"` quotes a cell, `""`
//! inside quotes is a quote, an empty unquoted cell is null and an empty quoted one is `""`.
//! TSV (any delimiter) splits on the delimiter with no quoting; an empty cell is null. A cell
//! holding the list delimiter becomes a multi-value; with `tryParseNumbers` numeric cells
//! become longs or doubles. Cells beyond the columns are dropped and missing ones absent, as
//! Druid zips them. The header, when the format reads one, names the columns of its file: an
//! empty name becomes `column_N`, and a name given twice fails the file.

use std::sync::Arc;

use super::format::DelimitedFormat;
use super::names::Interner;
use super::InputError;
use crate::row::Value;

/// Splits lines of one file into rows.
#[derive(Debug, Clone)]
pub(crate) struct DelimitedLines {
    format: Arc<DelimitedFormat>,
    csv: bool,
    /// The column names of the current file.
    columns: Vec<Arc<str>>,
}

/// An unterminated quote; Druid says `Unable to parse row [...]`.
pub(crate) struct Unterminated;

impl DelimitedLines {
    pub(crate) fn new(
        format: Arc<DelimitedFormat>,
        csv: bool,
        names: &mut Interner,
    ) -> DelimitedLines {
        let columns = format.columns.iter().map(|c| names.get(c)).collect();
        DelimitedLines {
            format,
            csv,
            columns,
        }
    }

    pub(crate) fn skip_header_rows(&self) -> usize {
        self.format.skip_header_rows
    }

    pub(crate) fn reads_header(&self) -> bool {
        self.format.find_columns_from_header
    }

    /// Takes the column names from a header line (Druid's `findOrCreateInputRowSignature`).
    pub(crate) fn set_header(
        &mut self,
        line: &str,
        names: &mut Interner,
    ) -> Result<(), InputError> {
        let cells = self
            .split(line)
            .map_err(|_| InputError::new(format!("Unable to parse header row [{line}]")))?;
        let columns: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, cell)| match cell {
                Some(name) if !name.is_empty() => name,
                _ => format!("column_{}", i + 1),
            })
            .collect();
        let duplicates: std::collections::BTreeSet<&String> = columns
            .iter()
            .enumerate()
            .filter(|(i, c)| columns[..*i].contains(c))
            .map(|(_, c)| c)
            .collect();
        if !duplicates.is_empty() {
            let shown: Vec<&str> = duplicates.iter().map(|s| s.as_str()).collect();
            return Err(InputError::new(format!(
                "Duplicate column entries found : [{}]",
                shown.join(", ")
            )));
        }
        self.columns = columns.iter().map(|c| names.get(c)).collect();
        Ok(())
    }

    /// The row of one line, into `out` (cleared first).
    pub(crate) fn parse(
        &self,
        line: &str,
        out: &mut Vec<(Arc<str>, Value)>,
    ) -> Result<(), Unterminated> {
        out.clear();
        let cells = self.split(line)?;
        for (name, cell) in self.columns.iter().zip(cells) {
            out.push((name.clone(), self.cell_value(cell)));
        }
        Ok(())
    }

    fn split(&self, line: &str) -> Result<Vec<Option<String>>, Unterminated> {
        if self.csv {
            split_csv(line)
        } else {
            Ok(line
                .split(self.format.delimiter.as_str())
                .map(|cell| (!cell.is_empty()).then(|| cell.to_string()))
                .collect())
        }
    }

    fn cell_value(&self, cell: Option<String>) -> Value {
        let Some(text) = cell else {
            return Value::Null;
        };
        let list = self.format.list_delimiter.as_str();
        if text.contains(list) {
            return Value::Array(
                text.split(list)
                    .map(|part| self.scalar(part.to_string()))
                    .collect(),
            );
        }
        self.scalar(text)
    }

    fn scalar(&self, text: String) -> Value {
        if self.format.try_parse_numbers {
            if let Ok(n) = text.parse::<i64>() {
                return Value::Long(n);
            }
            let numeric = text.bytes().any(|b| b.is_ascii_digit())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            if let Some(d) = numeric.then(|| text.parse::<f64>().ok()).flatten() {
                return Value::Double(d);
            }
        }
        Value::String(text)
    }
}

/// One CSV line into cells, RFC 4180 style.
fn split_csv(line: &str) -> Result<Vec<Option<String>>, Unterminated> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut cell = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            chars.next();
            quoted = true;
            loop {
                match chars.next() {
                    None => return Err(Unterminated),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                }
            }
        }
        // Unquoted text, or what follows a closing quote, up to the separator.
        let mut ended = true;
        for c in chars.by_ref() {
            if c == ',' {
                ended = false;
                break;
            }
            cell.push(c);
        }
        cells.push((quoted || !cell.is_empty()).then_some(cell));
        if ended {
            return Ok(cells);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(columns: &[&str], list: &str, numbers: bool) -> Arc<DelimitedFormat> {
        Arc::new(DelimitedFormat {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            delimiter: "\t".into(),
            list_delimiter: list.into(),
            find_columns_from_header: columns.is_empty(),
            skip_header_rows: 0,
            try_parse_numbers: numbers,
        })
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn csv_cells_follow_rfc_4180() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            split_csv(r#"a,"b,c",,"","say ""hi""",d"#).ok().unwrap(),
            vec![
                some("a"),
                some("b,c"),
                None,
                some(""),
                some("say \"hi\""),
                some("d")
            ]
        );
        assert_eq!(split_csv("").ok().unwrap(), vec![None]);
        assert_eq!(split_csv("a,").ok().unwrap(), vec![some("a"), None]);
        assert!(split_csv(r#"a,"open"#).is_err());
    }

    #[test]
    fn cells_become_values_with_lists_and_numbers() {
        let mut names = Interner::default();
        let lines = DelimitedLines::new(format(&["a", "b", "c"], "|", true), false, &mut names);
        let mut out = Vec::new();
        lines
            .parse("x|y|z\t12\t1.5e3\textra", &mut out)
            .ok()
            .unwrap();
        assert_eq!(
            out,
            vec![
                ("a".into(), Value::Array(vec![s("x"), s("y"), s("z")])),
                ("b".into(), Value::Long(12)),
                ("c".into(), Value::Double(1500.0)),
            ]
        );
        lines.parse("only\t", &mut out).ok().unwrap();
        assert_eq!(
            out,
            vec![("a".into(), s("only")), ("b".into(), Value::Null)]
        );
        let strings = DelimitedLines::new(format(&["a"], "\u{1}", false), false, &mut names);
        strings.parse("12", &mut out).ok().unwrap();
        assert_eq!(out, vec![("a".into(), s("12"))]);
    }

    #[test]
    fn headers_name_columns_and_refuse_duplicates() {
        let mut names = Interner::default();
        let mut lines = DelimitedLines::new(format(&[], "\u{1}", false), true, &mut names);
        lines.set_header("ts,,name", &mut names).unwrap();
        let mut out = Vec::new();
        lines.parse("1,2,3", &mut out).ok().unwrap();
        let columns: Vec<&str> = out.iter().map(|(n, _)| &**n).collect();
        assert_eq!(columns, ["ts", "column_2", "name"]);
        let err = lines.set_header("a,b,a,b", &mut names).unwrap_err();
        assert_eq!(err.to_string(), "Duplicate column entries found : [a, b]");
    }
}
