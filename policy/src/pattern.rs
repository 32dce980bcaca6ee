//! Validating and normalising one pattern. Each error is a reason that says what is expected.

use std::borrow::Cow;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Longest DNS name in text form, without the trailing dot.
const MAX_NAME_TEXT: usize = 253;
/// Longest process path pattern (Linux PATH_MAX, without the NUL).
const MAX_PATH: usize = 4095;
/// Longest file name (Linux NAME_MAX).
const MAX_FILE_NAME: usize = 255;

/// A DNS rule: `name` or `*.name`, normalised to lower-case A-labels without trailing dot.
pub(crate) fn dns(raw: &str) -> Result<String, String> {
    if let Some(normal) = dns_plain(raw) {
        return Ok(normal);
    }
    if raw.is_empty() {
        return Err(
            "empty pattern; expected a name like `api.example.com` or `*.example.com`".into(),
        );
    }
    if raw == "*" || raw == "*." {
        return Err("`*` alone would match every name; set `default` instead".into());
    }
    let text = raw.strip_suffix('.').unwrap_or(raw);
    let (wild, base) = match text.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, text),
    };
    if base.contains('*') {
        return Err("`*` is allowed only as the whole first label, as in `*.example.com`".into());
    }
    if base.split('.').any(str::is_empty) {
        return Err("empty label (a leading dot or two dots in a row); expected labels of 1 to 63 characters".into());
    }
    // UTS 46 maps plain ASCII to its lower case and nothing else (the ASCII checks follow
    // below); only Unicode and `xn--` labels need the full processing.
    let plain = base.is_ascii()
        && !base
            .split('.')
            .any(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")));
    let ascii: Cow<'_, str> = if plain {
        Cow::Owned(base.to_ascii_lowercase())
    } else {
        Uts46::new()
            .to_ascii(
                base.as_bytes(),
                AsciiDenyList::EMPTY,
                Hyphens::Allow,
                DnsLength::Ignore,
            )
            .map_err(|_| {
                format!("`{base}` is not a valid internationalised domain name (UTS 46)")
            })?
    };
    let mut labels = 0;
    for label in ascii.split('.') {
        labels += 1;
        if label.is_empty() {
            return Err("empty label; expected labels of 1 to 63 characters".into());
        }
        if label.len() > 63 {
            return Err(format!(
                "label `{label}` is {} bytes long; at most 63 are allowed",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "invalid character {c:?} in label `{label}`; expected letters, digits, `-` or `_`"
            ));
        }
    }
    let max = if wild {
        MAX_NAME_TEXT - 2
    } else {
        MAX_NAME_TEXT
    };
    if ascii.len() > max {
        return Err(format!(
            "name is {} characters long (as A-labels); at most {max} are allowed",
            ascii.len()
        ));
    }
    if wild && labels < 2 {
        return Err(format!(
            "`*.{ascii}` would match a whole top-level domain; a wildcard needs at least two labels after `*.`"
        ));
    }
    Ok(if wild {
        format!("*.{ascii}")
    } else {
        ascii.into_owned()
    })
}

/// The common case in one pass: ASCII letters, digits, `-`, `_` and dots, no `xn--` label,
/// every limit respected. `None` sends anything else to the full path in [`dns`], which
/// also gives the reasons.
fn dns_plain(raw: &str) -> Option<String> {
    let text = raw.strip_suffix('.').unwrap_or(raw);
    let (wild, base) = match text.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, text),
    };
    let labels = plain_labels(base.as_bytes(), wild, false)?;
    if wild && labels < 2 {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    if wild {
        out.push_str("*.");
    }
    out.push_str(base);
    out.make_ascii_lowercase();
    Some(out)
}

/// The number of labels of a name made only of ASCII letters (lower case only if
/// `lower_only`), digits, `-`, `_` and single dots, with no `xn--` label and within the
/// label and name limits; `None` otherwise.
fn plain_labels(base: &[u8], wild: bool, lower_only: bool) -> Option<usize> {
    let max = if wild {
        MAX_NAME_TEXT - 2
    } else {
        MAX_NAME_TEXT
    };
    if base.is_empty() || base.len() > max {
        return None;
    }
    let (mut label_len, mut labels) = (0usize, 1usize);
    for (i, &c) in base.iter().enumerate() {
        match c {
            b'.' => {
                if label_len == 0 {
                    return None;
                }
                labels += 1;
                label_len = 0;
            }
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => label_len += 1,
            b'A'..=b'Z' if !lower_only => label_len += 1,
            _ => return None,
        }
        if label_len == 1
            && base
                .get(i..i + 4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
        {
            return None;
        }
        if label_len > 63 {
            return None;
        }
    }
    (label_len > 0).then_some(labels)
}

/// A process rule: an absolute path glob (contains `/`) or a file-name glob. Case-sensitive,
/// kept as written.
pub(crate) fn process(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err(
            "empty pattern; expected an absolute path like `/usr/bin/nc` or a file name like `nc`"
                .into(),
        );
    }
    if raw.contains('\0') {
        return Err("NUL byte in pattern".into());
    }
    if raw.contains("***") {
        return Err(
            "more than two `*` in a row; use `*` (within a segment) or `**` (across segments)"
                .into(),
        );
    }
    if !raw.contains('/') {
        if raw == "." || raw == ".." {
            return Err(format!("`{raw}` is not a file name"));
        }
        if raw.len() > MAX_FILE_NAME {
            return Err(format!(
                "file name is {} bytes long; at most {MAX_FILE_NAME} are allowed",
                raw.len()
            ));
        }
        return Ok(raw.to_string());
    }
    if !raw.starts_with('/') {
        return Err("a path pattern must be absolute (start with `/`); a pattern without `/` matches the file name".into());
    }
    if raw.len() > MAX_PATH {
        return Err(format!(
            "path is {} bytes long; at most {MAX_PATH} are allowed",
            raw.len()
        ));
    }
    if raw.ends_with('/') {
        return Err(
            "a path pattern names a program and cannot end with `/` (use `/dir/*` or `/dir/**`)"
                .into(),
        );
    }
    for segment in raw[1..].split('/') {
        match segment {
            "" => {
                return Err(
                    "empty path segment (`//`); expected a normalised absolute path".into(),
                );
            }
            "." | ".." => {
                return Err(format!(
                    "`{segment}` segment; expected a normalised absolute path (programs are matched by their resolved path)"
                ));
            }
            _ => {}
        }
    }
    Ok(raw.to_string())
}

/// Whether a DNS pattern is already in the normal form [`dns`] produces. The compiler skips
/// any other (a `Policy` built by hand rather than parsed), so the blob never holds a name
/// its fixed-size fields cannot describe.
pub(crate) fn is_normal_dns(pattern: &str) -> bool {
    let (wild, base) = match pattern.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, pattern),
    };
    // `xn--` labels are normal too (they come out of UTS 46), so check them the long way.
    match plain_labels(base.as_bytes(), wild, true) {
        Some(labels) => !wild || labels >= 2,
        None => dns(pattern).is_ok_and(|normal| normal == pattern),
    }
}

/// Whether a process pattern passes [`process`] unchanged (see [`is_normal_dns`]).
pub(crate) fn is_normal_process(pattern: &str) -> bool {
    process(pattern).is_ok()
}
