//! Every bash template under `project-templates/` is registered in the
//! engine, declares its inputs, starts with strict mode, and passes
//! `shellcheck` both as a file and as the rendered script Pond would run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pond::plan::Template;
use pond::plan::template::{InputKind, TEMPLATES};

fn template_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            template_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sh") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("project-templates")
}

fn sample(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Text => "sample text with 'quotes' and $(not run)",
        InputKind::Domain => "shop.example.com",
        InputKind::ProjectName => "acme-shop",
        InputKind::EnvName => "production",
        InputKind::DbName => "acme_shop",
        InputKind::DbUser => "acme",
        InputKind::SecretPrefix => "k3v9q2x8m1zapt",
        InputKind::RepoPath => "deploy/hook.sh",
        InputKind::SharedPath => "storage",
        InputKind::WebRoot => "public",
        InputKind::HttpPath => "/health",
        InputKind::Ipv4 => "198.18.0.2",
        InputKind::DbGrants => {
            "localhost=*0123456789ABCDEF0123456789ABCDEF01234567 198.18.0.3=*0123456789ABCDEF0123456789ABCDEF01234567"
        }
        InputKind::UnixUser => "web_acme-shop_production",
        InputKind::SecretName => "APP_KEY",
    }
}

/// Runs shellcheck on a file; panics with its report on any finding.
fn shellcheck(path: &Path, extra: &[&str]) {
    let out = Command::new("shellcheck")
        .args(["--shell=bash", "--severity=style", "--external-sources"])
        .args(extra)
        .arg(path)
        .output()
        .expect("shellcheck must be installed (apt-get install shellcheck); the README's test command installs it");
    assert!(
        out.status.success(),
        "shellcheck {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_template_file_is_registered_and_every_registered_one_exists() {
    let mut files = vec![];
    template_files(&root(), &mut files);
    assert!(!files.is_empty());
    let mut on_disk: Vec<String> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap().with_extension("");
            rel.to_string_lossy().replace('\\', "/")
        })
        .collect();
    on_disk.sort();
    let mut registered: Vec<String> = TEMPLATES.iter().map(|(id, _)| id.to_string()).collect();
    registered.sort();
    assert_eq!(
        on_disk, registered,
        "project-templates/ and plan::template::TEMPLATES differ"
    );
    for (id, source) in TEMPLATES {
        let file = std::fs::read_to_string(root().join(format!("{id}.sh"))).unwrap();
        assert_eq!(&file, source, "{id} embedded text differs from the file");
    }
}

#[test]
fn every_template_passes_shellcheck_as_file_and_as_rendered() {
    let dir = tempfile::tempdir().unwrap();
    for (id, source) in TEMPLATES {
        let template = Template::parse(id, source).unwrap();
        assert!(
            !template.summary.is_empty(),
            "{id} has no `# summary:` line"
        );
        // The file alone: its inputs come from the preamble, so SC2154
        // ("referenced but not assigned") is expected there and only there.
        shellcheck(&root().join(format!("{id}.sh")), &["--exclude=SC2154"]);

        let values: BTreeMap<String, String> = template
            .inputs
            .iter()
            .map(|i| (i.name.clone(), sample(i.kind).to_string()))
            .collect();
        let script = template.render(&values).unwrap();
        let rendered = dir.path().join(format!("{}.sh", id.replace('/', "_")));
        std::fs::write(&rendered, &script.text).unwrap();
        // SC2016 flags `$(...)` inside single quotes: in the preamble that
        // literal text is exactly what quoting is for. SC2317 flags the
        // renderer's closing `exit` as unreachable after a template that
        // ends with its own exit.
        shellcheck(&rendered, &["--exclude=SC2016,SC2317"]);
    }
}

