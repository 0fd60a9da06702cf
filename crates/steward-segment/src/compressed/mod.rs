//! Druid's block-compressed columns: values packed into 64 KiB blocks, each block compressed on
//! its own and the blocks stored as a `GenericIndexed`.

pub mod blocks;
pub mod ints;
pub mod numeric;
