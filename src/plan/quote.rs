//! The one shell-quoting function. Every value that reaches bash on a
//! server goes through [`quote`]; nothing else in Pond builds shell words.
//!
//! The value is wrapped in single quotes, inside which bash gives no
//! character a special meaning; a single quote itself is written as `'\''`
//! (close, escaped quote, reopen). Newlines, `$(...)`, backticks, globs and
//! Unicode all pass through unchanged. NUL cannot be represented in a bash
//! string at all, so it is refused rather than silently truncated.

/// A value that cannot be passed to bash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contains a NUL byte, which bash cannot hold in a variable")]
pub struct NulInValue;

/// Quotes `value` as one bash word that expands to exactly `value`.
pub fn quote(value: &str) -> Result<String, NulInValue> {
    if value.contains('\0') {
        return Err(NulInValue);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(out)
}

/// One preamble line: `readonly NAME=<quoted value>`. The name must already
/// be a valid input name (checked when the template is parsed).
pub fn readonly_assignment(name: &str, value: &str) -> Result<String, NulInValue> {
    Ok(format!("readonly {name}={}", quote(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_expected() {
        assert_eq!(quote("").unwrap(), "''");
        assert_eq!(quote("plain").unwrap(), "'plain'");
        assert_eq!(quote("it's").unwrap(), r"'it'\''s'");
        assert_eq!(quote("$(id)").unwrap(), "'$(id)'");
        assert_eq!(quote("a\nb").unwrap(), "'a\nb'");
        assert_eq!(quote("nul\0"), Err(NulInValue));
        assert_eq!(readonly_assignment("X", "1 2").unwrap(), "readonly X='1 2'");
    }
}
