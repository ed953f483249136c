//! Strict grammars for every name Pond passes to a server, DNS or the DO API.
//!
//! Each checker takes a candidate string and returns `Ok(())` or a short
//! sentence saying what was expected. The same functions validate pond.json,
//! template inputs given on the command line and the GUI's form fields, so
//! there is exactly one definition of "a valid domain" in Pond. Everything
//! here is ASCII-only on purpose: Unicode look-alikes (a Cyrillic `а` in a
//! domain) are rejected rather than normalised.

/// Result of a grammar check: `Err` holds what was expected, as a phrase.
pub type Check = Result<(), String>;

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A lowercase slug such as a project or environment name: starts with a
/// letter, then `a-z`, `0-9` or single `-`, ends with a letter or digit.
/// These names become directory names, DO tags and DNS labels.
fn slug(s: &str, what: &str, max: usize) -> Check {
    let expected = || {
        format!(
            "expected 1-{max} characters of a-z, 0-9 and '-' for {what}, starting with a letter, \
             ending with a letter or digit, without \"--\""
        )
    };
    if s.is_empty() || s.len() > max {
        return Err(expected());
    }
    let first = s.chars().next().unwrap_or('-');
    let last = s.chars().last().unwrap_or('-');
    if !first.is_ascii_lowercase()
        || !lower_alnum(last)
        || s.contains("--")
        || !s.chars().all(|c| lower_alnum(c) || c == '-')
    {
        return Err(expected());
    }
    Ok(())
}

/// Project name: used in server paths and the `pond-<project>-<env>` tag.
pub fn project_name(s: &str) -> Check {
    slug(s, "a project name", 32)
}

/// Environment name (`production`, `staging`, ...).
pub fn env_name(s: &str) -> Check {
    slug(s, "an environment name", 24)
}

/// Name of a DigitalOcean account as referenced from pond.json (the token
/// itself lives in the user's keychain under this name).
pub fn account_name(s: &str) -> Check {
    slug(s, "an account name", 32)
}

/// A team member's name for their public key.
pub fn member_name(s: &str) -> Check {
    slug(s, "a team member name", 32)
}

/// One DNS label: 1-63 of `a-z0-9-`, no leading or trailing hyphen.
fn dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.chars().all(|c| lower_alnum(c) || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A fully qualified domain name in lowercase ASCII (IDNs as `xn--` punycode),
/// at least two labels, at most 253 characters, top-level label not numeric.
pub fn domain(s: &str) -> Check {
    let expected = "expected lowercase labels of a-z, 0-9 and '-' (not at either end of a label), \
                    separated by dots, like shop.example.com";
    if s.len() > 253 {
        return Err(format!("{expected}, at most 253 characters in all"));
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| dns_label(l)) {
        return Err(expected.to_string());
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("{expected}; the last label must not be all digits"));
    }
    Ok(())
}

/// The secret prefix of preview hosts: `<prefix>.<domain>` and
/// `<prefix>-blue.<domain>` must be valid DNS labels, and it must be long
/// enough not to be guessed.
pub fn secret_prefix(s: &str) -> Check {
    let ok = (12..=40).contains(&s.len())
        && s.chars().all(lower_alnum)
        && dns_label(&format!("{s}-green"));
    if ok {
        Ok(())
    } else {
        Err("expected 12-40 characters of a-z and 0-9 (it is part of a secret host name)".into())
    }
}

/// MariaDB/MySQL database name.
pub fn db_name(s: &str) -> Check {
    sql_identifier(s, "a database name", 64)
}

/// MariaDB/MySQL user name.
pub fn db_user(s: &str) -> Check {
    sql_identifier(s, "a database user", 32)
}

fn sql_identifier(s: &str, what: &str, max: usize) -> Check {
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if first_ok && s.len() <= max && s.chars().all(|c| lower_alnum(c) || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "expected 1-{max} characters of a-z, 0-9 and '_' for {what}, not starting with a digit"
        ))
    }
}

