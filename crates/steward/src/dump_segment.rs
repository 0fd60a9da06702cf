//! `steward dump-segment`: Druid's `DumpSegment` tool over a local segment directory or
//! `index.zip` (rows as JSON lines, the segment-metadata analysis, or the bitmap indexes).

use std::io::Write;
use std::path::PathBuf;

use steward_segment::{dump, DumpOptions, DumpType, QueryableIndex};

#[derive(clap::Args, Debug)]
pub struct DumpSegmentArgs {
    /// Segment directory (loose files or holding index.zip), or an index.zip.
    path: PathBuf,
    /// What to dump: rows, metadata or bitmaps.
    #[arg(long, default_value = "rows")]
    dump: DumpType,
    /// Column to include; repeat for more; omit for all columns.
    #[arg(long = "column", short = 'c')]
    columns: Vec<String>,
    /// Print __time as ISO-8601 instead of milliseconds (rows only).
    #[arg(long)]
    time_iso8601: bool,
    /// Print bitmaps as arrays of rows instead of base64 (bitmaps only).
    #[arg(long)]
    decompress_bitmaps: bool,
}

pub fn run(args: &DumpSegmentArgs) -> anyhow::Result<()> {
    let index = QueryableIndex::open(&args.path)?;
    let options = DumpOptions {
        columns: args.columns.clone(),
        time_iso8601: args.time_iso8601,
        decompress_bitmaps: args.decompress_bitmaps,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    dump(&index, args.dump, &options, &mut out)?;
    out.flush()?;
    Ok(())
}
