//! Concatenating the shards' `chunks.csv` and `users.csv` behind a leading
//! `shard` column. Rows already carry global user ids, so they never collide;
//! the column says which machine measured each row.
//!
//! Rows are copied byte for byte, never re-encoded: a record ends at a newline
//! outside double quotes (error messages may hold quoted newlines), which a
//! byte scan ([`split_records`], the rule every reader of these tables
//! follows) finds at memory speed. That is what lets 16 shards of 100,000
//! rows merge in well under a second. A last record without its newline (a
//! writer killed mid-row) is left out and reported.

use super::{MergeError, MergeWarning};
use crate::report::format::tables::split_records;
use std::io::Write;

/// One shard's CSV file.
#[derive(Debug, Clone, Copy)]
pub struct CsvPart<'a> {
    /// How messages name the shard (its directory).
    pub label: &'a str,
    /// The shard's index, written in the `shard` column.
    pub shard: u32,
    pub bytes: &'a [u8],
}

/// Rows copied and rows cut short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConcatStats {
    pub rows: u64,
    pub warnings: Vec<MergeWarning>,
}

/// Writes the header (`shard,` + the shards' common header), then every
/// shard's rows in the order given. `file` names the file in messages.
pub fn concat_csv<W: Write>(
    out: &mut W,
    file: &str,
    parts: &[CsvPart],
) -> Result<ConcatStats, MergeError> {
    let io = |label: &str, e: std::io::Error| MergeError::Mismatch {
        label: label.to_string(),
        detail: format!("writing the merged {file}: {e}"),
    };
    let first = parts.first().ok_or(MergeError::Empty)?;
    let (first_records, _) = split_records(first.bytes);
    let header = *first_records.first().ok_or_else(|| MergeError::Header {
        label: first.label.to_string(),
        first: first.label.to_string(),
        file: file.to_string(),
        detail: "the file is empty".into(),
    })?;
    out.write_all(b"shard,").map_err(|e| io(first.label, e))?;
    out.write_all(header).map_err(|e| io(first.label, e))?;
    let mut stats = ConcatStats::default();
    let mut prefix = Vec::with_capacity(12);
    for p in parts {
        let (recs, rest) = split_records(p.bytes);
        match recs.first() {
            Some(h) if *h == header => {}
            other => {
                return Err(MergeError::Header {
                    label: p.label.to_string(),
                    first: first.label.to_string(),
                    file: file.to_string(),
                    detail: header_difference(header, other.copied().unwrap_or(b"")),
                })
            }
        }
        prefix.clear();
        prefix.extend_from_slice(itoa::Buffer::new().format(p.shard).as_bytes());
        prefix.push(b',');
        for r in &recs[1..] {
            out.write_all(&prefix).map_err(|e| io(p.label, e))?;
            out.write_all(r).map_err(|e| io(p.label, e))?;
        }
        stats.rows += recs.len() as u64 - 1;
        if !rest.is_empty() {
            stats.warnings.push(MergeWarning::CutRow {
                label: p.label.to_string(),
                file: file.to_string(),
            });
        }
    }
    Ok(stats)
}

/// One line saying where two headers part.
fn header_difference(want: &[u8], got: &[u8]) -> String {
    let cols = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .trim_end()
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let (w, g) = (cols(want), cols(got));
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            let show =
                |c: Option<&String>| c.map_or_else(|| "nothing".to_string(), |c| format!("'{c}'"));
            return format!("column {} is {}, expected {}", i + 1, show(b), show(a));
        }
    }
    "line endings differ".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"user,bytes,error\n0,10,\n1,0,\"line one\nline \"\"two\"\"\"\n";
    const B: &[u8] = b"user,bytes,error\n2,10,\n3,10,";

    #[test]
    fn rows_get_a_shard_column_and_quoted_newlines_survive() {
        let mut out = Vec::new();
        let stats = concat_csv(
            &mut out,
            "chunks.csv",
            &[
                CsvPart {
                    label: "s0",
                    shard: 0,
                    bytes: A,
                },
                CsvPart {
                    label: "s3",
                    shard: 3,
                    bytes: B,
                },
            ],
        )
        .unwrap();
        assert_eq!(stats.rows, 3);
        assert_eq!(
            stats.warnings,
            vec![MergeWarning::CutRow {
                label: "s3".into(),
                file: "chunks.csv".into()
            }]
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "shard,user,bytes,error\n0,0,10,\n0,1,0,\"line one\nline \"\"two\"\"\"\n3,2,10,\n"
        );
        let mut r = csv::Reader::from_reader(out.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[1][3], "line one\nline \"two\"");
    }

    #[test]
    fn a_different_header_is_refused_naming_the_column() {
        let c = b"user,bytez,error\n";
        let e = concat_csv(
            &mut Vec::new(),
            "users.csv",
            &[
                CsvPart {
                    label: "s0",
                    shard: 0,
                    bytes: A,
                },
                CsvPart {
                    label: "s1",
                    shard: 1,
                    bytes: c,
                },
            ],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "s1: users.csv header differs from s0's: column 2 is 'bytez', expected 'bytes'"
        );
        let e = concat_csv(
            &mut Vec::new(),
            "users.csv",
            &[CsvPart {
                label: "s0",
                shard: 0,
                bytes: b"",
            }],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "s0: users.csv header differs from s0's: the file is empty"
        );
    }

    /// Throughput of the byte copy, for the README's figure: run with
    /// `cargo test --release --lib merge::rows -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn measure_16_shards_of_100k_rows() {
        let mut shard = b"user,pass,chunk,attempt,offset,bytes,intended_us,start_us,write_us,total_us,error_kind,error\n".to_vec();
        for i in 0..100_000u64 {
            shard.extend_from_slice(
                format!(
                    "{},0,{},1,{},1048576,{},{},{},{},,\n",
                    i % 625,
                    i / 625,
                    i / 625 * 1048576,
                    i * 1000,
                    i * 1000 + 13,
                    5000 + i % 977,
                    5100 + i % 977
                )
                .as_bytes(),
            );
        }
        let parts: Vec<CsvPart> = (0..16)
            .map(|i| CsvPart {
                label: "s",
                shard: i,
                bytes: &shard,
            })
            .collect();
        let mut out = Vec::with_capacity(shard.len() * 17);
        let t0 = std::time::Instant::now();
        let stats = concat_csv(&mut out, "chunks.csv", &parts).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(stats.rows, 1_600_000);
        println!(
            "merged {} rows ({} MB) in {:.3} s: {:.2} M rows/s",
            stats.rows,
            out.len() / 1_000_000,
            secs,
            stats.rows as f64 / secs / 1e6
        );
    }
}
