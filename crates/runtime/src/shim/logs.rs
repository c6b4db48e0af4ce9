//! Container logs in the CRI format kubelet reads: one line per record,
//! `<RFC 3339 time with nanoseconds> stdout|stderr F|P <content>`, where `P` marks a piece
//! of a line longer than [`MAX_LINE`] (or cut by the end of the stream without a newline
//! — that last piece is `F`, as containerd writes it). Files are rotated by size:
//! `<log>` is the live file, `<log>.1` the newest rotated one, up to `<log>.<max-1>`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

/// Longest content of one log record; longer lines are split into `P` records.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Which output a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One CRI log record, newline included.
pub(crate) fn format_line(
    ts: DateTime<Utc>,
    stream: Stream,
    partial: bool,
    content: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 48);
    v.extend_from_slice(ts.to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
    v.push(b' ');
    v.extend_from_slice(stream.as_str().as_bytes());
    v.extend_from_slice(if partial { b" P " } else { b" F " });
    v.extend_from_slice(content);
    v.push(b'\n');
    v
}

/// Cuts a byte stream into lines (without their newline) and pieces of at most
/// [`MAX_LINE`] bytes; `emit(content, partial)`.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn push(&mut self, mut data: &[u8], emit: &mut dyn FnMut(&[u8], bool)) {
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.buf.extend_from_slice(&data[..i]);
                    self.flush_long(emit);
                    emit(&self.buf, false);
                    self.buf.clear();
                    data = &data[i + 1..];
                }
                None => {
                    self.buf.extend_from_slice(data);
                    self.flush_long(emit);
                    data = &[];
                }
            }
        }
    }

    /// Emits full pieces while more than [`MAX_LINE`] bytes are buffered.
    fn flush_long(&mut self, emit: &mut dyn FnMut(&[u8], bool)) {
        while self.buf.len() > MAX_LINE {
            emit(&self.buf[..MAX_LINE], true);
            self.buf.drain(..MAX_LINE);
        }
    }

    /// The stream ended: what is left becomes a full record.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(&[u8], bool)) {
        if !self.buf.is_empty() {
            emit(&self.buf, false);
            self.buf.clear();
        }
    }
}

/// An open CRI log file with size-based rotation.
#[derive(Debug)]
pub(crate) struct CriLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    max_files: u32,
}

impl CriLog {
    /// Opens (appending to) `path`, creating its directory.
    pub(crate) fn open(path: &Path, max_bytes: u64, max_files: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes,
            max_files,
        })
    }

    /// Appends one record, rotating first when it would not fit.
    pub(crate) fn write(
        &mut self,
        ts: DateTime<Utc>,
        stream: Stream,
        partial: bool,
        content: &[u8],
    ) -> io::Result<()> {
        let rec = format_line(ts, stream, partial, content);
        if self.max_bytes > 0 && self.size > 0 && self.size + rec.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(&rec)?;
        self.size += rec.len() as u64;
        Ok(())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files <= 1 {
            self.file.set_len(0)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.max_files - 1));
            for n in (1..self.max_files - 1).rev() {
                let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
            }
            std::fs::rename(&self.path, self.rotated(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ts() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 120_000_000).unwrap()
    }

    #[test]
    fn records_have_nanosecond_time_stream_and_tag() {
        assert_eq!(
            String::from_utf8(format_line(ts(), Stream::Stdout, false, b"hello world")).unwrap(),
            "2023-11-14T22:13:20.120000000Z stdout F hello world\n"
        );
        assert_eq!(
            String::from_utf8(format_line(ts(), Stream::Stderr, true, b"x")).unwrap(),
            "2023-11-14T22:13:20.120000000Z stderr P x\n"
        );
    }

    fn split(chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut s = LineSplitter::default();
        for c in chunks {
            s.push(c, &mut |l, p| {
                out.push((String::from_utf8_lossy(l).into_owned(), p))
            });
        }
        s.finish(&mut |l, p| out.push((String::from_utf8_lossy(l).into_owned(), p)));
        out
    }

    #[test]
    fn lines_are_joined_across_reads_and_the_tail_is_full() {
        assert_eq!(
            split(&[b"he", b"llo\nwor", b"ld\n\nend"]),
            vec![
                ("hello".into(), false),
                ("world".into(), false),
                ("".into(), false),
                ("end".into(), false)
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_into_partial_records() {
        let long = vec![b'a'; MAX_LINE * 2 + 10];
        let mut data = long.clone();
        data.push(b'\n');
        let out = split(&[&data]);
        assert_eq!(out.len(), 3);
        assert!(out[0].1 && out[1].1 && !out[2].1);
        assert_eq!(out[2].0.len(), 10);
    }

    #[test]
    fn files_rotate_by_size_keeping_max_files() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c/0.log");
        let mut log = CriLog::open(&path, 100, 3).unwrap();
        for i in 0..10 {
            log.write(ts(), Stream::Stdout, false, format!("line {i}").as_bytes())
                .unwrap();
        }
        let live = std::fs::read_to_string(&path).unwrap();
        assert!(live.ends_with("stdout F line 9\n"));
        assert!(live.len() <= 100);
        assert!(path.with_extension("log.1").exists());
        assert!(path.with_extension("log.2").exists());
        assert!(!path.with_extension("log.3").exists());
        // Reopening appends.
        let mut log = CriLog::open(&path, 0, 3).unwrap();
        log.write(ts(), Stream::Stderr, false, b"more").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with(&live));
    }
}
