//! App secrets (`pond secret`): values a config template uses as
//! `{{ secrets.NAME }}`, kept on each web server of the environment in
//! `config/secrets/NAME` (`root:<site group>` 0640, `common/secret`) and
//! filled in there at deploy time. A value set by the user goes to the
//! servers on the script's stdin (never in argv or a rendered script);
//! one generated is made on the first web server and copied to the others
//! (and to droplets `pond scale` adds) through this process's memory only.
//! Nothing here prints or stores a value.

use anyhow::{Context, bail};

use super::Connected;
use super::execute::{self, Step};
use crate::config::{DropletRole, Environment, ProjectFile, grammar};
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

/// A secret as one server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    pub name: String,
    /// When it was set (UTC, RFC 3339).
    pub set_at: String,
}

/// How `generate` makes a value.
#[derive(Debug, Clone, Copy)]
pub struct Generate {
    /// Random bytes (16 to 256).
    pub bytes: u32,
    /// Base64 instead of hex.
    pub base64: bool,
    /// Replace a secret that is already set.
    pub replace: bool,
}

/// The largest value `set` takes.
pub const MAX_VALUE: usize = 64 * 1024;

/// A value `set` can store and the servers can copy and fill in exactly:
/// text without NUL, at most [`MAX_VALUE`] bytes.
pub fn check_value(name: &str, value: &[u8]) -> anyhow::Result<()> {
    if value.len() > MAX_VALUE {
        bail!(
            "the value of {name} is {} bytes; at most {MAX_VALUE}",
            value.len()
        );
    }
    if std::str::from_utf8(value).is_err() || value.contains(&0) {
        bail!("the value of {name} is not text (UTF-8 without NUL); encode it, e.g. with base64");
    }
    Ok(())
}

/// `common/secret` doing `action` for secret `name`, as a step for any
/// web server (bound to one by [`Step::on`]).
fn script(
    file: &ProjectFile,
    env: &Environment,
    action: &str,
    name: &str,
    generate: Option<Generate>,
) -> anyhow::Result<Step> {
    if action != "list" {
        grammar::secret_name(name).map_err(|e| anyhow::anyhow!("secret name {name:?}: {e}"))?;
    }
    let (bytes, encoding, replace) = match generate {
        Some(g) => (
            g.bytes.to_string(),
            if g.base64 { "base64" } else { "hex" },
            if g.replace { "yes" } else { "no" },
        ),
        None => (String::new(), "", ""),
    };
    let description = match action {
        "list" => "listing secrets".to_string(),
        "print" => format!("reading {name}"),
        "set" => format!("setting {name}"),
        "generate" => format!("generating {name}"),
        "remove" => format!("removing {name}"),
        other => format!("secret {name}: {other}"),
    };
    Step::new(
        description,
        "common/secret",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            (
                "SITE_USER",
                &super::EnvUsers::of(&file.name, &env.name).site,
            ),
            ("ACTION", action),
            ("NAME", name),
            ("BYTES", &bytes),
            ("ENCODING", encoding),
            ("REPLACE", replace),
        ],
    )
}

fn web(connected: &[Connected]) -> Vec<&Connected> {
    connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .collect()
}

/// Runs `step` on `c` with `value` on its stdin after the script; `what`
/// names it in an error.
async fn run_with(
    c: &Connected,
    what: &str,
    step: &Step,
    value: &[u8],
    sink: &Sink,
) -> anyhow::Result<()> {
    let input: Box<dyn tokio::io::AsyncRead + Send + Unpin> =
        Box::new(std::io::Cursor::new(value.to_vec()));
    let out = execute::run(c, &step.on(&c.server.endpoint), Some(input), sink).await?;
    if out.exit_code != 0 {
        bail!(
            "{what} failed on {} (exit {}): {}",
            c.server.endpoint.name,
            out.exit_code,
            out.stderr.trim()
        );
    }
    Ok(())
}

/// Sets `name` to `value` on every web server.
pub async fn set(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    name: &str,
    value: &[u8],
    sink: &Sink,
) -> anyhow::Result<()> {
    if value.is_empty() {
        bail!("the value of {name} is empty; nothing was set");
    }
    check_value(name, value)?;
    let script = script(file, env, "set", name, None)?;
    for c in web(connected) {
        run_with(c, &format!("setting {name}"), &script, value, sink).await?;
    }
    Ok(())
}

