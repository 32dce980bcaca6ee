//! `--resolver`: point the container's resolver configuration at the sidecar.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// The new content: `nameserver IP`, keeping `search`, `domain` and `options` lines.
pub fn rewrite(old: &str, ip: IpAddr) -> String {
    let mut out = format!(
        "# written by guard-exec --resolver: names go through TaskGuard\nnameserver {ip}\n"
    );
    for line in old.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if matches!(first, "search" | "domain" | "options") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Rewrites `path` in place (it is often a bind mount, which a rename cannot replace).
pub fn point_at(path: &Path, ip: IpAddr) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = rewrite(&old, ip);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    file.write_all(new.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_search_and_options() {
        let old = "nameserver 10.0.0.2\nsearch ec2.internal\noptions ndots:2 timeout:1\n";
        let new = rewrite(old, "127.0.0.1".parse().unwrap());
        assert!(new.contains("\nnameserver 127.0.0.1\n"));
        assert!(!new.contains("10.0.0.2"));
        assert!(new.contains("search ec2.internal\n"));
        assert!(new.contains("options ndots:2 timeout:1\n"));
    }
}
