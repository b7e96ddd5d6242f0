//! Write-ahead log: rows acknowledged but not yet in Parquet.
//!
//! A segment is a sequence of entries:
//!
//! ```text
//! magic "ZTW1" (4) | payload length u32 LE (4) | crc32 of payload u32 LE (4) | payload
//! payload = table name length u8 | table name | Arrow IPC stream (schema + one batch)
//! ```
//!
//! Recovery reads entries until the first one that is incomplete or fails its CRC (a torn tail
//! after a crash), keeps everything before it, and reports how many bytes it skipped; it never
//! refuses to start because of a damaged segment.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::LakeError;
use crate::schema::Table;

const MAGIC: &[u8; 4] = b"ZTW1";
const HEADER: usize = 12;

/// An open segment being appended to.
pub struct WalSegment {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
}

impl WalSegment {
    pub fn create(path: PathBuf) -> Result<Self, LakeError> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(LakeError::io(&path))?;
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn append(&mut self, table: Table, batch: &RecordBatch) -> Result<(), LakeError> {
        let mut payload = Vec::with_capacity(batch.get_array_memory_size() / 2 + 64);
        let name = table.name().as_bytes();
        payload.push(name.len() as u8);
        payload.extend_from_slice(name);
        {
            let mut writer = StreamWriter::try_new(&mut payload, &batch.schema())?;
            writer.write(batch)?;
            writer.finish()?;
        }
        let crc = crc32fast::hash(&payload);
        let write = |out: &mut BufWriter<File>| -> std::io::Result<()> {
            out.write_all(MAGIC)?;
            out.write_all(&(payload.len() as u32).to_le_bytes())?;
            out.write_all(&crc.to_le_bytes())?;
            out.write_all(&payload)
        };
        write(&mut self.out).map_err(LakeError::io(&self.path))?;
        self.bytes += (HEADER + payload.len()) as u64;
        Ok(())
    }

    /// Flush buffers and, when `sync`, fsync the segment.
    pub fn commit(&mut self, sync: bool) -> Result<(), LakeError> {
        self.out.flush().map_err(LakeError::io(&self.path))?;
        if sync {
            self.out
                .get_ref()
                .sync_data()
                .map_err(LakeError::io(&self.path))?;
        }
        Ok(())
    }
}

/// What recovery found in one segment.
#[derive(Debug, Default)]
pub struct Recovered {
    pub batches: Vec<(Table, RecordBatch)>,
    /// Bytes after the last valid entry (torn or corrupt tail).
    pub skipped_bytes: u64,
}

/// Read every valid entry of a segment.
pub fn recover(path: &Path) -> Result<Recovered, LakeError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(LakeError::io(path))?;
    let mut out = Recovered::default();
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(entry) = read_entry(&data[pos..]) else {
            break;
        };
        let (consumed, payload) = entry;
        match decode_payload(payload) {
            Some(batch) => out.batches.push(batch),
            None => break,
        }
        pos += consumed;
    }
    out.skipped_bytes = (data.len() - pos) as u64;
    Ok(out)
}

fn read_entry(data: &[u8]) -> Option<(usize, &[u8])> {
    if data.len() < HEADER || &data[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(data[4..8].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data[8..12].try_into().ok()?);
    let payload = data.get(HEADER..HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some((HEADER + len, payload))
}

fn decode_payload(payload: &[u8]) -> Option<(Table, RecordBatch)> {
    let name_len = *payload.first()? as usize;
    let name = std::str::from_utf8(payload.get(1..1 + name_len)?).ok()?;
    let table = Table::from_name(name)?;
    let mut reader = StreamReader::try_new(payload.get(1 + name_len..)?, None).ok()?;
    let batch = reader.next()?.ok()?;
    // Rows written under an older schema cannot be appended to today's buffers.
    (batch.schema() == table.schema()).then_some((table, batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{NetworkActivityBuilder, NetworkActivityRow};

    fn batch(n: i64) -> RecordBatch {
        let mut b = NetworkActivityBuilder::new(0);
        for i in 0..n {
            let mut row = NetworkActivityRow::default();
            row.common.time = Some(i);
            row.common.metadata_uid = Some(format!("id-{i}").into());
            b.append(&mut row);
        }
        b.finish()
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.wal");
        let mut seg = WalSegment::create(path.clone()).unwrap();
        seg.append(Table::NetworkActivity, &batch(3)).unwrap();
        seg.append(Table::NetworkActivity, &batch(5)).unwrap();
        seg.commit(true).unwrap();
        drop(seg);
        let rec = recover(&path).unwrap();
        assert_eq!(rec.batches.len(), 2);
        assert_eq!(rec.batches[1].1.num_rows(), 5);
        assert_eq!(rec.skipped_bytes, 0);

        // Tear the last entry: the first one survives.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 10).unwrap();
        let rec = recover(&path).unwrap();
        assert_eq!(rec.batches.len(), 1);
        assert!(rec.skipped_bytes > 0);
    }

    #[test]
    fn flipped_byte_stops_at_the_damaged_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.wal");
        let mut seg = WalSegment::create(path.clone()).unwrap();
        seg.append(Table::NetworkActivity, &batch(2)).unwrap();
        let first_len = seg.bytes();
        seg.append(Table::NetworkActivity, &batch(2)).unwrap();
        seg.commit(false).unwrap();
        drop(seg);
        let mut data = std::fs::read(&path).unwrap();
        let idx = first_len as usize + 40;
        data[idx] ^= 0xFF;
        std::fs::write(&path, &data).unwrap();
        let rec = recover(&path).unwrap();
        assert_eq!(rec.batches.len(), 1);
        assert_eq!(rec.skipped_bytes, data.len() as u64 - first_len);
    }
}