/// A DigitalOcean slug (region, size, image): `ams3`, `s-1vcpu-1gb`,
/// `debian-13-x64`.
pub fn do_slug(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars().next().is_some_and(lower_alnum)
        && s.chars()
            .all(|c| lower_alnum(c) || c == '-' || c == '.' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(
            "expected a DigitalOcean slug of a-z, 0-9, '-', '.' and '_', like ams3 or s-1vcpu-1gb"
                .into(),
        )
    }
}

/// A droplet's host name (one DNS label).
pub fn droplet_name(s: &str) -> Check {
    // Pond's own progress prefixes (`ssh::API`, `ssh::LOCAL`) are not
    // server names: a droplet named so would read as Pond's own work.
    if s == crate::ssh::API || s == crate::ssh::LOCAL {
        Err(format!(
            "{s:?} is the name Pond shows its own work under; pick another, like web-1"
        ))
    } else if dns_label(s) {
        Ok(())
    } else {
        Err("expected 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'".into())
    }
}

/// A DigitalOcean id that is a UUID (a load balancer's): 36 characters of
/// hex digits and `-` in 8-4-4-4-12 groups; it goes into request paths.
pub fn uuid(s: &str) -> Check {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lengths == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err("expected a UUID like 4de7ac8b-495b-4884-9a69-1050c6793cd6".into())
    }
}

/// An SSH host key fingerprint as `ssh-keygen -lf` prints it:
/// `SHA256:` and 43 unpadded base64 characters.
pub fn host_key_fingerprint(s: &str) -> Check {
    let ok = s.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    });
    if ok {
        Ok(())
    } else {
        Err("expected an SSH fingerprint like SHA256: followed by 43 base64 characters".into())
    }
}

/// An OpenSSH public key line: `<type> <base64> [comment]`.
pub fn public_key(s: &str) -> Check {
    const TYPES: [&str; 6] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
    ];
    let expected = || {
        "expected one OpenSSH public key line like \"ssh-ed25519 AAAAC3Nza... alice@laptop\""
            .to_string()
    };
    if s.len() > 16 * 1024 || s.chars().any(|c| c.is_control()) {
        return Err(expected());
    }
    let mut parts = s.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default();
    let blob = parts.next().unwrap_or_default();
    let comment = parts.next().unwrap_or_default();
    let blob_ok = blob.len() >= 16
        && blob.starts_with("AAAA")
        && blob
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
    if !TYPES.contains(&kind) || !blob_ok || !comment.is_ascii() {
        return Err(expected());
    }
    Ok(())
}

