//! The CSV tables of a run directory: sample files (sftp-bench's
//! `chunks.csv`, perf's `samples/*.csv`: one row per attempt, with one
//! `<phase>_us` column per phase of the workload) and sftp-bench's
//! `users.csv` (the seed's per-user table).

use super::FormatError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Sample columns before the phases. Times are microseconds since the run's
/// start; `chunk` is the step within a pass (a request for perf).
pub const SAMPLE_LEAD_COLUMNS: [&str; 8] = [
    "user",
    "pass",
    "chunk",
    "attempt",
    "offset",
    "bytes",
    "intended_us",
    "start_us",
];

/// Sample columns after the phases: the attempt's wall time in
/// microseconds, and for a failed attempt its error kind and message.
pub const SAMPLE_TAIL_COLUMNS: [&str; 3] = ["total_us", "error_kind", "error"];

/// A phase's column: its name with `_us`.
pub fn phase_column(phase: &str) -> String {
    format!("{phase}_us")
}

/// All columns of a sample file for these phases, in order.
pub fn sample_columns(phases: &[&str]) -> Vec<String> {
    let mut h: Vec<String> = SAMPLE_LEAD_COLUMNS.iter().map(|s| s.to_string()).collect();
    h.extend(phases.iter().map(|p| phase_column(p)));
    h.extend(SAMPLE_TAIL_COLUMNS.iter().map(|s| s.to_string()));
    h
}

/// One row of a sample file; times in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleRow {
    pub user: u32,
    pub pass: u64,
    pub chunk: u64,
    pub attempt: u32,
    pub offset: u64,
    /// Bytes acknowledged; 0 for a failed attempt.
    pub bytes: u64,
    pub intended_us: u64,
    pub start_us: u64,
    /// One per phase of [`SampleTable::phases`]; `None`: not part of this attempt.
    pub phases: Vec<Option<u64>>,
    pub total_us: u64,
    /// Empty for a successful attempt.
    pub error_kind: String,
    pub error: String,
}

/// A whole sample file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleTable {
    /// The phase names, from the `<phase>_us` columns between the lead and
    /// tail columns.
    pub phases: Vec<String>,
    pub rows: Vec<SampleRow>,
}

impl SampleTable {
    /// The index of a phase, by name.
    pub fn phase(&self, name: &str) -> Option<usize> {
        self.phases.iter().position(|p| p == name)
    }
}

fn csv_err(path: &Path, line: u64, what: impl Into<String>) -> FormatError {
    FormatError::Csv {
        path: path.to_path_buf(),
        line,
        what: what.into(),
    }
}

/// Splits CSV `bytes` into its complete records (each with its newline) and
/// whatever trails the last one. A record ends at a newline outside double
/// quotes (error messages may hold quoted newlines). Every table here is
/// written and flushed a row at a time, so a writer killed mid-row leaves a
/// trailing part without its newline: readers leave it out.
pub fn split_records(bytes: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                out.push(&bytes[start..=i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    (out, &bytes[start..])
}

/// The complete records of `bytes`, without a last one cut short (see
/// [`split_records`]).
pub fn complete_records(bytes: &[u8]) -> &[u8] {
    let (_, cut) = split_records(bytes);
    &bytes[..bytes.len() - cut.len()]
}

/// Reads a sample file (`path` is for errors). A last row cut short (the
/// file of a run killed mid-row) is left out.
pub fn read_samples(text: &[u8], path: &Path) -> Result<SampleTable, FormatError> {
    let mut r = csv::Reader::from_reader(complete_records(text));
    let headers = r
        .headers()
        .map_err(|e| csv_err(path, 1, e.to_string()))?
        .clone();
    let all: Vec<&str> = headers.iter().collect();
    // `xfer merge` puts the shard that measured a row in a leading column.
    let skip = usize::from(all.first() == Some(&"shard"));
    let names = &all[skip..];
    let (lead, tail) = (SAMPLE_LEAD_COLUMNS.len(), SAMPLE_TAIL_COLUMNS.len());
    if names.len() < lead + tail
        || names[..lead] != SAMPLE_LEAD_COLUMNS
        || names[names.len() - tail..] != SAMPLE_TAIL_COLUMNS
    {
        return Err(csv_err(
            path,
            1,
            format!(
                "not a sample file: expected {} ... <phase>_us ... {}",
                SAMPLE_LEAD_COLUMNS.join(","),
                SAMPLE_TAIL_COLUMNS.join(",")
            ),
        ));
    }
    let phases: Vec<String> = names[lead..names.len() - tail]
        .iter()
        .map(|c| c.strip_suffix("_us").unwrap_or(c).to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| csv_err(path, line, e.to_string()))?;
        let num = |k: usize| -> Result<u64, FormatError> {
            let s = rec.get(k + skip).unwrap_or("");
            s.parse()
                .map_err(|_| csv_err(path, line, format!("{} is not a number: '{s}'", names[k])))
        };
        // User ids and attempt numbers are u32 in the engine: a larger one
        // is a damaged file, not a value to wrap around.
        let num32 = |k: usize| -> Result<u32, FormatError> {
            let v = num(k)?;
            u32::try_from(v)
                .map_err(|_| csv_err(path, line, format!("{} is out of range: '{v}'", names[k])))
        };
        let phase_values = (lead..names.len() - tail)
            .map(|k| match rec.get(k + skip).unwrap_or("") {
                "" => Ok(None),
                _ => num(k).map(Some),
            })
            .collect::<Result<_, _>>()?;
        let t = names.len() - tail;
        rows.push(SampleRow {
            user: num32(0)?,
            pass: num(1)?,
            chunk: num(2)?,
            attempt: num32(3)?,
            offset: num(4)?,
            bytes: num(5)?,
            intended_us: num(6)?,
            start_us: num(7)?,
            phases: phase_values,
            total_us: num(t)?,
            error_kind: rec.get(skip + t + 1).unwrap_or("").to_string(),
            error: rec.get(skip + t + 2).unwrap_or("").to_string(),
        });
    }
    Ok(SampleTable { phases, rows })
}

/// The columns of `users.csv`, in order.
pub const USERS_COLUMNS: [&str; 10] = [
    "user", "start", "end", "total_s", "uploads", "upload_s", "errors", "bytes", "mb_per_s",
    "gave_up",
];

/// One row of `users.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub user: u32,
    /// Wall-clock start, RFC 3339 UTC with milliseconds; empty if it never started.
    pub start: String,
    /// Wall-clock end, as `start`.
    pub end: String,
    /// Seconds from start to end (3 decimals).
    pub total_s: f64,
    /// Chunks uploaded.
    pub uploads: u64,
    /// Seconds spent in the write phase (3 decimals).
    pub upload_s: f64,
    /// Failed attempts.
    pub errors: u64,
    /// Bytes acknowledged.
    pub bytes: u64,
    /// Decimal MB/s from start to end (3 decimals).
    pub mb_per_s: f64,
    pub gave_up: bool,
}

