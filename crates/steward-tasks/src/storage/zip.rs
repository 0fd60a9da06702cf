//! A minimal zip writer: files stored, not compressed, in zip64 form.
//!
//! `druid.storage.zip=true` pushes a segment as one `index.zip`. A segment's columns are
//! compressed already, so deflating them again costs CPU for little; stored entries are read
//! by every zip reader, Java's `ZipInputStream` (Druid's puller) among them, as long as each
//! local header carries the entry's size and CRC, which this writer patches in after copying
//! the data. Every entry and the directory are written in zip64 form, whatever their size:
//! segments may exceed 4 GiB, and one form means one path through the code. A dependency on a
//! zip crate would bring compression methods, encryption and a reader Steward does not use.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StorageError;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
/// Version 4.5: zip64.
const VERSION: u16 = 45;
/// Made on Unix, so the external attributes are a file mode.
const MADE_BY: u16 = VERSION | (3 << 8);
/// Names are UTF-8.
const FLAGS: u16 = 1 << 11;
const STORED: u16 = 0;
/// 1980-01-01 00:00, the first instant a zip entry can carry; a fixed time keeps an archive of
/// the same files the same bytes.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
const ZIP64_EXTRA: u16 = 0x0001;
/// Where a size or offset is in the zip64 extra field instead.
const IN_ZIP64: u32 = u32::MAX;
const REGULAR_FILE_MODE: u32 = 0o100_644;
const COPY_BUFFER: usize = 1 << 20;

struct Entry {
    name: String,
    crc: u32,
    size: u64,
    offset: u64,
}

/// Writes `files` (name in the archive, file) into a new zip at `path` and returns the bytes
/// stored, Druid's "size" of a zipped segment.
pub(crate) fn write_stored(path: &Path, files: &[(String, PathBuf)]) -> Result<u64, StorageError> {
    let io = |what: &str| StorageError::io(format!("Cannot {what} [{}]", path.display()));
    let mut out = File::create(path).map_err(io("create"))?;
    let mut entries = Vec::with_capacity(files.len());
    let mut total = 0;
    for (name, file) in files {
        let entry = write_entry(&mut out, name, file)?;
        total += entry.size;
        entries.push(entry);
    }
    write_directory(&mut out, &entries).map_err(io("write"))?;
    out.sync_all().map_err(io("sync"))?;
    Ok(total)
}

fn write_entry(out: &mut File, name: &str, file: &Path) -> Result<Entry, StorageError> {
    let failed =
        |what: &str| StorageError::io(format!("Cannot {what} [{}] into the zip", file.display()));
    let offset = out.stream_position().map_err(failed("add"))?;
    let mut input = File::open(file).map_err(failed("read"))?;
    let mut header = Vec::with_capacity(30 + name.len() + 20);
    put32(&mut header, LOCAL_HEADER);
    put16(&mut header, VERSION);
    put16(&mut header, FLAGS);
    put16(&mut header, STORED);
    put16(&mut header, DOS_TIME);
    put16(&mut header, DOS_DATE);
    let crc_at = offset + header.len() as u64;
    put32(&mut header, 0); // CRC-32, written once the data is copied
    put32(&mut header, IN_ZIP64);
    put32(&mut header, IN_ZIP64);
    put16(&mut header, name_len(name)?);
    put16(&mut header, 20);
    header.extend_from_slice(name.as_bytes());
    put16(&mut header, ZIP64_EXTRA);
    put16(&mut header, 16);
    let sizes_at = offset + header.len() as u64;
    put64(&mut header, 0); // uncompressed and compressed sizes, also written afterwards
    put64(&mut header, 0);
    out.write_all(&header).map_err(failed("add"))?;

    let mut crc = crc32fast::Hasher::new();
    let mut size = 0u64;
    let mut buffer = vec![0; COPY_BUFFER];
    loop {
        let n = input.read(&mut buffer).map_err(failed("read"))?;
        if n == 0 {
            break;
        }
        crc.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(failed("add"))?;
        size += n as u64;
    }
    let crc = crc.finalize();
    let end = out.stream_position().map_err(failed("add"))?;
    let mut patch = |at: u64, bytes: &[u8]| -> std::io::Result<()> {
        out.seek(SeekFrom::Start(at))?;
        out.write_all(bytes)
    };
    patch(crc_at, &crc.to_le_bytes()).map_err(failed("add"))?;
    let mut sizes = Vec::with_capacity(16);
    put64(&mut sizes, size);
    put64(&mut sizes, size);
    patch(sizes_at, &sizes).map_err(failed("add"))?;
    out.seek(SeekFrom::Start(end)).map_err(failed("add"))?;
    Ok(Entry {
        name: name.to_string(),
        crc,
        size,
        offset,
    })
}

fn write_directory(out: &mut File, entries: &[Entry]) -> std::io::Result<()> {
    let start = out.stream_position()?;
    let mut dir = Vec::new();
    for e in entries {
        put32(&mut dir, CENTRAL_HEADER);
        put16(&mut dir, MADE_BY);
        put16(&mut dir, VERSION);
        put16(&mut dir, FLAGS);
        put16(&mut dir, STORED);
        put16(&mut dir, DOS_TIME);
        put16(&mut dir, DOS_DATE);
        put32(&mut dir, e.crc);
        put32(&mut dir, IN_ZIP64);
        put32(&mut dir, IN_ZIP64);
        put16(&mut dir, e.name.len() as u16); // checked by the local header
        put16(&mut dir, 28);
        put16(&mut dir, 0); // comment
        put16(&mut dir, 0); // disk
        put16(&mut dir, 0); // internal attributes
        put32(&mut dir, REGULAR_FILE_MODE << 16);
        put32(&mut dir, IN_ZIP64);
        dir.extend_from_slice(e.name.as_bytes());
        put16(&mut dir, ZIP64_EXTRA);
        put16(&mut dir, 24);
        put64(&mut dir, e.size);
        put64(&mut dir, e.size);
        put64(&mut dir, e.offset);
    }
    let zip64_end = start + dir.len() as u64;
    put32(&mut dir, ZIP64_END);
    put64(&mut dir, 44); // the record's size after this field
    put16(&mut dir, MADE_BY);
    put16(&mut dir, VERSION);
    put32(&mut dir, 0); // this disk
    put32(&mut dir, 0); // the directory's disk
    put64(&mut dir, entries.len() as u64);
    put64(&mut dir, entries.len() as u64);
    put64(&mut dir, zip64_end - start);
    put64(&mut dir, start);
    put32(&mut dir, ZIP64_LOCATOR);
    put32(&mut dir, 0);
    put64(&mut dir, zip64_end);
    put32(&mut dir, 1); // disks
    put32(&mut dir, END);
    put16(&mut dir, 0);
    put16(&mut dir, 0);
    put16(&mut dir, u16::MAX);
    put16(&mut dir, u16::MAX);
    put32(&mut dir, IN_ZIP64);
    put32(&mut dir, IN_ZIP64);
    put16(&mut dir, 0); // comment
    out.write_all(&dir)
}

fn name_len(name: &str) -> Result<u16, StorageError> {
    u16::try_from(name.len())
        .map_err(|_| StorageError::Refused(format!("File name too long for a zip: [{name}]")))
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}