#[test]
fn hello_runs_in_real_bash_and_prints_its_inputs() {
    let template = Template::builtin("common/hello").unwrap();
    let values = BTreeMap::from([
        (
            "GREETING".to_string(),
            "hi $(touch nope) 'there'".to_string(),
        ),
        ("WHO".to_string(), "ci".to_string()),
    ]);
    let script = template.render(&values).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .args(["-s"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("hi $(touch nope) 'there'\nasked by: ci\nhost: "),
        "{stdout}"
    );
    assert!(!dir.path().join("nope").exists());
}

#[test]
fn rendering_rejects_missing_unknown_and_invalid_inputs() {
    let t = Template::parse(
        "test/x",
        "# summary: x\n# input DOMAIN [domain]: the domain\nset -euo pipefail\necho \"$DOMAIN\"\n",
    )
    .unwrap();
    let err = t.render(&BTreeMap::new()).unwrap_err().to_string();
    assert_eq!(err, "template test/x needs input DOMAIN (the domain)");
    let err = t
        .render(&BTreeMap::from([("OTHER".into(), "x".into())]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "template test/x has no input OTHER; its inputs are: DOMAIN"
    );
    let err = t
        .render(&BTreeMap::from([(
            "DOMAIN".into(),
            "a.com; rm -rf /".into(),
        )]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "input DOMAIN: \"a.com; rm -rf /\" is not valid; expected lowercase labels"
        ),
        "{err}"
    );
}

#[test]
fn templates_must_start_with_strict_mode() {
    let err = Template::parse("test/y", "# summary: y\necho hi\nset -euo pipefail\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "template test/y line 2: the first command of a template must be `set -euo pipefail`"
    );
    assert!(Template::parse("test/z", "# summary: z\n").is_err());
    let err = Template::parse("test/w", "# input lower: x\nset -euo pipefail\n").unwrap_err();
    assert!(
        err.to_string().contains("upper-case shell variable"),
        "{err}"
    );
}

/// bash's own listing of `source` as a function's body: what bash runs,
/// without comments, in its own layout.
fn as_bash_reads_it(source: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "pond_template() {{\n{source}\n}}\ndeclare -f pond_template"
        ))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_template_reads_the_same_to_bash_without_its_comments() {
    use pond::plan::report::BASH_FUNCTION;
    use pond::plan::template::without_comments;
    for (id, _) in TEMPLATES {
        let template = Template::builtin(id).unwrap();
        let text = format!("{BASH_FUNCTION}{{\n{}}}; exit\n", template.source);
        let sent = without_comments(&text);
        let body = &sent[BASH_FUNCTION.len() + 2..sent.len() - "}; exit\n".len()];
        assert!(
            body.len() < template.source.len(),
            "{id}: nothing was left out"
        );
        assert_eq!(
            as_bash_reads_it(body),
            as_bash_reads_it(&template.source),
            "{id}: bash reads it differently without its comments"
        );
    }
}

#[test]
fn comments_are_left_out_only_of_a_rendered_templates_body() {
    use pond::plan::template::without_comments;
    let template = Template::builtin("common/hello").unwrap();
    let mut values = BTreeMap::new();
    for input in &template.inputs {
        values.insert(input.name.clone(), sample(input.kind).to_string());
    }
    let mut script = template.render(&values).unwrap();
    assert!(template.inputs.iter().any(|i| i.kind == InputKind::Text));
    // An input's value keeps every line, even one that looks like a comment.
    if let Some(first) = template.inputs.iter().find(|i| i.kind == InputKind::Text) {
        values.insert(first.name.clone(), "one\n# two\n\nthree".into());
        script = template.render(&values).unwrap();
        let sent = without_comments(&script.text);
        assert!(sent.contains("one\n# two\n\nthree"), "{sent}");
    }
    assert!(without_comments(&script.text).len() < script.text.len());
    // A value that holds the preamble's end keeps it too: quoting turns its
    // `'` into `'\''`, so the body still starts after the real one.
    if let Some(first) = template.inputs.iter().find(|i| i.kind == InputKind::Text) {
        let tricky = format!(
            "{}{{\n# would be dropped\n",
            pond::plan::report::BASH_FUNCTION
        );
        values.insert(first.name.clone(), tricky);
        let script = template.render(&values).unwrap();
        assert!(
            without_comments(&script.text).contains("\n# would be dropped\n"),
            "{}",
            script.text
        );
    }
    // Not a rendered template: as it is.
    let by_hand = "# a comment\necho hi\n";
    assert_eq!(without_comments(by_hand), by_hand);
    // Here-documents keep their lines, comments and blanks included.
    let text = format!(
        "{}{{\n# gone\ncat <<'CONF'\n# kept\n\nCONF\n  # gone too\ncat <<-END\n\t# kept\n\tEND\necho x <<< '# not a here-document'\n# gone\n}}; exit\n",
        pond::plan::report::BASH_FUNCTION
    );
    let sent = without_comments(&text);
    assert!(sent.ends_with("{\ncat <<'CONF'\n# kept\n\nCONF\ncat <<-END\n\t# kept\n\tEND\necho x <<< '# not a here-document'\n}; exit\n"), "{sent}");
}
