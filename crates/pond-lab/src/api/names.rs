//! What the fake API accepts as a domain name, an IPv4 address and an SSH
//! public key: DigitalOcean's own rules as far as clients meet them (a
//! name of dot-separated labels of letters, digits, `-` and `_`; one
//! OpenSSH key line), independent of Pond's pond.json grammar.

/// A domain or host name: 2+ labels of 1-63 letters, digits, `-` or `_`
/// (no `-` at either end), at most 253 characters in all.
pub fn domain(s: &str) -> Result<(), String> {
    let expected = "expected a domain name of dot-separated labels, like shop.example.com";
    let labels: Vec<&str> = s.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(expected.into());
    }
    Ok(())
}

/// A dotted-quad IPv4 address.
pub fn ipv4(s: &str) -> Result<(), String> {
    s.parse::<std::net::Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| "expected an IPv4 address like 203.0.113.10".to_string())
}

/// One OpenSSH public key line: a known key type, a base64 blob whose
/// first field names the same type, an optional comment.
pub fn public_key(s: &str) -> Result<(), String> {
    const TYPES: [&str; 6] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
    ];
    let expected =
        "expected one OpenSSH public key line like \"ssh-ed25519 AAAAC3Nza... alice@laptop\"";
    use base64::Engine;
    let mut parts = s.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err(expected.into());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| expected.to_string())?;
    let named = decoded
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| decoded.get(4..4 + n));
    if s.len() > 16 * 1024
        || s.chars().any(|c| c.is_control())
        || !TYPES.contains(&kind)
        || named != Some(kind.as_bytes())
    {
        return Err(expected.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_addresses_and_keys() {
        assert!(domain("shop.example.com").is_ok());
        assert!(domain("_acme-challenge.example.com").is_ok());
        for bad in ["localhost", "a..b", "-a.com", "a b.com", &"a".repeat(64)] {
            assert!(domain(bad).is_err(), "{bad}");
        }
        assert!(ipv4("198.18.0.1").is_ok());
        assert!(ipv4("198.18.0").is_err());
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b";
        assert!(public_key(key).is_ok());
        assert!(public_key(&key.replace("ssh-ed25519 ", "ssh-rsa ")).is_err());
        assert!(public_key("ssh-ed25519 notbase64!").is_err());
        assert!(public_key("").is_err());
    }
}
