//! CRI log files (`<RFC3339Nano time> <stdout|stderr> <F|P> <content>` per line) read back
//! into the container's plain output, with kubectl's options: timestamps, since, tail
//! and byte limits. `P` (partial) fragments join the next fragments up to an `F`.

use chrono::{DateTime, Utc};

/// One line of a CRI log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub time: DateTime<Utc>,
    /// The timestamp as written in the file.
    pub raw_time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> Option<CriLine<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let raw_time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or_default();
    let time = DateTime::parse_from_rfc3339(raw_time)
        .ok()?
        .with_timezone(&Utc);
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let partial = tag.split(|b| *b == b':').next() == Some(b"P");
    Some(CriLine {
        time,
        raw_time,
        stream,
        partial,
        content,
    })
}

/// What to return of a log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Prefix each line with its RFC3339Nano time.
    pub timestamps: bool,
    /// Only lines at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only the last lines.
    pub tail_lines: Option<usize>,
    /// At most this many bytes of output.
    pub limit_bytes: Option<usize>,
}

/// Turns CRI lines into output, one logical line at a time, remembering whether the last
/// fragment was partial (so a timestamp prefixes only the start of a line).
#[derive(Clone, Debug, Default)]
pub struct Renderer {
    pub timestamps: bool,
    pub since: Option<DateTime<Utc>>,
    in_partial: bool,
}

impl Renderer {
    pub fn new(opts: &ReadOptions) -> Renderer {
        Renderer {
            timestamps: opts.timestamps,
            since: opts.since,
            in_partial: false,
        }
    }

    /// Appends the output of one file line to `out`.
    pub fn render(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let Some(l) = parse_line(line) else {
            return;
        };
        if self.since.is_some_and(|s| l.time < s) {
            self.in_partial = l.partial;
            return;
        }
        if self.timestamps && !self.in_partial {
            out.extend_from_slice(
                l.time
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                    .as_bytes(),
            );
            out.push(b' ');
        }
        out.extend_from_slice(l.content);
        if !l.partial {
            out.push(b'\n');
        }
        self.in_partial = l.partial;
    }
}

/// The byte offset in `data` where the last `n` logical lines start.
pub fn tail_start(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    // Positions just after each newline that ends a full (F) line.
    let mut starts = vec![0usize];
    let mut pos = 0;
    for line in data.split_inclusive(|b| *b == b'\n') {
        pos += line.len();
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if parse_line(body).is_some_and(|l| !l.partial) {
            starts.push(pos);
        }
    }
    // starts[i] is where logical line i begins; the last entry is the end.
    let lines = starts.len() - 1;
    if lines <= n {
        0
    } else {
        starts[lines - n]
    }
}

/// The whole output of a log file's contents.
pub fn render_all(data: &[u8], opts: &ReadOptions) -> Vec<u8> {
    let start = opts.tail_lines.map_or(0, |n| tail_start(data, n));
    let mut r = Renderer::new(opts);
    let mut out = Vec::new();
    for line in data[start..].split(|b| *b == b'\n') {
        if !line.is_empty() {
            r.render(line, &mut out);
        }
    }
    if let Some(limit) = opts.limit_bytes {
        out.truncate(limit);
    }
    out
}

/// The last `max_lines` lines, at most `max_bytes`, of a log (the termination message of a
/// container with `FallbackToLogsOnError`).
pub fn tail_text(data: &[u8], max_lines: usize, max_bytes: usize) -> String {
    let out = render_all(
        data,
        &ReadOptions {
            tail_lines: Some(max_lines),
            ..Default::default()
        },
    );
    let from = out.len().saturating_sub(max_bytes);
    String::from_utf8_lossy(&out[from..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2026-01-01T00:00:01.000000001Z stdout F hello world
2026-01-01T00:00:02.5Z stderr P part one, 
2026-01-01T00:00:02.6Z stderr F part two
2026-01-01T00:00:03Z stdout F 
2026-01-01T00:00:04Z stdout F last
";

    #[test]
    fn cri_lines_parse_into_time_stream_and_content() {
        let l = parse_line(b"2026-01-01T00:00:02.5Z stderr P part one, ").unwrap();
        assert_eq!(l.stream, "stderr");
        assert!(l.partial);
        assert_eq!(l.content, b"part one, ");
        assert_eq!(l.time.timestamp_subsec_millis(), 500);
        assert!(parse_line(b"garbage").is_none());
        assert_eq!(
            parse_line(b"2026-01-01T00:00:03Z stdout F")
                .unwrap()
                .content,
            b""
        );
    }

    #[test]
    fn logs_render_as_plain_output_with_partial_lines_joined() {
        let out = render_all(LOG.as_bytes(), &ReadOptions::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "hello world\npart one, part two\n\nlast\n"
        );
    }

    #[test]
    fn timestamps_prefix_each_logical_line_once() {
        let out = render_all(
            LOG.as_bytes(),
            &ReadOptions {
                timestamps: true,
                tail_lines: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-01-01T00:00:02.500000000Z part one, part two\n2026-01-01T00:00:03.000000000Z \n2026-01-01T00:00:04.000000000Z last\n"
        );
    }

    #[test]
    fn tail_since_and_limit_select_what_kubectl_asks_for() {
        let text = |o: ReadOptions| String::from_utf8(render_all(LOG.as_bytes(), &o)).unwrap();
        assert_eq!(
            text(ReadOptions {
                tail_lines: Some(1),
                ..Default::default()
            }),
            "last\n"
        );
        assert_eq!(
            text(ReadOptions {
                tail_lines: Some(0),
                ..Default::default()
            }),
            ""
        );
        assert_eq!(
            text(ReadOptions {
                tail_lines: Some(99),
                ..Default::default()
            })
            .lines()
            .count(),
            4
        );
        let since = DateTime::parse_from_rfc3339("2026-01-01T00:00:03Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            text(ReadOptions {
                since: Some(since),
                ..Default::default()
            }),
            "\nlast\n"
        );
        assert_eq!(
            text(ReadOptions {
                limit_bytes: Some(5),
                ..Default::default()
            }),
            "hello"
        );
        assert_eq!(tail_text(LOG.as_bytes(), 2, 6), "\nlast\n");
    }
}
