//! Query parameters as the CLI's flags: `?sidecar-image=IMAGE&fail=open&include=web,api`.
//! Names are the long flags without `--` (`_` works for `-`); a flag without a value is
//! true (`?ptrace`).

use crate::FailMode;
use crate::flags::{FlagError, Flags};

/// `application/x-www-form-urlencoded` decoding of one component.
pub fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{s}: a % not followed by two hex digits"))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s}: not UTF-8 once decoded"))
}

/// The query's pairs, decoded, names with `_` turned into `-`.
pub fn pairs(query: &str) -> Result<Vec<(String, Option<String>)>, FlagError> {
    let bad = |message: String| FlagError {
        flag: "query",
        message,
    };
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (part, None),
        };
        let name = decode(name).map_err(bad)?.replace('_', "-");
        let value = value.map(decode).transpose().map_err(bad)?;
        out.push((name, value));
    }
    Ok(out)
}

fn boolean(flag: &'static str, value: Option<&str>) -> Result<bool, FlagError> {
    match value {
        None | Some("") | Some("true") | Some("1") | Some("yes") => Ok(true),
        Some("false") | Some("0") | Some("no") => Ok(false),
        Some(v) => Err(FlagError {
            flag,
            message: format!("{flag} {v}: expected true or false"),
        }),
    }
}

/// Which flags a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Embed,
    Remove,
    Check,
}

const EMBED: &[&str] = &[
    "sidecar-image",
    "policy-url",
    "policy-file",
    "sidecar-name",
    "include",
    "exclude",
    "ptrace",
    "fail",
    "no-resolver",
];
const CHECK: &[&str] = &["include", "exclude"];

/// `defaults` (the server's flags) with the query's on top. A list flag given in the query
/// replaces the default list; `policy-url` and `policy-file` replace each other's default.
pub fn apply(defaults: &Flags, query: &str, route: Route) -> Result<Flags, FlagError> {
    let allowed: &[&str] = match route {
        Route::Embed => EMBED,
        Route::Check => CHECK,
        Route::Remove => &[],
    };
    let mut flags = defaults.clone();
    let mut lists_seen = (false, false);
    let (mut url, mut file) = (None, None);
    for (name, value) in pairs(query)? {
        if name == "image-config" && route == Route::Embed {
            return Err(FlagError {
                flag: "--image-config",
                message: "--image-config: not available over HTTP (the server reads no file a request names); set entryPoint in the task definition".into(),
            });
        }
        let Some(&flag) = allowed.iter().find(|f| **f == name) else {
            let expected = if allowed.is_empty() {
                "this endpoint takes none".to_string()
            } else {
                format!("expected one of {}", allowed.join(", "))
            };
            return Err(FlagError {
                flag: "query",
                message: format!("query parameter {name}: unknown; {expected}"),
            });
        };
        let v = value.clone().unwrap_or_default();
        let list = |v: &str| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match flag {
            "sidecar-image" => flags.sidecar_image = v,
            "policy-url" => url = Some(v),
            "policy-file" => file = Some(v),
            "sidecar-name" => flags.sidecar_name = v,
            "include" => {
                if !lists_seen.0 {
                    flags.include.clear();
                    lists_seen.0 = true;
                }
                flags.include.extend(list(&v));
            }
            "exclude" => {
                if !lists_seen.1 {
                    flags.exclude.clear();
                    lists_seen.1 = true;
                }
                flags.exclude.extend(list(&v));
            }
            "ptrace" => flags.ptrace = boolean("--ptrace", value.as_deref())?,
            "no-resolver" => flags.no_resolver = boolean("--no-resolver", value.as_deref())?,
            "no-supervise" => flags.no_supervise = boolean("--no-supervise", value.as_deref())?,
            "fail" => {
                flags.fail = match v.as_str() {
                    "open" => Some(FailMode::Open),
                    "closed" => Some(FailMode::Closed),
                    _ => {
                        return Err(FlagError {
                            flag: "--fail",
                            message: format!("--fail {v}: expected open or closed"),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if url.is_some() || file.is_some() {
        flags.policy_url = url.filter(|u| !u.is_empty());
        flags.policy_file = file.filter(|f| !f.is_empty());
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_applies() {
        let defaults = Flags {
            sidecar_image: "a".into(),
            sidecar_name: "guard".into(),
            include: vec!["x".into()],
            ..Flags::default()
        };
        let f = apply(
            &defaults,
            "sidecar_image=r%2Fimg%3A1&include=web,api&include=db&ptrace&fail=open&policy-url=https://p/x",
            Route::Embed,
        )
        .unwrap();
        assert_eq!(f.sidecar_image, "r/img:1");
        assert_eq!(f.include, ["web", "api", "db"]);
        assert!(f.ptrace);
        assert_eq!(f.fail, Some(FailMode::Open));
        assert_eq!(f.policy_url.as_deref(), Some("https://p/x"));
        assert!(apply(&defaults, "fail=maybe", Route::Embed).is_err());
        assert!(apply(&defaults, "ptrace", Route::Check).is_err());
        assert!(apply(&defaults, "x=%zz", Route::Embed).is_err());
    }
}
