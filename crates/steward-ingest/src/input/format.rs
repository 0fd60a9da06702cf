//! Input formats: how an entity's bytes become rows (Druid's `JsonInputFormat`,
//! `CsvInputFormat`, `DelimitedInputFormat` (`tsv`) and the Parquet extension's
//! `ParquetInputFormat`), read and checked as Druid does at submit.

use super::flatten::FlattenSpec;
use crate::spec::fields::{within, Obj};
use crate::SpecError;

/// Druid's default list delimiter for CSV and TSV (`Parsers.DEFAULT_LIST_DELIMITER`).
pub const DEFAULT_LIST_DELIMITER: &str = "\u{1}";

#[derive(Debug, Clone, PartialEq)]
pub enum InputFormatSpec {
    /// Newline-delimited JSON objects.
    Json {
        flatten_spec: Option<FlattenSpec>,
        /// Whether null fields are kept; Druid's default is true only with a flattenSpec that
        /// discovers fields.
        keep_null_columns: bool,
    },
    Csv(DelimitedFormat),
    Tsv(DelimitedFormat),
    Parquet {
        flatten_spec: Option<FlattenSpec>,
        /// Reads unannotated binary columns as UTF-8 strings instead of base64.
        binary_as_string: bool,
    },
}

/// The settings CSV and TSV share (Druid's `FlatTextInputFormat`).
#[derive(Debug, Clone, PartialEq)]
pub struct DelimitedFormat {
    /// Column names in order; empty when the header names them.
    pub columns: Vec<String>,
    pub delimiter: String,
    /// Splits a cell into a multi-value; `\u0001` unless set.
    pub list_delimiter: String,
    pub find_columns_from_header: bool,
    /// Lines skipped at the start of each file, before the header.
    pub skip_header_rows: usize,
    /// Reads cells that look like numbers as longs or doubles.
    pub try_parse_numbers: bool,
}

impl InputFormatSpec {
    /// Reads an `inputFormat`; error paths are relative to it.
    pub fn from_json(v: &serde_json::Value) -> Result<InputFormatSpec, SpecError> {
        let obj = Obj::new(v, "an inputFormat")?;
        let flatten = |obj: &Obj| -> Result<Option<FlattenSpec>, SpecError> {
            obj.get("flattenSpec")
                .map(FlattenSpec::from_json)
                .transpose()
                .map_err(|e| within(e, "flattenSpec"))
        };
        match obj.type_name(None)? {
            "json" => {
                let flatten_spec = flatten(&obj)?;
                let discovers = flatten_spec.as_ref().is_some_and(|f| f.use_field_discovery);
                Ok(InputFormatSpec::Json {
                    keep_null_columns: obj.bool("keepNullColumns")?.unwrap_or(discovers),
                    flatten_spec,
                })
            }
            "csv" => Ok(InputFormatSpec::Csv(DelimitedFormat::from_obj(&obj, ",")?)),
            "tsv" => {
                let delimiter = obj.string("delimiter")?.unwrap_or("\t");
                Ok(InputFormatSpec::Tsv(DelimitedFormat::from_obj(&obj, delimiter)?))
            }
            "parquet" => Ok(InputFormatSpec::Parquet {
                flatten_spec: flatten(&obj)?,
                binary_as_string: obj.bool("binaryAsString")?.unwrap_or(false),
            }),
            other => Err(SpecError::new(
                "type",
                format!(
                    "Input format type [{other}] is not supported yet; supported types are [json, csv, tsv, parquet]"
                ),
            )),
        }
    }
}

