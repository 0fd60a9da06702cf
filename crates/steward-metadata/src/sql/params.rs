//! The values the store binds to its statements. Statements are built as text once and run with
//! a list of [`Param`]s, so one piece of code binds for every driver; [`Params`] states the
//! driver encodings that needs in one place instead of at every call.

use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use sqlx::error::BoxDynError;
use sqlx::query::Query;
use sqlx::{Arguments, Database, Encode, IntoArguments, SqlSafeStr, Type};
use steward_model::time::format_ts;

/// A bound value of one of the types the store's columns hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Bytes(Vec<u8>),
    Flag(bool),
    Int(i64),
    /// SQL NULL in a text column.
    Null,
    /// SQL NULL in an integer column.
    NullInt,
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(v.to_string())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(v)
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Param {
        v.map_or(Param::Null, Param::from)
    }
}

impl From<Option<u64>> for Param {
    fn from(v: Option<u64>) -> Param {
        v.map_or(Param::NullInt, |v| {
            Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
        })
    }
}

impl From<Vec<u8>> for Param {
    fn from(v: Vec<u8>) -> Param {
        Param::Bytes(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Param {
        Param::Flag(v)
    }
}

impl From<usize> for Param {
    fn from(v: usize) -> Param {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// Binding [`Param`]s: the driver-specific encodings needed, stated once.
pub trait Params {
    fn push(&mut self, param: Param) -> Result<(), BoxDynError>;
}

impl<A> Params for A
where
    A: Arguments,
    String: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    Vec<u8>: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    bool: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    i64: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    Option<String>: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    Option<i64>: for<'e> Encode<'e, A::Database> + Type<A::Database>,
{
    fn push(&mut self, param: Param) -> Result<(), BoxDynError> {
        match param {
            Param::Text(v) => self.add(v),
            Param::Bytes(v) => self.add(v),
            Param::Flag(v) => self.add(v),
            Param::Int(v) => self.add(v),
            Param::Null => self.add(None::<String>),
            Param::NullInt => self.add(None::<i64>),
        }
    }
}

/// A statement with its parameters bound.
pub(crate) fn query<D>(
    sql: impl SqlSafeStr,
    params: impl IntoIterator<Item = Param>,
) -> Query<'static, D, D::Arguments>
where
    D: Database<Arguments: IntoArguments<D> + Params>,
{
    let mut arguments = D::Arguments::default();
    for param in params {
        arguments
            .push(param)
            .expect("strings, bytes, booleans and integers always encode");
    }
    sqlx::query_with(sql, arguments)
}

/// A `created_date` bound. Stored dates have millisecond precision, so a bound with a
/// sub-millisecond part is moved up to the next millisecond: then `>=` and `<` on the strings
/// select the rows that comparing the exact instants would.
pub(super) fn bound(ts: Timestamp) -> String {
    let round = TimestampRound::new()
        .smallest(Unit::Millisecond)
        .mode(RoundMode::Ceil);
    format_ts(ts.round(round).unwrap_or(ts))
}
