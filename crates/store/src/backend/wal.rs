//! The write-ahead log in front of the redb file, as etcd keeps a WAL in front of bbolt.
//!
//! A write is durable once its batch is appended here and `fdatasync`ed: one short sequential
//! write per group commit instead of a redb transaction rewriting B-tree pages. The writer
//! checkpoints the accumulated changes into redb (one durable transaction, several writes to
//! the same object collapsed into one) and then empties the log. At open, batches newer than
//! redb's revision are replayed into redb first.
//!
//! Record: `len: u32 LE | crc32: u32 LE | payload` with payload
//! `revision: u64 | count: u32 | count x mutation`, a mutation being
//! `0 | key_len: u32 | key | rv: u64 | json_len: u32 | json` (put) or `1 | key_len: u32 | key`
//! (remove). A record cut short or failing its checksum ends the log: it was being written
//! when the process died, so it was never acknowledged.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::redb::Mutation;
use crate::StoreError;

/// The log's name inside the data directory.
pub const FILE_NAME: &str = "store.wal";

const HEADER_LEN: usize = 8;
const TAG_PUT: u8 = 0;
const TAG_REMOVE: u8 = 1;

/// One group commit as it was logged.
pub(crate) struct Batch {
    pub(crate) revision: u64,
    pub(crate) mutations: Vec<Mutation>,
}

pub(crate) struct Wal {
    file: File,
    /// Bytes of whole, synced records. The next record is written at this offset (not at the
    /// file position), so bytes a failed append or a failed truncation left behind are
    /// overwritten or, past the last whole record, dropped by recovery.
    len: u64,
}

impl Wal {
    /// Opens (or creates) the log in `data_dir` and reads its whole records.
    pub(crate) fn open(data_dir: &Path) -> Result<(Wal, Vec<Batch>), StoreError> {
        let path = data_dir.join(FILE_NAME);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if created {
            // The new directory entry must survive a crash as well as the records in it.
            File::open(data_dir)?.sync_all()?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (batches, whole) = decode_records(&bytes)?;
        if whole < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = bytes.len() - whole,
                "store log ends in a partial record (a write cut short by a crash); dropping it"
            );
        }
        let len = whole as u64;
        file.set_len(len)?;
        Ok((Wal { file, len }, batches))
    }

    /// Appends one batch and syncs it: when this returns `Ok` the batch survives a crash.
    pub(crate) fn append(
        &mut self,
        mutations: &[Mutation],
        revision: u64,
    ) -> Result<(), StoreError> {
        let record = encode_record(mutations, revision);
        let written = self
            .file
            .write_all_at(&record, self.len)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Tidy only: the next append overwrites the partial record anyway.
                let _ = self.file.set_len(self.len);
                Err(error.into())
            }
        }
    }

    /// Empties the log (after its batches are durable in redb). On failure the log keeps its
    /// records and appends go on after them.
    pub(crate) fn reset(&mut self) -> Result<(), StoreError> {
        self.file.set_len(0)?;
        self.len = 0;
        Ok(())
    }

    /// Bytes of records in the log.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

fn encode_record(mutations: &[Mutation], revision: u64) -> Vec<u8> {
    let body_len: usize = mutations
        .iter()
        .map(|m| match m {
            Mutation::Put { key, json, .. } => 1 + 4 + key.len() + 8 + 4 + json.len(),
            Mutation::Remove { key } => 1 + 4 + key.len(),
        })
        .sum();
    let mut payload = Vec::with_capacity(8 + 4 + body_len);
    payload.extend_from_slice(&revision.to_le_bytes());
    payload.extend_from_slice(&len_u32(mutations.len()).to_le_bytes());
    for mutation in mutations {
        match mutation {
            Mutation::Put { key, rv, json } => {
                payload.push(TAG_PUT);
                put_bytes(&mut payload, key.as_bytes());
                payload.extend_from_slice(&rv.to_le_bytes());
                put_bytes(&mut payload, json);
            }
            Mutation::Remove { key } => {
                payload.push(TAG_REMOVE);
                put_bytes(&mut payload, key.as_bytes());
            }
        }
    }
    let mut record = Vec::with_capacity(HEADER_LEN + payload.len());
    record.extend_from_slice(&len_u32(payload.len()).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// Lengths in the log are u32; objects are bounded far below that by the request body limit.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The whole records at the start of `bytes` and how many bytes they span. A record whose
/// checksum holds but whose contents do not parse is corruption, not a torn write.
fn decode_records(bytes: &[u8]) -> Result<(Vec<Batch>, usize), StoreError> {
    let mut batches = Vec::new();
    let mut offset = 0;
    while let Some(header) = bytes.get(offset..offset + HEADER_LEN) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let start = offset + HEADER_LEN;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let batch = decode_payload(payload).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "store log record at byte {offset} has a valid checksum but cannot be read"
            ))
        })?;
        batches.push(batch);
        offset = start + len;
    }
    Ok((batches, offset))
}

