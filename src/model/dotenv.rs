//! `.env` and `env_file` files, read exactly as compose reads them.
//!
//! Compose reads the project's `.env` (and `--env-file`) for interpolation
//! variables, and each service's `env_file` for its container environment,
//! with compose-go's `dotenv` parser. Users' files depend on its details, so
//! [`parse`] follows them:
//!
//! - a UTF-8 byte order mark at the start is skipped; blank lines and lines
//!   whose first non-blank character is `#` are skipped;
//! - a statement is `KEY=VALUE` or `KEY: VALUE`, optionally prefixed with
//!   `export `; blanks around the key and before the value are ignored;
//!   a key is made of letters, digits, `_`, `.`, `-`, `[` and `]`;
//! - a `KEY` alone on its line takes its value from the lookup (the process
//!   environment), and is left out when the lookup has none;
//! - an unquoted value runs to the end of the line; ` #` (a space, then `#`)
//!   starts a comment (`A=172.20.0.2#5054` keeps its `#`), trailing
//!   whitespace is dropped, and variables are expanded;
//! - a single-quoted value is literal (only `\'` is unescaped) and may span
//!   lines;
//! - a double-quoted value may span lines, has its escapes expanded (`\n`,
//!   `\t`, `\r`, `\a`, `\b`, `\f`, `\v`, `\\`, `\"`, `\$`, octal `\0NNN`;
//!   other backslashes stay), then its variables expanded;
//! - variables are expanded with [`super::interpolate`]'s forms; a name is
//!   looked up first with the lookup, then among the keys defined earlier in
//!   the file (so the environment wins, as compose-go's
//!   `TestSubstitutionsWithEnvFilePrecedence` requires).
//!
//! [`parse_raw`] reads `format: raw` files the way `docker run --env-file`
//! does: each line verbatim.
//!
//! Differences from compose-go, on purpose: a `KEY` alone on the last line
//! with no line break after it is looked up like any other (compose-go reads
//! it as the value of an empty key); a key containing any whitespace is
//! refused (compose-go only refuses a plain space); an unterminated quoted
//! value is reported at the line where it starts (compose-go reports the
//! file's last line).

use indexmap::IndexMap;

use super::interpolate;

/// An error in a .env file: 1-based line, and a message saying what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DotenvError {
    /// 1-based line where the problem is.
    pub line: usize,
    /// What is wrong, and how to fix it.
    pub message: String,
}

/// Parses a .env file.
///
/// `lookup` answers variables referenced in values (`${VAR}`, `$VAR`) and
/// keys written alone on their line; it is the process environment in
/// practice. A referenced variable is looked up there first, then among the
/// keys defined earlier in the same file (compose-go's precedence). Returns
/// entries in file order; a key defined twice keeps its first place and its
/// last value.
///
/// # Errors
/// A line that is not a statement (`lol$wut`, `INVALID LINE`), an
/// unterminated quoted value, or a malformed variable reference or missing
/// `${VAR:?}` variable in a value.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut lines = Lines::new(src);
    let mut pos = 0;
    while let Some(start) = statement_start(src, pos) {
        let line = lines.at(start);
        let mut p = start;
        if has_export_prefix(&src[p..]) {
            p += "export".len();
            p = skip_blanks(src, p);
        }
        let key_start = p;
        let (raw_key, after, inherited) = scan_key(src, key_start, line)?;
        let key = raw_key.trim_end();
        if key.chars().any(char::is_whitespace) {
            return Err(DotenvError {
                line,
                message: format!(
                    "key {key:?} cannot contain a space: write KEY=VALUE, with quotes around a value that has spaces"
                ),
            });
        }
        if inherited {
            if let Some(value) = lookup(key) {
                out.insert(key.to_owned(), value);
            }
            pos = after;
            continue;
        }
        let value_start = skip_blanks(src, after);
        let value_line = lines.at(value_start);
        let (value, rest) = extract_value(src, value_start, value_line, key, &out, lookup)?;
        out.insert(key.to_owned(), value);
        pos = rest;
    }
    Ok(out)
}

