//! SQLite binding by position. The project writes every statement with PostgreSQL's `$n` placeholders; SQLite
//! takes `$1` as a parameter *named* "$1", and finding the name of each parameter walks the statement's whole
//! list of names, so binding a statement of n values costs about n² steps. A bulk insert of 1,000 values per
//! statement spent 86 % of its time there. Before a statement goes to SQLite, each `$n` becomes an anonymous `?`
//! and the values are laid out in the order the placeholders appear, which binds in n steps.

use crate::StoreError;
use crate::db::Arg;

/// Rewrites `sql`'s `$n` placeholders (outside literals, quoted names and comments) into `?` and orders `args`
/// to match; a placeholder used twice takes its value twice. A placeholder without a value is an error, as
/// binding NULL in its place would hide a fault of the statement.
pub(crate) fn positional(sql: &str, args: Vec<Arg>) -> Result<(String, Vec<Arg>), StoreError> {
    let bytes = sql.as_bytes();
    let mut slots: Vec<Option<Arg>> = args.into_iter().map(Some).collect();
    // Where each value went first, so that a repeated placeholder can copy it.
    let mut placed: Vec<Option<usize>> = vec![None; slots.len()];
    let mut ordered = Vec::with_capacity(slots.len());
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => i = closing(bytes, i + 1, quote),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = comment_end(bytes, i + 2),
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                let number: usize = sql[i + 1..i + 1 + digits].parse().unwrap_or(0);
                let index = number
                    .checked_sub(1)
                    .filter(|&n| n < slots.len())
                    .ok_or_else(|| unbound(number, slots.len()))?;
                let value = match slots[index].take() {
                    Some(value) => {
                        placed[index] = Some(ordered.len());
                        value
                    }
                    None => placed[index]
                        .and_then(|at| ordered.get(at).cloned())
                        .ok_or_else(|| unbound(number, slots.len()))?,
                };
                ordered.push(value);
                out.push_str(&sql[copied..i]);
                out.push('?');
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok((out, ordered))
}

/// The index just past the quote that closes a literal or quoted name opened before `from` (a doubled quote
/// is part of the text).
fn closing(bytes: &[u8], mut from: usize, quote: u8) -> usize {
    while from < bytes.len() {
        if bytes[from] == quote {
            if bytes.get(from + 1) == Some(&quote) {
                from += 2;
                continue;
            }
            return from + 1;
        }
        from += 1;
    }
    bytes.len()
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| from + n + 1)
}

fn comment_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .windows(2)
        .position(|w| w == b"*/")
        .map_or(bytes.len(), |n| from + n + 2)
}

fn unbound(number: usize, given: usize) -> StoreError {
    StoreError::Database(sqlx::Error::InvalidArgument(format!(
        "the statement names ${number} but {given} value(s) were bound"
    )))
}

#[cfg(test)]
mod tests {
    use super::positional;
    use crate::db::Arg;

    fn ints(values: &[i64]) -> Vec<Arg> {
        values.iter().map(|&v| Arg::from(v)).collect()
    }

    #[test]
    fn placeholders_become_anonymous_in_the_order_they_appear() {
        let (sql, args) = positional("SELECT a FROM t WHERE b = $2 AND c IN ($1, $3)", ints(&[10, 20, 30])).unwrap();
        assert_eq!(sql, "SELECT a FROM t WHERE b = ? AND c IN (?, ?)");
        assert_eq!(args, ints(&[20, 10, 30]));
    }

    #[test]
    fn a_repeated_placeholder_takes_its_value_again() {
        let (sql, args) = positional("UPDATE t SET a = $1, b = $2 WHERE a <> $1", ints(&[7, 8])).unwrap();
        assert_eq!(sql, "UPDATE t SET a = ?, b = ? WHERE a <> ?");
        assert_eq!(args, ints(&[7, 8, 7]));
    }

    #[test]
    fn literals_quoted_names_and_comments_are_left_alone() {
        let sql = "SELECT json_extract(d, '$.a''$1'), \"$2\" -- $3\n FROM t /* $4 */ WHERE x = $10 LIMIT +$1";
        let (out, args) = positional(sql, ints(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).unwrap();
        assert_eq!(
            out,
            "SELECT json_extract(d, '$.a''$1'), \"$2\" -- $3\n FROM t /* $4 */ WHERE x = ? LIMIT +?"
        );
        assert_eq!(args, ints(&[10, 1]));
    }

    #[test]
    fn a_placeholder_without_a_value_is_refused() {
        let error = positional("SELECT $1, $3", ints(&[1, 2])).unwrap_err();
        assert!(error.to_string().contains("$3 but 2 value(s)"), "{error}");
        assert!(positional("SELECT $0", ints(&[1])).is_err());
    }

    #[test]
    fn a_dollar_without_digits_is_text() {
        let (sql, args) = positional("SELECT $a, $", vec![]).unwrap();
        assert_eq!(sql, "SELECT $a, $");
        assert!(args.is_empty());
    }
}