fn decode_payload(payload: &[u8]) -> Option<Batch> {
    let mut reader = Reader { bytes: payload };
    let revision = reader.u64()?;
    let count = reader.u32()?;
    let mut mutations = Vec::new();
    for _ in 0..count {
        let tag = reader.u8()?;
        let key = String::from_utf8(reader.bytes()?.to_vec()).ok()?;
        let mutation = match tag {
            TAG_PUT => {
                let rv = reader.u64()?;
                let json = Arc::from(reader.bytes()?);
                Mutation::Put { key, rv, json }
            }
            TAG_REMOVE => Mutation::Remove { key },
            _ => return None,
        };
        mutations.push(mutation);
    }
    reader.bytes.is_empty().then_some(Batch {
        revision,
        mutations,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, rv: u64, json: &str) -> Mutation {
        Mutation::Put {
            key: key.to_string(),
            rv,
            json: Arc::from(json.as_bytes()),
        }
    }

    fn summary(batches: &[Batch]) -> Vec<(u64, Vec<String>)> {
        batches
            .iter()
            .map(|b| {
                let keys = b
                    .mutations
                    .iter()
                    .map(|m| match m {
                        Mutation::Put { key, rv, json } => {
                            format!("put {key}@{rv} {}", String::from_utf8_lossy(json))
                        }
                        Mutation::Remove { key } => format!("remove {key}"),
                    })
                    .collect();
                (b.revision, keys)
            })
            .collect()
    }

    #[test]
    fn appended_batches_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, batches) = Wal::open(dir.path()).unwrap();
        assert!(batches.is_empty());
        wal.append(&[put("a", 1, "{}"), put("b", 2, r#"{"x":1}"#)], 2)
            .unwrap();
        wal.append(
            &[Mutation::Remove {
                key: "a".to_string(),
            }],
            3,
        )
        .unwrap();
        drop(wal);

        let (wal, batches) = Wal::open(dir.path()).unwrap();
        assert_eq!(
            summary(&batches),
            vec![
                (
                    2,
                    vec!["put a@1 {}".to_string(), r#"put b@2 {"x":1}"#.to_string()]
                ),
                (3, vec!["remove a".to_string()]),
            ]
        );
        assert_eq!(
            wal.len(),
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len()
        );
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_appends_continue_after_the_whole_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[put("a", 1, "{}")], 1).unwrap();
        wal.append(&[put("b", 2, "{}")], 2).unwrap();
        drop(wal);
        let path = dir.path().join(FILE_NAME);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();

        let (mut wal, batches) = Wal::open(dir.path()).unwrap();
        assert_eq!(summary(&batches), vec![(1, vec!["put a@1 {}".to_string()])]);
        wal.append(&[put("c", 2, "{}")], 2).unwrap();
        drop(wal);
        let (_, batches) = Wal::open(dir.path()).unwrap();
        let revisions: Vec<u64> = batches.iter().map(|b| b.revision).collect();
        assert_eq!(revisions, vec![1, 2]);
    }

    #[test]
    fn a_flipped_bit_ends_the_log_at_that_record() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[put("a", 1, "{}")], 1).unwrap();
        let first_len = wal.len() as usize;
        wal.append(&[put("b", 2, "{}")], 2).unwrap();
        drop(wal);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[first_len + HEADER_LEN + 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();

        let (wal, batches) = Wal::open(dir.path()).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(wal.len() as usize, first_len);
    }

    #[test]
    fn reset_empties_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[put("a", 1, "{}")], 1).unwrap();
        wal.reset().unwrap();
        wal.append(&[put("b", 2, "{}")], 2).unwrap();
        drop(wal);
        let (_, batches) = Wal::open(dir.path()).unwrap();
        assert_eq!(summary(&batches), vec![(2, vec!["put b@2 {}".to_string()])]);
    }
}