/// `format: raw` env_file: each non-empty, non-comment line KEY=VALUE taken verbatim (no quotes processing, no interpolation).
///
/// This is `docker run --env-file`'s format, which docker compose uses for
/// `format: raw`: leading whitespace is dropped, everything after the first
/// `=` is the value (trailing whitespace included), and a `KEY` without `=`
/// is left out (see [`parse_raw_with_lookup`] to look it up instead).
///
/// # Errors
/// A line with no name before `=`, or a name containing whitespace.
pub fn parse_raw(text: &str) -> Result<IndexMap<String, String>, DotenvError> {
    parse_raw_with_lookup(text, &|_| None)
}

/// [`parse_raw`], where a `KEY` without `=` takes its value from `lookup`
/// (and is left out when `lookup` has none), as `docker run --env-file`
/// does with the process environment.
///
/// # Errors
/// As [`parse_raw`].
pub fn parse_raw_with_lookup(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = IndexMap::new();
    for (i, raw) in src.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(DotenvError {
                line: i + 1,
                message: format!("no variable name before \"=\" in {line:?}: write KEY=VALUE"),
            });
        }
        if key.contains([' ', '\t']) {
            return Err(DotenvError {
                line: i + 1,
                message: format!(
                    "variable {key:?} contains whitespace: remove it (in a raw env file, the value starts right after \"=\")"
                ),
            });
        }
        match value {
            Some(v) => {
                out.insert(key.to_owned(), v.to_owned());
            }
            None => {
                if let Some(v) = lookup(key) {
                    out.insert(key.to_owned(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Blanks that separate tokens on a line: not line breaks (compose-go's
/// `isSpace`).
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

fn skip_blanks(src: &str, pos: usize) -> usize {
    let rest = src.get(pos..).unwrap_or("");
    pos + rest.len() - rest.trim_start_matches(is_blank).len()
}

/// Where the next statement starts at or after `pos`: skips whitespace
/// (line breaks included) and comment lines. `None` at the end of the text.
fn statement_start(src: &str, mut pos: usize) -> Option<usize> {
    loop {
        let rest = src.get(pos..)?;
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            return None;
        }
        pos += rest.len() - trimmed.len();
        if !trimmed.starts_with('#') {
            return Some(pos);
        }
        pos += trimmed.find('\n')?;
    }
}

/// Whether `s` starts with `export` and whitespace (`^export\s+`).
fn has_export_prefix(s: &str) -> bool {
    s.strip_prefix("export")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}'))
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

/// Reads a key starting at `start`: returns it (untrimmed), the offset just
/// past its terminator, and whether it stands alone (ended by a line break
/// or the end of the text, so its value is looked up).
fn scan_key(src: &str, start: usize, line: usize) -> Result<(&str, usize, bool), DotenvError> {
    let rest = src.get(start..).unwrap_or("");
    for (i, c) in rest.char_indices() {
        match c {
            '=' | ':' => return Ok((&rest[..i], start + i + 1, false)),
            '\n' => return Ok((&rest[..i], start + i + 1, true)),
            c if is_blank(c) || is_key_char(c) => {}
            c => {
                let text = rest.split('\n').next().unwrap_or(rest).trim_end();
                return Err(DotenvError {
                    line,
                    message: format!(
                        "unexpected character \"{c}\" in variable name {text:?}: a line must be KEY=VALUE \
                         (or KEY alone, to pass it from the environment), where KEY has only letters, \
                         digits, \"_\", \".\", \"-\", \"[\" and \"]\""
                    ),
                });
            }
        }
    }
    Ok((rest, src.len(), true))
}

/// Reads the value starting at `start`; returns it and the offset where the
/// next statement may start.
fn extract_value(
    src: &str,
    start: usize,
    line: usize,
    key: &str,
    earlier: &IndexMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), DotenvError> {
    let rest = src.get(start..).unwrap_or("");
    let expand = |value: &str| expand_variables(value, key, line, earlier, lookup);
    let quote = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => {
            let (raw, next) = match rest.find('\n') {
                Some(nl) => (&rest[..nl], start + nl + 1),
                None => (rest, src.len()),
            };
            let raw = raw.split_once(" #").map_or(raw, |(v, _)| v).trim_end();
            return Ok((expand(raw)?, next));
        }
    };
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        if escaped {
            escaped = false;
            // `\"` (or `\'` in single quotes) is the quote itself; any other
            // escape is kept for the next step.
            if c != quote {
                value.push('\\');
            }
            value.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            c if c == quote => {
                let next = start + i + c.len_utf8();
                if quote == '"' {
                    return Ok((expand(&expand_escapes(&value))?, next));
                }
                return Ok((value, next));
            }
            c => value.push(c),
        }
    }
    let shown = rest.split('\n').next().unwrap_or(rest).trim_end();
    Err(DotenvError {
        line,
        message: format!(
            "unterminated quoted value {shown} (for {key}): add the closing {quote} (a quote inside the value is written \\{quote})"
        ),
    })
}

fn expand_variables(
    value: &str,
    key: &str,
    line: usize,
    earlier: &IndexMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, DotenvError> {
    if !value.contains('$') {
        return Ok(value.to_owned());
    }
    let resolve = |name: &str| lookup(name).or_else(|| earlier.get(name).cloned());
    interpolate::interpolate(value, &resolve)
        .map(|done| done.value)
        .map_err(|e| DotenvError {
            line,
            message: format!(
                "in the value of {key}: {} (write $$ or \\$ for a literal $, or single-quote the value)",
                e.message
            ),
        })
}

/// Expands the escapes of a double-quoted value, as compose-go does (the
/// POSIX `echo` escapes; `\$` becomes `$$`, which expansion then turns into
/// a literal `$`). Unknown escapes keep their backslash.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.peek() else {
            out.push('\\');
            break;
        };
        let replacement = match next {
            'a' => "\u{7}",
            'b' => "\u{8}",
            'f' => "\u{c}",
            'n' => "\n",
            'r' => "\r",
            't' => "\t",
            'v' => "\u{b}",
            '\\' => "\\",
            '"' => "\"",
            '$' => "$$",
            'c' => "\\c",
            '0' => {
                chars.next();
                let mut digits = String::new();
                while digits.len() < 3 {
                    match chars.peek() {
                        Some(&d) if d.is_ascii_digit() => {
                            digits.push(d);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                match octal_char(&digits) {
                    Some(ch) => out.push(ch),
                    None => {
                        // compose-go drops the `0` of an escape it cannot read.
                        out.push('\\');
                        out.push_str(&digits);
                    }
                }
                continue;
            }
            _ => {
                // Not an escape: the backslash stays, the next character is
                // read normally.
                out.push('\\');
                continue;
            }
        };
        chars.next();
        out.push_str(replacement);
    }
    out
}

/// `NNN` (three octal digits, at most 0o377) as a character.
fn octal_char(digits: &str) -> Option<char> {
    if digits.len() != 3 {
        return None;
    }
    let v = u32::from_str_radix(digits, 8).ok()?;
    if v > 0o377 {
        return None;
    }
    char::from_u32(v)
}

/// 1-based line numbers of byte offsets, for offsets met in increasing order.
struct Lines<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            line: 1,
        }
    }

    fn at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.src.len());
        if pos < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        let between = self.src.as_bytes().get(self.pos..pos).unwrap_or(&[]);
        self.line += between.iter().filter(|&&b| b == b'\n').count();
        self.pos = pos;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse_with(
        text: &str,
        env: &[(&str, &str)],
    ) -> Result<IndexMap<String, String>, DotenvError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(text, &|k| env.get(k).cloned())
    }

    fn get(text: &str, key: &str) -> String {
        let map = parse(text, &no_env).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        map.get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{text:?}: no key {key:?} in {map:?}"))
    }

    /// (input, key, value), from compose-go's `TestParsing` and friends.
    const VALUES: &[(&str, &str, &str)] = &[
        ("FOO=bar", "FOO", "bar"),
        ("FOO =bar", "FOO", "bar"),
        ("FOO= bar", "FOO", "bar"),
        ("FOO=\"bar\"", "FOO", "bar"),
        ("FOO='bar'", "FOO", "bar"),
        (r#"FOO="escaped\"bar""#, "FOO", "escaped\"bar"),
        (r#"FOO="\"quoted\"""#, "FOO", "\"quoted\""),
        (r#"FOO="'d'""#, "FOO", "'d'"),
        ("OPTION_A: 1", "OPTION_A", "1"),
        ("OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
        ("OPTION_A=1:B", "OPTION_A", "1:B"),
        ("export OPTION_A=2", "OPTION_A", "2"),
        (r"export OPTION_B='\n'", "OPTION_B", "\\n"),
        ("export exportFoo=2", "exportFoo", "2"),
        ("exportFOO=2", "exportFOO", "2"),
        ("export_FOO =2", "export_FOO", "2"),
        ("export.FOO= 2", "export.FOO", "2"),
        ("export\tOPTION_A=2", "OPTION_A", "2"),
        ("  export OPTION_A=2", "OPTION_A", "2"),
        ("\texport OPTION_A=2", "OPTION_A", "2"),
        ("export OPTION_A=\"export A\"", "OPTION_A", "export A"),
        (r#"FOO="bar\nbaz""#, "FOO", "bar\nbaz"),
        (r"FOO=a\tb", "FOO", "a\\tb"),
        (r#"FOO="a\tb""#, "FOO", "a\tb"),
        (
            r#"KEY="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z""#,
            "KEY",
            "Z\u{7}Z\u{8}Z\u{c}Z\nZ\rZ\tZ\u{b}Z\\ZSZ",
        ),
        ("FOO.BAR=foobar", "FOO.BAR", "foobar"),
        ("FOO=foobar=", "FOO", "foobar="),
        ("FOO=bar ", "FOO", "bar"),
        ("FOO=bar # this is foo", "FOO", "bar"),
        ("FOO=bar #this is foo", "FOO", "bar"),
        ("FOO=bar #", "FOO", "bar"),
        (
            "FOO=123#not-an-inline-comment",
            "FOO",
            "123#not-an-inline-comment",
        ),
        ("A=172.20.0.2#5054", "A", "172.20.0.2#5054"),
        ("FOO= #starts-with-hash", "FOO", "#starts-with-hash"),
        (
            "FOO=bar\t#tab-is-not-a-comment",
            "FOO",
            "bar\t#tab-is-not-a-comment",
        ),
        (r#"FOO="bar#baz""#, "FOO", "bar#baz"),
        (r##"FOO="bar#baz"#"##, "FOO", "bar#baz"),
        (r#"FOO="bar#baz" # comment"#, "FOO", "bar#baz"),
        ("FOO='bar#baz' # comment", "FOO", "bar#baz"),
        (r#"FOO="bar#baz#bang" # comment"#, "FOO", "bar#baz#bang"),
        (r#"FOO="ba#r""#, "FOO", "ba#r"),
        ("FOO='ba#r'", "FOO", "ba#r"),
        (r#"FOO="bar\n\ b\az""#, "FOO", "bar\n\\ b\u{7}z"),
        (r#"FOO="bar\\\n\ b\az""#, "FOO", "bar\\\n\\ b\u{7}z"),
        (r#"FOO="bar\\r\ b\az""#, "FOO", "bar\\r\\ b\u{7}z"),
        (r#"FOO="bar\nbaz\\""#, "FOO", "bar\nbaz\\"),
        (r#"="value""#, "", "value"),
        (" KEY =value", "KEY", "value"),
        ("   KEY=value", "KEY", "value"),
        ("\tKEY=value", "KEY", "value"),
        (r#"KEY="\0123""#, "KEY", "S"),
        (r#"KEY="\0""#, "KEY", "\\"),
        (r#"KEY="\012""#, "KEY", "\\12"),
        (r#"KEY="\0777""#, "KEY", "\\777"),
        (r#"KEY="\0101BC""#, "KEY", "ABC"),
        (r#"KEY="\x07""#, "KEY", "\\x07"),
        (r#"KEY="\u12e4""#, "KEY", "\\u12e4"),
        (r#"KEY="\U00101234""#, "KEY", "\\U00101234"),
        (r#"KEY="\c""#, "KEY", "\\c"),
        (r"KEY='it\'s'", "KEY", "it's"),
        (r"KEY='a\b\\c'", "KEY", "a\\b\\\\c"),
        ("KEY=", "KEY", ""),
        ("KEY=   ", "KEY", ""),
        ("KEY=''", "KEY", ""),
        ("KEY=\"\"", "KEY", ""),
        ("KEY=été", "KEY", "été"),
        ("ÉTÉ=1", "ÉTÉ", "1"),
        ("KEY=\"é\\né\"", "KEY", "é\né"),
        ("VAR-WITH-DASHES=x", "VAR-WITH-DASHES", "x"),
        ("arr[0]=x", "arr[0]", "x"),
        ("KEY=a\r\nB=c", "KEY", "a"),
        ("KEY=\"a\"\r\nB=c", "B", "c"),
        // multi-line quoted values
        (
            "TEST_URLS=\"stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443\"",
            "TEST_URLS",
            "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443",
        ),
        ("KEY='one\ntwo'\nNEXT=1", "KEY", "one\ntwo"),
        // expansion
        ("FOO=test\nBAR=$FOO", "BAR", "test"),
        ("FOO=test\nBAR=${FOO}bar", "BAR", "testbar"),
        ("BAR=$FOO", "BAR", ""),
        ("FOO=test\nBAR=\"quote $FOO\"", "BAR", "quote test"),
        ("BAR='quote $FOO'", "BAR", "quote $FOO"),
        (r#"FOO="foo\$BAR""#, "FOO", "foo$BAR"),
        (r#"FOO="foo\${BAR}""#, "FOO", "foo${BAR}"),
        (
            "FOO=test\nBAR=\"foo\\${FOO} ${FOO}\"",
            "BAR",
            "foo${FOO} test",
        ),
        ("FOO=$$BAR", "FOO", "$BAR"),
        ("FOO=$(date)", "FOO", "$(date)"),
        ("A=1\nB=${A:-2}${C:-3}", "B", "13"),
        ("A=\nB=${A-x}${A:-y}", "B", "y"),
        ("A=1\nB=${A:+set}", "B", "set"),
        ("FOO=later\nFOO=${FOO}-again", "FOO", "later-again"),
    ];

    #[test]
    fn values() {
        for (input, key, value) in VALUES {
            assert_eq!(get(input, key), *value, "{input:?}");
        }
    }

    #[test]
    fn lines_to_ignore() {
        for input in [
            "",
            "\n",
            "\r\n",
            "\t\t ",
            "# Comment",
            "\t # comment",
            "#a\n#b\n\n",
            "\u{feff}",
        ] {
            assert_eq!(parse(input, &no_env), Ok(IndexMap::new()), "{input:?}");
        }
    }

    #[test]
    fn order_is_file_order() {
        let map = parse("B=1\nA=2\n# c\nC: 3\nB=4\n", &no_env).expect("parses");
        let entries: Vec<(&str, &str)> =
            map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(entries, [("B", "4"), ("A", "2"), ("C", "3")]);
    }

    #[test]
    fn lookup_wins_over_earlier_values() {
        let map =
            parse_with("A=1\nB=${A}\nC=$OTHER\n", &[("A", "5"), ("OTHER", "o")]).expect("parses");
        assert_eq!(map.get("A").map(String::as_str), Some("1"));
        assert_eq!(map.get("B").map(String::as_str), Some("5"));
        assert_eq!(map.get("C").map(String::as_str), Some("o"));
        // TestExpandingEnvironmentWithLookup
        let map = parse_with("TEST=$ME", &[("ME", "YES")]).expect("parses");
        assert_eq!(map.get("TEST").map(String::as_str), Some("YES"));
    }

    #[test]
    fn keys_alone_are_looked_up() {
        let env = [("HOME_DIR", "/home/me"), ("EMPTY", "")];
        let map = parse_with("HOME_DIR\nNOT_SET\nEMPTY\n  SPACED  \nLAST", &env).expect("parses");
        let entries: Vec<(&str, &str)> =
            map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(entries, [("HOME_DIR", "/home/me"), ("EMPTY", "")]);
        let map = parse_with("A=1\nLAST", &[("LAST", "x")]).expect("parses");
        assert_eq!(map.get("LAST").map(String::as_str), Some("x"));
        // a key alone is not answered from earlier lines
        let map = parse_with("A=1\nA\n", &[]).expect("parses");
        assert_eq!(map.get("A").map(String::as_str), Some("1"));
    }

    /// (input, line, start of the message)
    const ERRORS: &[(&str, usize, &str)] = &[
        (
            "lol$wut",
            1,
            "unexpected character \"$\" in variable name \"lol$wut\"",
        ),
        (
            "A=1\n\nINVALID LINE\n",
            3,
            "key \"INVALID LINE\" cannot contain a space",
        ),
        ("A B=1", 1, "key \"A B\" cannot contain a space"),
        ("A\tB=1", 1, "key \"A\\tB\" cannot contain a space"),
        ("KEY=\"", 1, "unterminated quoted value \""),
        ("KEY=\"value", 1, "unterminated quoted value \"value"),
        ("KEY=\"value\\\"", 1, "unterminated quoted value"),
        ("KEY=\"value'", 1, "unterminated quoted value"),
        ("KEY='", 1, "unterminated quoted value '"),
        ("KEY='value", 1, "unterminated quoted value"),
        ("KEY='value\\'", 1, "unterminated quoted value"),
        ("KEY='value\"", 1, "unterminated quoted value"),
        (
            "A=1\nB=\"open\nstill open\n",
            2,
            "unterminated quoted value \"open (for B)",
        ),
        (
            "A=1\nB=${}",
            2,
            "in the value of B: Invalid template: empty variable name",
        ),
        (
            "A=\"x\n${NOPE:?needed}\"",
            1,
            "in the value of A: required variable NOPE is missing a value: needed",
        ),
        ("# c\n  ${X}=1", 2, "unexpected character \"$\""),
        ("K=v\n\"Q\"=1", 2, "unexpected character \"\"\""),
    ];

    #[test]
    fn errors() {
        for (input, line, message) in ERRORS {
            let err = parse(input, &no_env).expect_err(input);
            assert_eq!(err.line, *line, "{input:?}: {err}");
            assert!(
                err.message.starts_with(message),
                "{input:?}: {:?}",
                err.message
            );
            assert!(err.to_string().starts_with(&format!("line {line}: ")));
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for input in [
            "\u{feff}",
            "=",
            ":",
            "\"",
            "'",
            "export",
            "export ",
            "export\n",
            "A=\\",
            "A=\"\\",
            "A=\"\\0",
            "A=\"\\01",
            "A=\"é\\",
            "é",
            "A=é\u{a0}",
            "\u{85}A=1",
            "A\u{a0}=1",
            "A=${",
            "A=\"${\"",
            "\n\n\n\"",
        ] {
            let _ = parse(input, &no_env);
            let _ = parse_raw(input);
        }
    }

    #[test]
    fn raw_format() {
        let map = parse_raw(
            "\u{feff}# comment\n  A=1\nB= spaced value  \nC=\"quoted\" # not a comment\nD=$HOME ${X}\nE=\nF=a=b\nALONE\r\nG=crlf\r\n\n",
        )
        .expect("parses");
        let entries: Vec<(&str, &str)> =
            map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            entries,
            [
                ("A", "1"),
                ("B", " spaced value  "),
                ("C", "\"quoted\" # not a comment"),
                ("D", "$HOME ${X}"),
                ("E", ""),
                ("F", "a=b"),
                ("G", "crlf"),
            ]
        );
        let map = parse_raw_with_lookup("ALONE\nMISSING\n", &|k| {
            (k == "ALONE").then(|| "v".to_owned())
        })
        .expect("parses");
        assert_eq!(map.get("ALONE").map(String::as_str), Some("v"));
        assert!(!map.contains_key("MISSING"));

        let err = parse_raw("A=1\n=x\n").expect_err("no name");
        assert_eq!(err.line, 2);
        let err = parse_raw("A=1\n\nB C=x\n").expect_err("space in name");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("\"B C\""), "{}", err.message);
    }

    // ---- compose-go's fixtures -------------------------------------------

    fn fixtures() -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/compose-go/dotenv/fixtures");
        assert!(
            dir.is_dir(),
            "compose-go dotenv fixtures missing at {}",
            dir.display()
        );
        dir
    }

    fn read_fixture(name: &str) -> String {
        let path = fixtures().join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn fixture(name: &str, env: &[(&str, &str)]) -> IndexMap<String, String> {
        parse_with(&read_fixture(name), env).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn assert_values(name: &str, map: &IndexMap<String, String>, want: &[(&str, &str)]) {
        for (k, v) in want {
            let got = map.get(*k).map(|s| s.replace("\r\n", "\n"));
            assert_eq!(got.as_deref(), Some(*v), "{name}: {k}");
        }
    }

    #[test]
    fn fixture_plain() {
        // TestLoadPlainEnv / TestReadPlainEnv
        let map = fixture("plain.env", &[]);
        let want = [
            ("OPTION_A", "1"),
            ("OPTION_B", "2"),
            ("OPTION_C", "3"),
            ("OPTION_D", "4"),
            ("OPTION_E", "5"),
            ("OPTION_F", ""),
            ("OPTION_G", ""),
            ("OPTION_H", "my string"),
        ];
        assert_values("plain.env", &map, &want);
        // compose-go's `Read` drops keys starting with a digit; the parser
        // compose's loader uses (`ParseWithLookup`) keeps them.
        assert_eq!(map.get("456").map(String::as_str), Some("ABC"));
        assert_eq!(map.len(), want.len() + 1);
    }

    #[test]
    fn fixture_exported() {
        let map = fixture("exported.env", &[]);
        assert_values(
            "exported.env",
            &map,
            &[("OPTION_A", "2"), ("OPTION_B", "\\n")],
        );
    }

    #[test]
    fn fixture_equals() {
        let map = fixture("equals.env", &[]);
        assert_values(
            "equals.env",
            &map,
            &[(
                "OPTION_A",
                "postgres://localhost:5432/database?sslmode=disable",
            )],
        );
    }

    #[test]
    fn fixture_quoted() {
        let map = fixture("quoted.env", &[]);
        assert_values(
            "quoted.env",
            &map,
            &[
                ("OPTION_A", "1"),
                ("OPTION_B", "2"),
                ("OPTION_C", ""),
                ("OPTION_D", "\\n"),
                ("OPTION_E", "1"),
                ("OPTION_F", "2"),
                ("OPTION_G", ""),
                ("OPTION_H", "\n"),
                ("OPTION_I", "echo 'asd'"),
                ("OPTION_J", "first line\nsecond line\nthird line\nand so on"),
                ("OPTION_K", "Let's go!"),
                ("OPTION_Z", "last value"),
            ],
        );
    }

    #[test]
    fn fixture_unquoted() {
        let map = fixture("unquoted.env", &[]);
        assert_values(
            "unquoted.env",
            &map,
            &[
                ("OPTION_A", "some quoted phrase"),
                ("OPTION_B", "first one with an unquoted phrase"),
                ("OPTION_C", "then another one with an unquoted phrase"),
                (
                    "OPTION_D",
                    "then another one with an unquoted phrase special è char",
                ),
                ("OPTION_E", "then another one quoted phrase"),
            ],
        );
    }

    #[test]
    fn fixture_substitutions() {
        // TestSubstitutions
        let map = fixture("substitutions.env", &[]);
        let want = [
            ("OPTION_A", "1"),
            ("OPTION_B", "1"),
            ("OPTION_C", "1"),
            ("OPTION_D", "1_1"),
            ("OPTION_E", ""),
        ];
        assert_values("substitutions.env", &map, &want);
        assert_eq!(map.len(), want.len());
        // TestSubstitutionsWithEnvFilePrecedence: the environment wins in
        // references, the file's own definition stays.
        let map = fixture("substitutions.env", &[("OPTION_A", "5")]);
        let want = [
            ("OPTION_A", "1"),
            ("OPTION_B", "5"),
            ("OPTION_C", "5"),
            ("OPTION_D", "5_5"),
            ("OPTION_E", ""),
        ];
        assert_values("substitutions.env with OPTION_A=5", &map, &want);
        assert_eq!(map.len(), want.len());
    }

    #[test]
    fn fixture_substitutions_default() {
        // TestSubstitutionsWithEnvFileDefaultValuePrecedence
        let map = fixture("substitutions-default.env", &[("OPTION_A", "5")]);
        let want = [
            ("OPTION_A", "5"),
            ("OPTION_B", "5"),
            ("OPTION_C", "5"),
            ("OPTION_D", "5_5"),
            ("OPTION_E", ""),
        ];
        assert_values("substitutions-default.env with OPTION_A=5", &map, &want);
        assert_eq!(map.len(), want.len());
        // TestSubstitutionsWithUnsetVarEnvFileDefaultValuePrecedence
        let map = fixture("substitutions-default.env", &[]);
        let want = [
            ("OPTION_A", "1"),
            ("OPTION_B", "1"),
            ("OPTION_C", "1"),
            ("OPTION_D", "1_1"),
            ("OPTION_E", ""),
        ];
        assert_values("substitutions-default.env", &map, &want);
        assert_eq!(map.len(), want.len());
    }

    #[test]
    fn fixture_inherited() {
        const KEY: &str = "VAR_TO_BE_LOADED_FROM_OS_ENV";
        const VAL: &str = "SOME_RANDOM_VALUE";
        // TestInheritedEnvVariableSameSize
        let map = fixture("inherited-multi-var.env", &[(KEY, VAL)]);
        let want = [(KEY, VAL), ("foo", "bar"), ("bar", "baz")];
        assert_values("inherited-multi-var.env", &map, &want);
        assert_eq!(map.len(), want.len());
        // TestInheritedEnvVariableSingleVar
        let map = fixture("inherited-single-var.env", &[(KEY, VAL)]);
        assert_values("inherited-single-var.env", &map, &[(KEY, VAL)]);
        assert_eq!(map.len(), 1);
        // TestInheritedEnvVariableNotFound(WithLookup)
        let asked = RefCell::new(Vec::new());
        let map = parse(&read_fixture("inherited-not-found.env"), &|k| {
            asked.borrow_mut().push(k.to_owned());
            None
        })
        .expect("no error");
        assert!(!map.contains_key("VARIABLE_NOT_FOUND"));
        assert!(asked.borrow().iter().any(|k| k == "VARIABLE_NOT_FOUND"));
    }

    #[test]
    fn fixture_invalid() {
        // TestErrorParsing
        let err =
            parse(&read_fixture("invalid1.env"), &no_env).expect_err("invalid1.env must fail");
        assert_eq!(err.line, 7);
        assert!(err.message.contains("cannot contain a space"), "{err}");
    }

    #[test]
    fn fixture_utf8_bom() {
        let text = read_fixture("utf8-bom.env");
        assert!(text.starts_with('\u{feff}'), "fixture lost its BOM");
        let map = parse(&text, &no_env).expect("parses");
        assert_values(
            "utf8-bom.env",
            &map,
            &[
                ("OPTION_A", "1"),
                ("OPTION_B", "2"),
                ("OPTION_C", "3"),
                ("OPTION_D", "4"),
                ("OPTION_E", "5"),
            ],
        );
    }

    #[test]
    fn fixture_special() {
        // TestDash
        let map = fixture("special.env", &[]);
        assert_values(
            "special.env",
            &map,
            &[
                ("VAR-WITH-DASHES", "dashes"),
                ("VAR.WITH.DOTS", "dots"),
                ("VAR_WITH_UNDERSCORES", "underscores"),
            ],
        );
    }

    #[test]
    fn fixture_custom_format_reads_as_yaml_style() {
        // TestLoadWithFormat reads this with a custom parser; the default
        // parser's `KEY: VALUE` form gives the same pairs.
        let map = fixture("custom.format", &[]);
        assert_values("custom.format", &map, &[("FOO", "BAR"), ("ZOT", "QIX")]);
    }
}
