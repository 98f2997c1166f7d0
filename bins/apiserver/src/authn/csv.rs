//! A small RFC 4180 reader with the behaviour of Go's `encoding/csv` as kube-apiserver uses it
//! for `--token-auth-file`: variable field counts, `"` quoting (with `""` for a quote, commas
//! and newlines allowed inside quotes), blank lines skipped, no comments, no trimming.
//!
//! Written here rather than pulling in a CSV crate: the format is a dozen rules, and owning
//! the reader lets errors carry the line numbers the start-up error must name.

/// One record and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A syntax error, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    pub line: usize,
    pub message: &'static str,
}

/// Parses the whole input.
pub fn parse(input: &str) -> Result<Vec<Record>, CsvError> {
    let normalized = input.replace("\r\n", "\n");
    let mut chars = normalized.chars().peekable();
    let mut records = Vec::new();
    let mut line = 1;
    while chars.peek().is_some() {
        if chars.peek() == Some(&'\n') {
            // Go skips empty lines.
            chars.next();
            line += 1;
            continue;
        }
        let start_line = line;
        let mut fields = Vec::new();
        loop {
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => {
                            return Err(CsvError {
                                line,
                                message: "extraneous or missing \" in quoted-field",
                            });
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') => {}
                    Some(_) => {
                        return Err(CsvError {
                            line,
                            message: "extraneous or missing \" in quoted-field",
                        });
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' || c == '\n' {
                        break;
                    }
                    if c == '"' {
                        return Err(CsvError {
                            line,
                            message: "bare \" in non-quoted-field",
                        });
                    }
                    field.push(c);
                    chars.next();
                }
            }
            fields.push(field);
            match chars.next() {
                Some(',') => continue,
                Some('\n') => {
                    line += 1;
                    break;
                }
                _ => break,
            }
        }
        records.push(Record {
            line: start_line,
            fields,
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(input: &str) -> Vec<Vec<String>> {
        parse(input)
            .expect("valid csv")
            .into_iter()
            .map(|r| r.fields)
            .collect()
    }

    #[test]
    fn plain_and_quoted_fields() {
        assert_eq!(
            fields("t1,alice,1\nt2,bob,2,\"g1,g2\"\n"),
            vec![vec!["t1", "alice", "1"], vec!["t2", "bob", "2", "g1,g2"]]
        );
        assert_eq!(
            fields("a,\"say \"\"hi\"\"\",c"),
            vec![vec!["a", "say \"hi\"", "c"]]
        );
        assert_eq!(fields("a,,\"\"\r\n"), vec![vec!["a", "", ""]]);
        assert_eq!(fields(" a , b"), vec![vec![" a ", " b"]]);
    }

    #[test]
    fn blank_lines_are_skipped_and_lines_counted() {
        let records = parse("\n\na,b,c\n\nd,\"e\nf\",g\nh").expect("valid");
        let lines: Vec<usize> = records.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 5, 7]);
        assert_eq!(records[1].fields[1], "e\nf");
    }

    #[test]
    fn quote_errors_carry_the_line() {
        assert_eq!(
            parse("a,b,c\na\"b,c,d").unwrap_err(),
            CsvError {
                line: 2,
                message: "bare \" in non-quoted-field"
            }
        );
        assert_eq!(parse("\"abc\"x,y").unwrap_err().line, 1);
        assert_eq!(
            parse("a,\"unterminated").unwrap_err().message,
            "extraneous or missing \" in quoted-field"
        );
    }
}
