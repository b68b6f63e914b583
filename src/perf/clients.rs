//! Client-count lists as people type them: `1,2,4,8`, `1-8` (every integer)
//! and `1..64x2` (start, then multiply until the end), mixed freely. Parsed
//! once at the edge into a sorted list without duplicates.

/// The largest client count accepted: every client is an OS thread.
pub const MAX_CLIENTS: u32 = 10_000;

/// Why a client list was rejected; `Display` names the item and the syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientListError {
    #[error("the list is empty (e.g. 1,2,4,8 or 1-8 or 1..64x2)")]
    Empty,
    #[error("'{0}' is not a client count, a range A-B or a sequence A..BxF (e.g. 1,2,4 or 1-8 or 1..64x2)")]
    Syntax(String),
    #[error("'{0}': a client count must be at least 1")]
    Zero(String),
    #[error("'{0}': the range runs backwards (write the smaller count first)")]
    Backwards(String),
    #[error("'{0}': the factor must be at least 2")]
    Factor(String),
    #[error("'{0}': at most {MAX_CLIENTS} clients (one thread each)")]
    TooMany(String),
}

fn count(item: &str, s: &str) -> Result<u32, ClientListError> {
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| ClientListError::Syntax(item.to_string()))?;
    if n == 0 {
        return Err(ClientListError::Zero(item.to_string()));
    }
    if n > MAX_CLIENTS {
        return Err(ClientListError::TooMany(item.to_string()));
    }
    Ok(n)
}

/// Parses a client list into ascending, distinct counts.
pub fn parse_clients(s: &str) -> Result<Vec<u32>, ClientListError> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(if s.trim().is_empty() {
                ClientListError::Empty
            } else {
                ClientListError::Syntax(s.to_string())
            });
        }
        if let Some((from, rest)) = item.split_once("..") {
            let (to, factor) = rest
                .split_once(['x', '*'])
                .ok_or_else(|| ClientListError::Syntax(item.to_string()))?;
            let (from, to) = (count(item, from)?, count(item, to)?);
            let factor = count(item, factor)?;
            if factor < 2 {
                return Err(ClientListError::Factor(item.to_string()));
            }
            if to < from {
                return Err(ClientListError::Backwards(item.to_string()));
            }
            let mut n = from;
            while n <= to {
                out.push(n);
                n = n.saturating_mul(factor);
            }
        } else if let Some((from, to)) = item.split_once('-') {
            let (from, to) = (count(item, from)?, count(item, to)?);
            if to < from {
                return Err(ClientListError::Backwards(item.to_string()));
            }
            out.extend(from..=to);
        } else {
            out.push(count(item, item)?);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ranges_and_doublings_mix_sort_and_dedupe() {
        assert_eq!(parse_clients("1,2,4").unwrap(), [1, 2, 4]);
        assert_eq!(parse_clients("1-4").unwrap(), [1, 2, 3, 4]);
        assert_eq!(parse_clients("1..64x2").unwrap(), [1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(parse_clients("1..100x10").unwrap(), [1, 10, 100]);
        assert_eq!(parse_clients("3..20x2").unwrap(), [3, 6, 12]);
        assert_eq!(parse_clients("8, 1-3, 2").unwrap(), [1, 2, 3, 8]);
        assert_eq!(parse_clients("5-5").unwrap(), [5]);
    }

    #[test]
    fn nonsense_is_refused_with_the_item_named() {
        for (input, want) in [
            ("0", "at least 1"),
            ("3-1", "backwards"),
            ("x", "'x' is not a client count"),
            ("", "empty"),
            ("1,,2", "not a client count"),
            ("1..8x1", "factor"),
            ("1..8", "not a client count"),
            ("64..1x2", "backwards"),
            ("20000", "at most"),
            ("-3", "not a client count"),
        ] {
            let e = parse_clients(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
        }
    }
}
