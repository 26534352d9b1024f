//! The devnet's memory: its genesis and every transaction it accepted, one
//! JSON line each, synced before the transaction is answered. Reopening
//! replays the lines on the same contract code at the same block heights and
//! times, which rebuilds the very same state.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tx::SignedTx;

/// The journal's file name inside the devnet's directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// How the devnet was born: enough to rebuild it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// The chain id.
    pub chain_id: String,
    /// Block time, in milliseconds.
    pub block_time_ms: u64,
    /// `cw20` or `native`.
    pub pay_in: String,
    /// Time of block 1, in nanoseconds since the Unix epoch.
    pub genesis_time_ns: u64,
    /// The devnet beacon's secret (a local, unsafe beacon: devnet only).
    pub beacon_secret: u64,
    /// Seconds between beacon rounds.
    pub beacon_period: u64,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// The first line.
    Genesis(Genesis),
    /// A transaction that passed its signature and sequence checks (it is
    /// replayed whether or not its execution succeeded, as its sequence was
    /// spent either way).
    Tx {
        /// Its block.
        height: u64,
        /// Its block's time.
        time_ns: u64,
        /// The transaction.
        tx: SignedTx,
    },
    /// Tokens handed out by the faucet.
    Faucet {
        /// Its block.
        height: u64,
        /// Its block's time.
        time_ns: u64,
        /// The recipient.
        address: String,
        /// The amount (a decimal string: JSON numbers lose precision).
        amount: String,
    },
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes of whole lines: a failed append is cut back to this.
    len: u64,
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file system.
    #[error("devnet journal {path}: {source}")]
    Io {
        /// The journal.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line that is not an entry.
    #[error("devnet journal {path}, line {line}: {reason}")]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Journal {
    /// Creates a new journal in `dir` holding `genesis`; refuses to
    /// overwrite one.
    pub fn create(dir: &Path, genesis: &Genesis) -> Result<Self, JournalError> {
        let path = dir.join(JOURNAL_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let mut journal = Journal { path, file, len: 0 };
        journal.append(&Entry::Genesis(genesis.clone()))?;
        Ok(journal)
    }

    /// Opens the journal in `dir`: its entries, and the journal to append to.
    /// A last line cut short by a crash is dropped (its transaction was never
    /// answered); anything else unreadable is an error.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Entry>), JournalError> {
        let path = dir.join(JOURNAL_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut entries = Vec::new();
        let mut good_len = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            number += 1;
            if !line.ends_with('\n') {
                tracing::warn!(path = %path.display(), line = number, "dropping a journal line cut short");
                break;
            }
            let entry: Entry =
                serde_json::from_str(line.trim_end()).map_err(|e| JournalError::Corrupt {
                    path: path.clone(),
                    line: number,
                    reason: e.to_string(),
                })?;
            if (number == 1) != matches!(entry, Entry::Genesis(_)) {
                return Err(JournalError::Corrupt {
                    path: path.clone(),
                    line: number,
                    reason: "the genesis must be the first line, and only it".into(),
                });
            }
            entries.push(entry);
            good_len += n as u64;
        }
        drop(reader);
        if entries.is_empty() {
            return Err(JournalError::Corrupt {
                path,
                line: 1,
                reason: "no genesis".into(),
            });
        }
        file.set_len(good_len).map_err(io)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok((
            Journal {
                path,
                file,
                len: good_len,
            },
            entries,
        ))
    }

    /// Appends `entry` and syncs it to disk. On failure (a full disk) the
    /// file is cut back to its last whole line.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).expect("journal entries serialise");
        line.push(b'\n');
        match self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
        {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                let _ = self.file.set_len(self.len);
                Err(JournalError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }
}