/// A relative path of printable ASCII: `/`-separated, no leading `/`, no
/// `..`, no empty or `.` segments, no spaces or quotes. `expected` is the
/// phrase of the caller's own kind (with its own example).
fn relative_path(s: &str, expected: &str) -> Check {
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\' | '`' | '$'));
    let segments_ok = s
        .split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if s.is_empty() || s.len() > 255 || !chars_ok || !segments_ok {
        Err(format!(
            "{expected} (no leading '/', no '..', printable ASCII without spaces or quotes)"
        ))
    } else {
        Ok(())
    }
}

/// Pond's own directory inside each release (manifest, stat cache, the
/// database password link).
pub const RELEASE_DIR: &str = ".pond";

/// Pond's marker file inside the server's `shared/` directory: which
/// shared paths have been seeded from a release.
pub const SEEDED_MARKER: &str = ".pond-seeded";

/// Refuses a path whose first segment is one of Pond's own names.
fn not_ponds_own(s: &str, reserved: &[(&str, &str)]) -> Check {
    let first = s.split('/').next().unwrap_or_default();
    match reserved.iter().find(|(name, _)| *name == first) {
        Some((name, why)) => Err(format!("{name} is {why}; choose another name")),
        None => Ok(()),
    }
}

/// A path inside the project repository, such as a hook script: relative,
/// `/`-separated, no `..`, no empty or `.` segments, printable ASCII
/// without spaces or quotes.
pub fn repo_path(s: &str) -> Check {
    relative_path(
        s,
        "expected a relative path inside the project like deploy/post-deploy.sh",
    )
}

/// A shared (persistent) path: a file or directory of each release that
/// lives in the server's `shared/` directory instead, like `storage`. Not
/// inside Pond's own `.pond` directory, and not Pond's marker file in
/// `shared/`.
pub fn shared_path(s: &str) -> Check {
    relative_path(
        s,
        "expected a relative path inside the release like storage or wp-content/uploads",
    )?;
    not_ponds_own(
        s,
        &[
            (RELEASE_DIR, "Pond's own directory in each release"),
            (
                SEEDED_MARKER,
                "Pond's own marker file in the server's shared/ directory",
            ),
        ],
    )
}

/// Where a rendered config file goes inside each release, like `.env`; not
/// inside Pond's own `.pond` directory.
pub fn config_target(s: &str) -> Check {
    relative_path(s, "expected a relative path inside the release like .env")?;
    not_ponds_own(s, &[(RELEASE_DIR, "Pond's own directory in each release")])
}

/// A web root inside a release: path segments of `A-Za-z0-9._-` (it is
/// written into the nginx config, so nothing else is allowed), not inside
/// Pond's own `.pond` directory (nginx would serve it).
pub fn web_root(s: &str) -> Check {
    let expected = "expected a relative directory inside the release like public \
                    (no leading '/', no '..', only A-Z, a-z, 0-9, '.', '_', '-' and '/')";
    let ok = relative_path(s, expected).is_ok()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !ok {
        return Err(expected.into());
    }
    not_ponds_own(s, &[(RELEASE_DIR, "Pond's own directory in each release")])
}

/// A Unix login name for SSH (`root`, `deploy`).
pub fn unix_user(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err("expected a Unix user name like root or deploy".into())
    }
}

/// The name of a process in pond.json's `processes` (part of a systemd
/// unit name): 1-30 of a-z, 0-9 and '-', starting with a letter.
pub fn process_name(s: &str) -> Check {
    let ok = (1..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(
            "expected a process name like queue: 1-30 of a-z, 0-9 and '-', starting with a letter"
                .into(),
        )
    }
}

/// The name of an app secret (`pond secret`, `{{ secrets.NAME }}`):
/// upper-case letters, digits and `_`, starting with a letter, like an
/// environment variable (`APP_KEY`, `MAIL_PASSWORD`).
pub fn secret_name(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err("expected a secret name like APP_KEY: A-Z, 0-9 and '_', starting with a letter, at most 64".into())
    }
}

/// The path of the health check URL: starts with `/`, printable ASCII.
pub fn http_path(s: &str) -> Check {
    let ok = s.starts_with('/')
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\' | '`'));
    if ok {
        Ok(())
    } else {
        Err("expected a URL path starting with '/', like /health, of printable ASCII".into())
    }
}

/// A dotted-quad IPv4 address.
pub fn ipv4(s: &str) -> Check {
    s.parse::<std::net::Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| "expected an IPv4 address like 203.0.113.10".to_string())
}

/// A host for an external database: a domain name or an IPv4 address.
pub fn db_host(s: &str) -> Check {
    if ipv4(s).is_ok() || domain(s).is_ok() || dns_label(s) {
        Ok(())
    } else {
        Err("expected a host name like db.example.com or an IPv4 address".into())
    }
}

/// The database grants of web servers, as `mysql/database` takes them:
/// `HOST=HASH` entries separated by one space, HOST `localhost` or an IPv4
/// address, HASH a mysql_native_password hash (`*` and 40 upper-case hex
/// digits). At least one.
pub fn db_grants(s: &str) -> Check {
    let expected = "expected HOST=HASH entries (HOST localhost or IPv4, HASH * and 40 hex digits)";
    if s.is_empty() {
        return Err(format!("{expected}; got none"));
    }
    for entry in s.split(' ') {
        let (host, hash) = entry
            .split_once('=')
            .ok_or_else(|| format!("{expected}; got {entry:?}"))?;
        let host_ok = host == "localhost" || ipv4(host).is_ok();
        let hash_ok = hash.len() == 41
            && hash.starts_with('*')
            && hash[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c));
        if !host_ok || !hash_ok {
            return Err(format!("{expected}; got {entry:?}"));
        }
    }
    Ok(())
}

