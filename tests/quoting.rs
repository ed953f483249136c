//! Property test: any NUL-free string passed through Pond's one quoting
//! function, and through a rendered template preamble, reaches real bash
//! byte-identical, and nothing inside it is executed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pond::plan::{Template, quote};
use proptest::prelude::*;

/// Runs `script` with bash in `dir` and returns stdout.
fn bash(script: &str, dir: &Path) -> Vec<u8> {
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Strings rich in shell metacharacters, plus arbitrary Unicode.
fn hostile_string() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        any::<char>()
            .prop_filter("no NUL", |c| *c != '\0')
            .prop_map(String::from),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("$(touch canary)".to_string()),
        Just("`touch canary`".to_string()),
        Just("${IFS}".to_string()),
        Just("$((6*7))".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("; touch canary #".to_string()),
        Just("*".to_string()),
        Just("~".to_string()),
        Just("!!".to_string()),
        Just("%s%n".to_string()),
        Just("-e".to_string()),
        Just("é😀\u{202e}".to_string()),
        Just(" \t ".to_string()),
    ];
    proptest::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn quoted_values_reach_bash_unchanged(value in hostile_string()) {
        let dir = tempfile::tempdir().unwrap();
        let script = format!("readonly V={}\nprintf '%s' \"$V\"", quote(&value).unwrap());
        let out = bash(&script, dir.path());
        prop_assert_eq!(out, value.as_bytes());
        prop_assert!(!dir.path().join("canary").exists(), "something executed");
    }

    #[test]
    fn rendered_preambles_reach_bash_unchanged(a in hostile_string(), b in hostile_string()) {
        let template = Template::parse(
            "test/echo",
            "# input FIRST [text]: one\n# input SECOND [text]: two\nset -euo pipefail\nprintf '%s\\0%s' \"$FIRST\" \"$SECOND\"\n",
        ).unwrap();
        let values = BTreeMap::from([("FIRST".to_string(), a.clone()), ("SECOND".to_string(), b.clone())]);
        let script = template.render(&values).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = bash(&script.text, dir.path());
        let expected = [a.as_bytes(), b"\0", b.as_bytes()].concat();
        prop_assert_eq!(out, expected);
        prop_assert!(!dir.path().join("canary").exists(), "something executed");
    }
}

#[test]
fn nul_is_refused_not_truncated() {
    assert!(quote("a\0b").is_err());
    let template = Template::parse(
        "test/echo",
        "# input V: v\nset -euo pipefail\necho \"$V\"\n",
    )
    .unwrap();
    let err = template
        .render(&BTreeMap::from([("V".to_string(), "a\0b".to_string())]))
        .unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
}