/// Generates `name` (`bytes` random bytes, hex or base64) on the first web
/// server and gives the others the same value.
pub async fn generate(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    name: &str,
    how: Generate,
    sink: &Sink,
) -> anyhow::Result<()> {
    let servers = web(connected);
    let (first, others) = servers
        .split_first()
        .with_context(|| format!("{} has no web server", env.name))?;
    execute::run_ok(
        first,
        &script(file, env, "generate", name, Some(how))?.on(&first.server.endpoint),
        sink,
    )
    .await?;
    if others.is_empty() {
        return Ok(());
    }
    // The value crosses this process once, quietly, to reach the others.
    let printed = execute::run_ok(
        first,
        &script(file, env, "print", name, None)?.on(&first.server.endpoint),
        &crate::ssh::session::quiet(),
    )
    .await?;
    let set = script(file, env, "set", name, None)?;
    let mut done = vec![first.server.endpoint.name.clone()];
    for c in others {
        run_with(
            c,
            &format!("copying {name}"),
            &set,
            printed.stdout.as_bytes(),
            sink,
        )
        .await
        .with_context(|| {
            format!(
                "{name} has its new value on {} only; run pond secret generate {} {name} --replace again when all servers answer",
                done.join(", "),
                env.name
            )
        })?;
        done.push(c.server.endpoint.name.clone());
        sink(
            &c.server.endpoint.name,
            Stream::Done,
            &format!("{name} copied from {}", first.server.endpoint.name),
        );
    }
    Ok(())
}

/// Gives `to` (web droplets joining the environment) every secret `from`
/// holds, each through this process's memory only.
pub async fn copy_all(
    file: &ProjectFile,
    env: &Environment,
    from: &Connected,
    to: &[&Connected],
    sink: &Sink,
) -> anyhow::Result<()> {
    let quiet = crate::ssh::session::quiet();
    let listed = execute::run_ok(
        from,
        &script(file, env, "list", "", None)?.on(&from.server.endpoint),
        &quiet,
    )
    .await?;
    for secret in parse_list(&listed.reports) {
        let name = &secret.name;
        let printed = execute::run_ok(
            from,
            &script(file, env, "print", name, None)?.on(&from.server.endpoint),
            &quiet,
        )
        .await?;
        let set = script(file, env, "set", name, None)?;
        for c in to {
            run_with(
                c,
                &format!("copying {name}"),
                &set,
                printed.stdout.as_bytes(),
                &quiet,
            )
            .await?;
            sink(
                &c.server.endpoint.name,
                Stream::Done,
                &format!("secret {name} copied from {}", from.server.endpoint.name),
            );
        }
    }
    Ok(())
}

/// Removes `name` from every web server.
pub async fn remove(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    name: &str,
    sink: &Sink,
) -> anyhow::Result<()> {
    let script = script(file, env, "remove", name, None)?;
    for c in web(connected) {
        execute::run_ok(c, &script.on(&c.server.endpoint), sink).await?;
    }
    Ok(())
}

/// What [`ensure_generated`] does for one declared secret, decided from
/// which web servers hold it (`held[i]` for the i-th web server).
#[derive(Debug, PartialEq, Eq)]
enum Ensure {
    /// Every web server holds it: nothing to do.
    Nothing,
    /// No server holds it: generate on the first, copy to the others.
    Generate,
    /// Copy it from web server `from` to the ones that lack it.
    CopyFrom(usize),
}

fn ensure_plan(held: &[bool]) -> Ensure {
    match held.iter().position(|h| *h) {
        None => Ensure::Generate,
        Some(_) if held.iter().all(|h| *h) => Ensure::Nothing,
        Some(from) => Ensure::CopyFrom(from),
    }
}

