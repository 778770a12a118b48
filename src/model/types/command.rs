//! Commands: `command`, `entrypoint`, hook and watch `exec` commands.
//!
//! A command is a list of arguments, or a string that compose splits into
//! arguments with shell-style quoting (`echo "a b"` is `["echo", "a b"]`),
//! without running a shell: the rules are those of `go-shellwords`, which
//! compose uses. No variable or command substitution happens (`$(...)` and
//! backquotes stay in the argument as written).
//!
//! One difference, on purpose: `go-shellwords` stops at an unquoted shell
//! operator (`;`, `&`, `|`, `<`, `>`) and compose silently runs only the
//! words before it. `echo hi > /tmp/x` would run `echo hi`. muster reports
//! it instead, and shows how to run it in a shell.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::de::format_float;

/// A command as a list of arguments (a string in the file is split with
/// shell-style quoting). An empty list clears the image's own command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Command(pub Vec<String>);

impl Command {
    /// The arguments.
    #[must_use]
    pub fn args(&self) -> &[String] {
        &self.0
    }

    /// Whether the list is empty (which clears the image's command).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits a string into arguments as compose does.
    ///
    /// # Errors
    /// Unclosed quotes, a trailing backslash, an unquoted `(`/`)`, or an
    /// unquoted shell operator; the message shows the fix.
    pub fn parse(line: &str) -> Result<Self, String> {
        split(line).map(Self)
    }
}

impl From<Vec<String>> for Command {
    fn from(args: Vec<String>) -> Self {
        Self(args)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
            {
                f.write_str(arg)?;
            } else {
                write!(f, "'{}'", arg.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}

fn shell_hint(line: &str) -> String {
    format!("run it in a shell: [\"sh\", \"-c\", {line:?}]")
}

/// Splits `line` into words with `go-shellwords`' rules.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut buf = String::new();
    let mut got = false;
    let (mut escaped, mut double, mut single, mut back, mut dollar) =
        (false, false, false, false, false);
    for c in line.chars() {
        if escaped {
            escaped = false;
            if back || dollar {
                buf.push('\\');
                buf.push(c);
            } else {
                buf.push(match c {
                    't' => '\t',
                    'n' => '\n',
                    other => other,
                });
            }
            got = true;
            continue;
        }
        if c == '\\' {
            if single {
                buf.push(c);
            } else {
                escaped = true;
            }
            continue;
        }
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            if single || double || back || dollar {
                buf.push(c);
            } else if got {
                args.push(std::mem::take(&mut buf));
                got = false;
            }
            continue;
        }
        match c {
            '`' if !single && !double && !dollar => back = !back,
            ')' if !single && !double && !back => {
                if !dollar {
                    return Err(format!(
                        "invalid command {line:?}: unmatched `)`; quote it, or write the command as a list"
                    ));
                }
                buf.push(c);
                dollar = false;
                got = true;
                continue;
            }
            '(' if !single && !double && !back => {
                if !dollar && buf.ends_with('$') && !buf.ends_with("\\$") {
                    dollar = true;
                    buf.push(c);
                    continue;
                }
                return Err(format!(
                    "invalid command {line:?}: unquoted `(`; quote it, or write the command as a list"
                ));
            }
            '"' if !single && !dollar && !back => {
                if double {
                    got = true;
                }
                double = !double;
                continue;
            }
            '\'' if !double && !dollar && !back => {
                if single {
                    got = true;
                }
                single = !single;
                continue;
            }
            ';' | '&' | '|' | '<' | '>' if !(single || double || back || dollar) => {
                return Err(format!(
                    "invalid command {line:?}: `{c}` is a shell operator, and compose runs \
                     no shell for a command string (it would drop everything from `{c}` on); {}",
                    shell_hint(line)
                ));
            }
            _ => {}
        }
        got = true;
        buf.push(c);
    }
    if escaped {
        return Err(format!(
            "invalid command {line:?}: it ends with a lone backslash; remove it or escape it as \\\\"
        ));
    }
    if single || double || back || dollar {
        return Err(format!(
            "invalid command {line:?}: a quote or `$(` is not closed; close it, or write the command as a list"
        ));
    }
    if got {
        args.push(buf);
    }
    Ok(args)
}

struct CommandVisitor;

impl<'de> Visitor<'de> for CommandVisitor {
    type Value = Command;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command: a string, or a list of arguments")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
        Command::parse(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
        let mut args = Vec::new();
        while let Some(arg) = seq.next_element::<Arg>()? {
            args.push(arg.0);
        }
        Ok(Command(args))
    }
}

/// One argument in a list: numbers and booleans are taken as their text.
struct Arg(String);

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match super::de::scalar(d, "an argument (a string)")? {
            super::de::Scalar::Float(f) => Ok(Self(format_float(f))),
            other => other.into_text().map(Self).ok_or_else(|| {
                de::Error::custom("an argument is null; quote it (\"\") or remove it")
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CommandVisitor)
    }
}

impl JsonSchema for Command {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A command: a string (split into arguments with shell-style quoting, no shell is run) or a list of arguments.",
            "oneOf": [
                {"type": "null"},
                {"type": "string"},
                {"type": "array", "items": {"type": ["string", "number", "boolean"]}}
            ]
        })
    }
}