/// A template input name: an upper-case shell variable name.
pub fn input_name(s: &str) -> Check {
    let ok = s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err("expected an upper-case shell variable name like DOMAIN or DB_NAME".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn droplets_cannot_take_ponds_own_progress_names() {
        assert!(droplet_name("web-1").is_ok());
        for own in [crate::ssh::API, crate::ssh::LOCAL] {
            assert!(
                droplet_name(own)
                    .unwrap_err()
                    .contains("Pond shows its own work")
            );
        }
        assert!(
            db_host("local").is_ok(),
            "a database host may still be called so"
        );
    }

    #[test]
    fn database_grants() {
        let hash = format!("*{}", "0123456789ABCDEF0123456789ABCDEF01234567");
        for ok in [
            format!("localhost={hash}"),
            format!("198.18.1.5={hash} 198.18.1.6={hash}"),
        ] {
            assert_eq!(db_grants(&ok), Ok(()), "{ok}");
        }
        for bad in [
            String::new(),
            format!("localhost={}", &hash[1..]),
            format!("localhost={}", hash.to_lowercase()),
            format!("db.example.com={hash}"),
            format!("localhost={hash}  198.18.1.6={hash}"),
            format!("localhost={hash}';DROP"),
            format!("'x'@'%'={hash}"),
        ] {
            assert!(db_grants(&bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn domains() {
        for ok in [
            "example.com",
            "shop.example.co.uk",
            "xn--bcher-kva.de",
            "a-b.c1",
        ] {
            assert_eq!(domain(ok), Ok(()), "{ok}");
        }
        for bad in [
            "exa mple.com",
            "example",
            "Example.com",
            "-a.com",
            "a-.com",
            "a..com",
            ".a.com",
            "a.com.",
            "1.2.3.4",
            "exаmple.com", // Cyrillic а
            "$(id).com",
            "a.com\nb.com",
            "../etc.com",
        ] {
            assert!(domain(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(domain(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(project_name("acme-shop"), Ok(()));
        assert_eq!(env_name("production"), Ok(()));
        for bad in ["", "1abc", "abc-", "a--b", "Abc", "a_b", "a b", "a`b`", "ä"] {
            assert!(project_name(bad).is_err(), "{bad:?}");
        }
        assert!(env_name(&"a".repeat(25)).is_err());
    }

    #[test]
    fn database_identifiers() {
        assert_eq!(db_name("acme_shop"), Ok(()));
        assert_eq!(db_user("_app"), Ok(()));
        for bad in ["", "1db", "db-name", "db;drop", "db'", "DB"] {
            assert!(db_name(bad).is_err(), "{bad:?}");
        }
        assert!(db_user(&"u".repeat(33)).is_err());
    }

    #[test]
    fn prefixes_and_keys() {
        assert_eq!(secret_prefix("k3v9q2x8m1za"), Ok(()));
        assert!(secret_prefix("short").is_err());
        assert!(secret_prefix("has-hyphen-inside").is_err());
        assert!(secret_prefix(&"a".repeat(41)).is_err());
        assert_eq!(
            host_key_fingerprint("SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"),
            Ok(())
        );
        assert!(host_key_fingerprint("MD5:aa:bb").is_err());
        assert_eq!(
            public_key(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
            ),
            Ok(())
        );
        assert!(public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 a\nb").is_err());
        assert!(public_key("not a key").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(repo_path("deploy/post-deploy.sh"), Ok(()));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a b",
            "a/./b",
            "$(x)",
        ] {
            assert!(repo_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(http_path("/health?x=1"), Ok(()));
        assert!(http_path("health").is_err());
        assert!(http_path("/a b").is_err());
    }
}