impl UserRow {
    /// The row's fields as written, in [`USERS_COLUMNS`] order.
    pub fn record(&self) -> [String; 10] {
        [
            self.user.to_string(),
            self.start.clone(),
            self.end.clone(),
            format!("{:.3}", self.total_s),
            self.uploads.to_string(),
            format!("{:.3}", self.upload_s),
            self.errors.to_string(),
            self.bytes.to_string(),
            format!("{:.3}", self.mb_per_s),
            self.gave_up.to_string(),
        ]
    }
}

/// Writes `users.csv`.
pub fn write_users(rows: &[UserRow]) -> std::io::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(USERS_COLUMNS)?;
    for r in rows {
        out.write_record(r.record())?;
    }
    out.into_inner().map_err(|e| e.into_error())
}

/// Reads `users.csv` by column name (`path` is for errors).
pub fn read_users(text: &[u8], path: &Path) -> Result<Vec<UserRow>, FormatError> {
    let mut r = csv::Reader::from_reader(text);
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| csv_err(path, i as u64 + 2, e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Sample, MAX_PHASES};
    use crate::report::csv_out::{Flush, SampleCsv};
    use std::time::Duration;

    #[test]
    fn sample_files_round_trip() {
        let phases = ["connect", "write", "close"];
        let mut w = SampleCsv::new(Vec::new(), &phases, Flush::EveryRow).unwrap();
        let mut want = Vec::new();
        for i in 0..3u64 {
            let mut p = [None; MAX_PHASES];
            p[1] = Some(Duration::from_micros(100 + i));
            if i == 0 {
                p[0] = Some(Duration::from_micros(40));
            }
            let failed = i == 2;
            w.write(&Sample {
                user: i as u32,
                pass: 1,
                step: i,
                attempt: 1 + i as u32,
                offset: i << 20,
                bytes: if failed { 0 } else { 1 << 20 },
                intended: Duration::from_micros(10 * i),
                started: Duration::from_micros(10 * i + 3),
                elapsed: Duration::from_micros(150 + i),
                phases: p,
                error: failed.then(|| Box::new(("write", "timed out, \"x\"".to_string()))),
            })
            .unwrap();
            want.push(SampleRow {
                user: i as u32,
                pass: 1,
                chunk: i,
                attempt: 1 + i as u32,
                offset: i << 20,
                bytes: if failed { 0 } else { 1 << 20 },
                intended_us: 10 * i,
                start_us: 10 * i + 3,
                phases: vec![(i == 0).then_some(40), Some(100 + i), None],
                total_us: 150 + i,
                error_kind: if failed {
                    "write".into()
                } else {
                    String::new()
                },
                error: if failed {
                    "timed out, \"x\"".into()
                } else {
                    String::new()
                },
            });
        }
        let text = w.into_inner().unwrap();
        let t = read_samples(&text, Path::new("chunks.csv")).unwrap();
        assert_eq!(t.phases, phases);
        assert_eq!(t.rows, want);
        assert_eq!(t.phase("write"), Some(1));

        // A merged file (`xfer merge`): a leading shard column is skipped.
        let mut merged = Vec::new();
        for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
            merged.extend_from_slice(if i == 0 { b"shard," } else { b"3," });
            merged.extend_from_slice(line);
        }
        let m = read_samples(&merged, Path::new("chunks.csv")).unwrap();
        assert_eq!((m.phases, m.rows), (t.phases, t.rows));
    }

    #[test]
    fn a_last_row_cut_short_is_left_out() {
        let phases = ["write"];
        let mut w = SampleCsv::new(Vec::new(), &phases, Flush::EveryRow).unwrap();
        for i in 0..3u64 {
            let mut p = [None; MAX_PHASES];
            p[0] = Some(Duration::from_micros(12_345 + i));
            w.write(&Sample {
                user: 0,
                pass: 0,
                step: i,
                attempt: 1,
                offset: i << 16,
                bytes: if i == 2 { 0 } else { 1 << 16 },
                intended: Duration::from_micros(1_000 * i),
                started: Duration::from_micros(1_000 * i + 7),
                elapsed: Duration::from_micros(12_400 + i),
                phases: p,
                error: (i == 2).then(|| Box::new(("write", "line one\nline two".to_string()))),
            })
            .unwrap();
        }
        let text = w.into_inner().unwrap();
        let whole = read_samples(&text, Path::new("chunks.csv")).unwrap();
        assert_eq!(whole.rows.len(), 3);
        // Cut in a number of the last row, inside its quoted message right
        // after the quoted newline, and just before its final newline.
        let last_row = text.len() - split_records(&text).0.last().unwrap().len();
        let in_message = text.windows(9).position(|w| w == b"line two\"").unwrap();
        for cut in [last_row + 10, in_message, text.len() - 1] {
            let t = read_samples(&text[..cut], Path::new("chunks.csv")).unwrap();
            assert_eq!(t.rows, whole.rows[..2], "cut at {cut}");
        }
        // Only the header, cut or whole: no rows, the phases still known.
        let header_end = text.iter().position(|&b| b == b'\n').unwrap() + 1;
        let t = read_samples(&text[..header_end], Path::new("chunks.csv")).unwrap();
        assert_eq!((t.phases.len(), t.rows.len()), (1, 0));
        assert!(read_samples(&text[..header_end - 1], Path::new("chunks.csv")).is_err());
    }

    #[test]
    fn records_end_at_newlines_outside_quotes() {
        let (recs, rest) = split_records(b"a,b\n1,\"x\ny\"\"\"\n2,");
        assert_eq!(recs, [&b"a,b\n"[..], &b"1,\"x\ny\"\"\"\n"[..]]);
        assert_eq!(rest, b"2,");
        assert_eq!(complete_records(b"a\n\"open\n"), b"a\n");
    }

    #[test]
    fn users_csv_round_trips() {
        let rows = vec![
            UserRow {
                user: 0,
                start: "2026-11-21T10:00:00.500Z".into(),
                end: "2026-11-21T10:00:02.500Z".into(),
                total_s: 2.0,
                uploads: 4,
                upload_s: 0.8,
                errors: 1,
                bytes: 4_000_000,
                mb_per_s: 2.0,
                gave_up: false,
            },
            UserRow {
                user: 1,
                start: String::new(),
                end: String::new(),
                total_s: 0.0,
                uploads: 0,
                upload_s: 0.0,
                errors: 10,
                bytes: 0,
                mb_per_s: 0.0,
                gave_up: true,
            },
        ];
        let text = write_users(&rows).unwrap();
        assert_eq!(read_users(&text, Path::new("users.csv")).unwrap(), rows);
    }

    #[test]
    fn a_user_id_past_u32_is_an_error_not_a_wrapped_id() {
        let text = format!(
            "{}\n4294967296,0,0,1,0,0,0,0,5,5,,\n",
            sample_columns(&["write"]).join(",")
        );
        let e = read_samples(text.as_bytes(), Path::new("chunks.csv")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chunks.csv: line 2: user is out of range: '4294967296'"
        );
    }

    #[test]
    fn a_file_that_is_not_a_sample_file_is_named() {
        let e = read_samples(b"a,b\n1,2\n", Path::new("x.csv")).unwrap_err();
        assert!(
            e.to_string().contains("x.csv: line 1: not a sample file"),
            "{e}"
        );
    }
}