/// Makes every secret pond.json's `generated_secrets` declares exist on
/// every web server, with one value: generated where no server has it,
/// copied from one that has it to those that lack it; a secret already
/// set is never changed. Returns what it did (or would do, dry).
pub async fn ensure_generated(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    dry_run: bool,
    sink: &Sink,
) -> anyhow::Result<Vec<String>> {
    if file.generated_secrets.is_empty() {
        return Ok(vec![]);
    }
    let servers = web(connected);
    let held_by = list(file, env, connected).await?;
    let mut done = vec![];
    for secret in &file.generated_secrets {
        let name = &secret.name;
        let held: Vec<bool> = held_by
            .iter()
            .map(|(_, listed)| listed.iter().any(|l| &l.name == name))
            .collect();
        match ensure_plan(&held) {
            Ensure::Nothing => {}
            Ensure::Generate => {
                done.push(format!(
                    "generate secret {name} ({} random bytes, {})",
                    secret.bytes,
                    match secret.encoding {
                        crate::config::SecretEncoding::Base64 => "base64",
                        crate::config::SecretEncoding::Hex => "hex",
                    }
                ));
                if !dry_run {
                    let how = Generate {
                        bytes: secret.bytes,
                        base64: secret.encoding == crate::config::SecretEncoding::Base64,
                        replace: false,
                    };
                    generate(file, env, connected, name, how, sink).await?;
                }
            }
            Ensure::CopyFrom(from) => {
                let lacking: Vec<&Connected> = servers
                    .iter()
                    .zip(&held)
                    .filter(|(_, h)| !**h)
                    .map(|(c, _)| *c)
                    .collect();
                done.push(format!(
                    "copy secret {name} from {} to {}",
                    servers[from].server.endpoint.name,
                    lacking
                        .iter()
                        .map(|c| c.server.endpoint.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if !dry_run {
                    let printed = execute::run_ok(
                        servers[from],
                        &script(file, env, "print", name, None)?.on(&servers[from].server.endpoint),
                        &crate::ssh::session::quiet(),
                    )
                    .await?;
                    let set = script(file, env, "set", name, None)?;
                    for c in lacking {
                        run_with(
                            c,
                            &format!("copying {name}"),
                            &set,
                            printed.stdout.as_bytes(),
                            sink,
                        )
                        .await?;
                    }
                }
            }
        }
    }
    Ok(done)
}

/// The secrets each web server holds: (server, names with when each was set).
pub async fn list(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
) -> anyhow::Result<Vec<(String, Vec<Listed>)>> {
    let script = script(file, env, "list", "", None)?;
    let mut out = vec![];
    for c in web(connected) {
        let o = execute::run_ok(
            c,
            &script.on(&c.server.endpoint),
            &crate::ssh::session::quiet(),
        )
        .await?;
        out.push((c.server.endpoint.name.clone(), parse_list(&o.reports)));
    }
    Ok(out)
}

fn parse_list(reports: &[Report]) -> Vec<Listed> {
    reports
        .iter()
        .filter_map(|r| match r {
            Report::Secret { name, set_at } if grammar::secret_name(name).is_ok() => Some(Listed {
                name: name.clone(),
                set_at: set_at.trim().to_string(),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_gives_names_and_times_only() {
        let listed = parse_list(&crate::plan::report::reports_of(
            "report secret name APP_KEY set_at 2026-12-06T00:10:00Z
             echo noise
             report secret name bad-name set_at 2026-12-06T00:10:00Z
             report secret name MAIL_PASSWORD set_at 2026-12-06T00:11:00Z",
        ));
        assert_eq!(
            listed,
            [
                Listed {
                    name: "APP_KEY".into(),
                    set_at: "2026-12-06T00:10:00Z".into()
                },
                Listed {
                    name: "MAIL_PASSWORD".into(),
                    set_at: "2026-12-06T00:11:00Z".into()
                },
            ]
        );
    }

    #[test]
    fn a_declared_secret_is_generated_once_copied_where_missing_and_never_replaced() {
        assert_eq!(ensure_plan(&[false]), Ensure::Generate);
        assert_eq!(ensure_plan(&[false, false, false]), Ensure::Generate);
        assert_eq!(ensure_plan(&[true]), Ensure::Nothing);
        assert_eq!(ensure_plan(&[true, true]), Ensure::Nothing);
        assert_eq!(ensure_plan(&[false, true, false]), Ensure::CopyFrom(1));
    }

    #[test]
    fn values_are_text_of_bounded_size() {
        assert!(check_value("A", b"ok &\\ $x 'q'").is_ok());
        assert!(check_value("A", b"nul\0inside").is_err());
        assert!(check_value("A", &[0xff, 0xfe]).is_err());
        assert!(check_value("A", &vec![b'x'; MAX_VALUE + 1]).is_err());
    }

    #[test]
    fn a_bad_name_never_reaches_a_server() {
        let file = ProjectFile::starter("shop", crate::config::Stack::Php);
        let env = crate::config::Environment {
            name: "live".into(),
            account: None,
            kind: crate::config::EnvironmentKind::Single,
            region: None,
            size: None,
            image: None,
            domain: "shop.example.com".into(),
            secret_prefix: "k3v9q2x8m1zapt".into(),
            health_path: None,
            database: crate::config::Database::None,
            droplets: vec![],
            load_balancer: None,
            https: Default::default(),
        };
        let err = script(&file, &env, "set", "app key; rm -rf /", None).unwrap_err();
        assert!(
            format!("{err:#}").contains("expected a secret name"),
            "{err:#}"
        );
        let how = Generate {
            bytes: 32,
            base64: true,
            replace: false,
        };
        let ok = script(&file, &env, "generate", "APP_KEY", Some(how)).unwrap();
        assert_eq!(ok.description, "generating APP_KEY");
        assert_eq!(ok.script.template, "common/secret");
        let text = &ok.script.text;
        assert!(
            text.contains("readonly ENCODING='base64'") && text.contains("readonly BYTES='32'"),
            "{text}"
        );
    }
}