impl DelimitedFormat {
    /// Druid's `FlatTextInputFormat` checks, in its order.
    fn from_obj(obj: &Obj, delimiter: &str) -> Result<DelimitedFormat, SpecError> {
        let columns: Vec<String> = obj.typed("columns")?.unwrap_or_default();
        let has_header_row = obj.bool("hasHeaderRow")?;
        let find_columns = obj.bool("findColumnsFromHeader")?;
        let find_columns_from_header = if columns.is_empty() {
            match (has_header_row, find_columns) {
                (Some(_), Some(_)) => {
                    return Err(SpecError::new(
                        "findColumnsFromHeader",
                        "Cannot accept both [findColumnsFromHeader] and [hasHeaderRow]",
                    ))
                }
                (None, None) => {
                    return Err(SpecError::new(
                        "columns",
                        "Either [columns] or [findColumnsFromHeader] must be set",
                    ))
                }
                (Some(flag), None) | (None, Some(flag)) => flag,
            }
        } else {
            find_columns.unwrap_or(false)
        };
        let list_delimiter = obj
            .string("listDelimiter")?
            .unwrap_or(DEFAULT_LIST_DELIMITER)
            .to_string();
        if delimiter.is_empty() {
            return Err(SpecError::new(
                "delimiter",
                "The delimiter must not be empty",
            ));
        }
        if delimiter == list_delimiter {
            return Err(SpecError::new(
                "listDelimiter",
                format!("Cannot have same delimiter and list delimiter of [{delimiter}]"),
            ));
        }
        if let Some((i, column)) = columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.contains(delimiter))
        {
            return Err(SpecError::new(
                format!("columns[{i}]"),
                format!("Column[{column}] cannot have the delimiter[{delimiter}] in its name"),
            ));
        }
        if columns.is_empty() && !find_columns_from_header {
            return Err(SpecError::new(
                "columns",
                "If [columns] is not set, the first row of your data must have your header and [findColumnsFromHeader] must be set to true.",
            ));
        }
        let skip_header_rows: i64 = obj.typed("skipHeaderRows")?.unwrap_or(0);
        Ok(DelimitedFormat {
            columns,
            delimiter: delimiter.to_string(),
            list_delimiter,
            find_columns_from_header,
            skip_header_rows: usize::try_from(skip_header_rows).unwrap_or(0),
            try_parse_numbers: obj.bool("tryParseNumbers")?.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_druid() {
        assert_eq!(
            InputFormatSpec::from_json(&json!({"type": "json"})).unwrap(),
            InputFormatSpec::Json {
                flatten_spec: None,
                keep_null_columns: false
            }
        );
        let with_flatten =
            InputFormatSpec::from_json(&json!({"type": "json", "flattenSpec": {}})).unwrap();
        assert!(matches!(
            with_flatten,
            InputFormatSpec::Json {
                keep_null_columns: true,
                ..
            }
        ));
        let InputFormatSpec::Csv(csv) =
            InputFormatSpec::from_json(&json!({"type": "csv", "findColumnsFromHeader": true}))
                .unwrap()
        else {
            panic!("csv")
        };
        assert_eq!(csv.delimiter, ",");
        assert_eq!(csv.list_delimiter, "\u{1}");
        let InputFormatSpec::Tsv(tsv) = InputFormatSpec::from_json(
            &json!({"type": "tsv", "columns": ["a"], "hasHeaderRow": false}),
        )
        .unwrap() else {
            panic!("tsv")
        };
        assert_eq!(tsv.delimiter, "\t");
        assert!(!tsv.find_columns_from_header);
    }

    #[test]
    fn flat_text_checks_give_druids_messages() {
        for (spec, path, message) in [
            (
                json!({"type": "csv"}),
                "columns",
                "Either [columns] or [findColumnsFromHeader] must be set",
            ),
            (
                json!({"type": "csv", "hasHeaderRow": true, "findColumnsFromHeader": true}),
                "findColumnsFromHeader",
                "Cannot accept both",
            ),
            (
                json!({"type": "csv", "findColumnsFromHeader": false}),
                "columns",
                "If [columns] is not set",
            ),
            (
                json!({"type": "csv", "columns": ["a", "b,c"]}),
                "columns[1]",
                "Column[b,c] cannot have the delimiter[,] in its name",
            ),
            (
                json!({"type": "tsv", "columns": ["a"], "delimiter": "|", "listDelimiter": "|"}),
                "listDelimiter",
                "Cannot have same delimiter and list delimiter of [|]",
            ),
            (
                json!({"type": "csv", "columns": ["a"], "skipHeaderRows": "x"}),
                "skipHeaderRows",
                "invalid type",
            ),
            (
                json!({"type": "avro_ocf"}),
                "type",
                "Input format type [avro_ocf] is not supported yet",
            ),
            (
                json!({"type": "json", "flattenSpec": {"fields": [{"type": "jq", "name": "a", "expr": "."}]}}),
                "flattenSpec.fields[0].type",
                "jq",
            ),
        ] {
            let err = InputFormatSpec::from_json(&spec).unwrap_err();
            assert_eq!(err.path, path, "{spec}");
            assert!(err.message.contains(message), "{spec}: {}", err.message);
        }
    }
}