/// A healthcheck test: a string is run by the container's shell
/// (`["CMD-SHELL", s]`); a list starts with `CMD`, `CMD-SHELL` or `NONE`.
pub(crate) mod health_test {
    use serde::Deserializer;

    use super::{Command, CommandVisitor};

    struct TestVisitor;

    impl<'de> serde::de::Visitor<'de> for TestVisitor {
        type Value = Option<Vec<String>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(
                "a test: a shell command string, or a list starting with CMD, CMD-SHELL or NONE",
            )
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec!["CMD-SHELL".to_owned(), v.to_owned()]))
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let Command(args) = CommandVisitor.visit_seq(seq)?;
            match args.first().map(String::as_str) {
                None | Some("CMD" | "CMD-SHELL" | "NONE") => Ok(Some(args)),
                Some(other) => Err(serde::de::Error::custom(format!(
                    "a healthcheck test list starts with CMD, CMD-SHELL or NONE, not {other:?}; \
                     write [\"CMD\", {other:?}, ...] to run it directly, or a string to run it in a shell"
                ))),
            }
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<String>>, D::Error> {
        d.deserialize_any(TestVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_like_go_shellwords() {
        assert_eq!(words("echo \"a b\""), ["echo", "a b"]);
        assert_eq!(
            words("bundle exec thin -p 3000"),
            ["bundle", "exec", "thin", "-p", "3000"]
        );
        assert_eq!(words("  a   b  "), ["a", "b"]);
        assert_eq!(words("a 'b c' \"d 'e'\""), ["a", "b c", "d 'e'"]);
        assert_eq!(words("echo \"\" ''"), ["echo", "", ""]);
        assert_eq!(words(r"a\ b"), ["a b"]);
        assert_eq!(words(r"'a\b'"), [r"a\b"]);
        assert_eq!(words("echo $(date +%s) x"), ["echo", "$(date +%s)", "x"]);
        assert_eq!(words("echo `date +%s`"), ["echo", "`date +%s`"]);
        assert_eq!(words("sh -c 'a && b'"), ["sh", "-c", "a && b"]);
        assert_eq!(
            words("--default-authentication-plugin=mysql_native_password"),
            ["--default-authentication-plugin=mysql_native_password"]
        );
        assert!(words("").is_empty());
    }

    #[test]
    fn reports_what_compose_would_silently_drop() {
        let err = split("echo hi > /tmp/x").unwrap_err();
        assert!(
            err.starts_with("invalid command \"echo hi > /tmp/x\": `>` is a shell operator"),
            "{err}"
        );
        assert!(
            err.ends_with("run it in a shell: [\"sh\", \"-c\", \"echo hi > /tmp/x\"]"),
            "{err}"
        );
        assert!(split("a && b").is_err());
        assert!(split("echo 'unclosed").unwrap_err().contains("not closed"));
        assert!(split("echo (x)").unwrap_err().contains("unquoted `(`"));
        assert!(split("echo x\\").unwrap_err().contains("lone backslash"));
    }

    #[test]
    fn deserializes_strings_and_lists() {
        let c: Command = serde_yaml::from_str("echo \"a b\"").unwrap();
        assert_eq!(c.0, ["echo", "a b"]);
        let c: Command = serde_yaml::from_str("[sleep, 10]").unwrap();
        assert_eq!(c.0, ["sleep", "10"]);
        let c: Command = serde_yaml::from_str("[]").unwrap();
        assert!(c.is_empty());
        let c: Command = serde_yaml::from_str("''").unwrap();
        assert!(c.is_empty());
        let c: Option<Command> = serde_yaml::from_str("null").unwrap();
        assert_eq!(c, None);
        assert_eq!(
            serde_yaml::to_string(&Command(vec!["a".into()])).unwrap(),
            "- a\n"
        );
    }

    #[test]
    fn displays_quoted_when_needed() {
        let c = Command(vec!["echo".into(), "a b".into(), "it's".into()]);
        assert_eq!(c.to_string(), r"echo 'a b' 'it'\''s'");
    }
}
