//! Detectors for attack classes CRS at low paranoia misses (NoSQL operators, template
//! injection, LDAP filters, CRLF), and libinjection helpers the engine uses to confirm or
//! clear regex-only SQL/XSS hits.
//!
//! Every detector is written to stay quiet on ordinary text: it fires on syntax that only
//! the attacked interpreter gives a meaning to (a Mongo operator as a key, an expression
//! inside template delimiters, a filter that closes and reopens, a line break followed by
//! a response header), never on a keyword alone. A cheap byte check skips each detector
//! for values that cannot contain its syntax, so clean values cost a few scans.

mod patterns;

use crate::Protection;

/// One detector hit: the protection, a short rule-like id and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub protection: Protection,
    /// Ids in the 990000 range, not used by CRS.
    pub id: u32,
    pub msg: &'static str,
}

/// Where a value came from: detectors judge a JSON key differently from a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    ArgName,
    ArgValue,
    JsonKey,
    HeaderValue,
    CookieValue,
    Path,
}

/// Ids of the detectors, for exceptions and audit events.
pub mod ids {
    /// A MongoDB query operator as a parameter name (`user[$ne]`) or JSON key (`"$gt"`).
    pub const NOSQL_OPERATOR_KEY: u32 = 990100;
    /// A MongoDB operator object or `$where` JavaScript inside a value.
    pub const NOSQL_OPERATOR_VALUE: u32 = 990101;
    /// Server-side JavaScript reaching a Mongo shell (`db.x.find(`, `&& this.password`).
    pub const NOSQL_JAVASCRIPT: u32 = 990102;
    /// An expression inside template delimiters (`{{7*7}}`, `${T(...)}`, `<%= %>`, `#{}`).
    pub const SSTI_EXPRESSION: u32 = 990200;
    /// A template statement (`{% import %}`, `<#assign>`, `#set($x=`, `{php}`).
    pub const SSTI_STATEMENT: u32 = 990201;
    /// An LDAP filter closed and reopened (`*)(uid=*`, `)(|(`, `admin)(&)`).
    pub const LDAP_FILTER: u32 = 990300;
    /// A line break followed by a response header or status line.
    pub const CRLF_HEADER: u32 = 990400;
}

const NOSQL_KEY: Detection = Detection {
    protection: Protection::Nosql,
    id: ids::NOSQL_OPERATOR_KEY,
    msg: "NoSQL injection: query operator in a parameter name or JSON key",
};
const NOSQL_VALUE: Detection = Detection {
    protection: Protection::Nosql,
    id: ids::NOSQL_OPERATOR_VALUE,
    msg: "NoSQL injection: query operator object in a value",
};
const NOSQL_JS: Detection = Detection {
    protection: Protection::Nosql,
    id: ids::NOSQL_JAVASCRIPT,
    msg: "NoSQL injection: server-side JavaScript",
};
const SSTI_EXPR: Detection = Detection {
    protection: Protection::Ssti,
    id: ids::SSTI_EXPRESSION,
    msg: "Server-side template injection: expression in template delimiters",
};
const SSTI_STMT: Detection = Detection {
    protection: Protection::Ssti,
    id: ids::SSTI_STATEMENT,
    msg: "Server-side template injection: template statement",
};
const LDAP: Detection = Detection {
    protection: Protection::Ldap,
    id: ids::LDAP_FILTER,
    msg: "LDAP injection: filter closed and reopened",
};
const CRLF: Detection = Detection {
    protection: Protection::Crlf,
    id: ids::CRLF_HEADER,
    msg: "CRLF injection: line break followed by a response header",
};

/// Runs every detector on one decoded value.
pub fn detect(place: Place, value: &[u8]) -> Option<Detection> {
    let p = patterns::get();
    let has = |b: u8| value.contains(&b);
    let dollar = has(b'$');
    if dollar && matches!(place, Place::ArgName | Place::JsonKey) && p.nosql_key.is_match(value) {
        return Some(NOSQL_KEY);
    }
    if matches!(
        place,
        Place::ArgValue | Place::CookieValue | Place::HeaderValue
    ) {
        if dollar && p.nosql_value.is_match(value) {
            return Some(NOSQL_VALUE);
        }
        if (has(b'.') || has(b';') || has(b'|')) && p.nosql_js.is_match(value) {
            return Some(NOSQL_JS);
        }
    }
    if place != Place::JsonKey && (has(b'{') || has(b'%') || has(b'(')) {
        if p.ssti_expr.is_match(value) {
            return Some(SSTI_EXPR);
        }
        if p.ssti_stmt.is_match(value) {
            return Some(SSTI_STMT);
        }
    }
    if has(b')') && p.ldap.is_match(value) {
        return Some(LDAP);
    }
    let raw_break = has(b'\r') || has(b'\n');
    let encoded_break = has(b'%')
        || value
            .windows(2)
            .any(|w| w == b"\xe5\x98" || w == b"\\r" || w == b"\\n");
    if raw_break || encoded_break {
        let strict = matches!(place, Place::ArgValue | Place::JsonKey);
        if p.crlf_encoded.is_match(value)
            || p.crlf_known.is_match(value)
            || (!strict && raw_break && p.crlf_any.is_match(value))
        {
            return Some(CRLF);
        }
    }
    None
}

/// libinjection's SQL verdict on one value (all quote contexts, ANSI and MySQL).
pub fn is_sqli(value: &[u8]) -> bool {
    libinjectionrs::detect_sqli(value).is_injection()
}

/// libinjection's SQL fingerprint of one value when it is an injection (`s&1`, `1UE`, ...).
pub fn sqli_fingerprint(value: &[u8]) -> Option<String> {
    let r = libinjectionrs::detect_sqli(value);
    if !r.is_injection() {
        return None;
    }
    r.fingerprint
        .map(|f| f.as_str().trim_end_matches('\0').to_string())
}

/// libinjection's XSS verdict on one value (every HTML context).
pub fn is_xss(value: &[u8]) -> bool {
    libinjectionrs::detect_xss(value).is_injection()
}

#[cfg(test)]
mod tests;
