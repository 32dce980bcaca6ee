//! The detectors' regexes, compiled once per process.

use regex::bytes::Regex;
use std::sync::OnceLock;

pub(super) struct Patterns {
    pub nosql_key: Regex,
    pub nosql_value: Regex,
    pub nosql_js: Regex,
    pub ssti_expr: Regex,
    pub ssti_stmt: Regex,
    pub ldap: Regex,
    pub crlf_encoded: Regex,
    pub crlf_known: Regex,
    pub crlf_any: Regex,
}

/// MongoDB query and logical operators an attacker turns a value into. `$type`, `$id`,
/// `$ref`, `$schema` are left out on purpose: JSON Schema, JSON-LD and .NET serialisers
/// use them as ordinary keys.
const MONGO_OPS: &str = "ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|or|and|nor|not|expr|\
                         elemmatch|all|size|mod|function|accumulator|text|jsonschema|comment";

/// Response headers an attacker sets by splitting the response; with a raw line break in a
/// free-text value only these count (a letter may well say "Location: Berlin").
const SPLIT_HEADERS: &str = "set-cookie|content-length|transfer-encoding|content-type|\
                             content-security-policy|access-control-allow-[a-z-]+|\
                             x-xss-protection|x-frame-options";

fn re(p: &str) -> Regex {
    // The patterns are constants of this file; a failure is a bug caught by every test.
    Regex::new(p).unwrap_or_else(|e| panic!("detector pattern {p:?}: {e}"))
}

fn build() -> Patterns {
    // A line break as the value may carry it: raw, or still encoded once more
    // (%0d%0a, \r\n as text, the UTF-8 of U+560A/U+560D whose low bytes are LF/CR).
    let enc = r"(?:%(?:25)*0[ad]|\xe5\x98[\x8a\x8d])";
    let brk = r"(?:[\r\n]|%(?:25)*0[ad]|\\[rn]|\xe5\x98[\x8a\x8d])";
    Patterns {
        nosql_key: re(&format!(
            r"(?i-u)(?:^|\[)\s*\$(?:{MONGO_OPS})\s*(?:\]|$)|^\$where$"
        )),
        nosql_value: re(&format!(
            r#"(?i-u)(?:^|[{{,\[(\s'"])\s*["']?\$(?:{MONGO_OPS})["']?\s*:|\[\$(?:{MONGO_OPS})\]\s*="#
        )),
        nosql_js: re(concat!(
            r"(?i-u)\bdb\.[a-z_][\w-]*\.(?:find|findone|insert|insertone|update|remove|drop|mapreduce|aggregate|count)\s*\(",
            r"|(?:&&|\|\|)\s*this\.[a-z_]\w*|\bthis\.[a-z_]\w*\.match\s*\(",
            // Breaking out of a $where string: '; return ...', '; sleep(..)', busy loops.
            r"|['\x22]\s*;\s*(?:return\b|sleep\s*\(|it\s*=\s*new\s+date)|;\s*return\s*\(?\s*true\b",
            r"|\|\|\s*1\s*==\s*1\b|new\s+date\s*\(\s*\)\s*;\s*\}\s*while\s*\("
        )),
        ssti_expr: re(concat!(
            r"(?i-u)",
            // {{ ... }} with arithmetic, dunder access, a call, a filter chain, or a known
            // template global.
            r"\{\{[^}]{0,300}?(?:\d\s*[*/+%-]\s*['\x22]?\d|__[a-z]+__|[\w'\x22\])]\s*\(|\[\s*['\x22]|\|\s*(?:attr|join|safe)\b|",
            r"\b(?:config|request|self|lipsum|cycler|joiner|namespace|range|constructor|settings|_self|app)\b)[^}]{0,300}\}\}",
            // ${ ... } / #{ ... } / *{ ... } / @( ... ) with arithmetic or an escape to the
            // host language (SpEL T(..), Mako/Python self and dunders, Java reflection).
            r"|[$#*@][{(]\s*(?:\d+\s*[*/+%-]\s*\d+|T\s*\(\s*[a-z]+\.|self\.|[^}]{0,300}?(?:__[a-z]+__|\.(?:system|popen|exec)\s*\(|getruntime|forname|getclass|processbuilder|getresource)|['\x22][^'\x22]{0,40}['\x22]\s*\.\s*(?:getclass|class|constructor))",
            // <%= ... %> ERB / JSP / EJS expressions.
            r"|<%[=-]\s*[^%]{1,200}?%>|<%\s*[^%]{0,200}?[(`=][^%]{0,200}?%>"
        )),
        ssti_stmt: re(concat!(
            r"(?i-u)\{%-?\s*(?:import|include|extends|set|debug|macro|call)\b[^%]{0,200}%\}",
            r"|\{%-?\s*(?:for|if)\b[^%]{0,200}?(?:__[a-z]+__|\bconfig\b|\brequest\b|\bself\b)[^%]{0,200}%\}",
            r"|<#(?:assign|list|if|include|import|macro|function|setting)\b",
            r"|\bfreemarker\.template\.utility\.execute|\?new\s*\(\s*\)",
            r"|#set\s*\(\s*\$\w+\s*=|#foreach\s*\(\s*\$|\$class\.inspect",
            r"|\{\$smarty\.|\{/?php\}|\{\s*system\s*\("
        )),
        ldap: re(concat!(
            r"(?i-u)\*\s*\)\s*\(",
            r"|\)\s*\(\s*[|&!]\s*[()]",
            r"|\(\s*[|&]\s*\(\s*[a-z][\w.-]*\s*[~<>]?=",
            r"|\)\s*\(\s*(?:uid|cn|sn|ou|dc|mail|objectclass|userpassword|password|samaccountname|givenname|memberof|member|name|user|username|description)\s*[~<>]?=",
            r"|\*\s*\(\s*[|&]\s*\(|\*\s*\(\s*\)\s*[|&]|\(\s*\(\s*[|&]|\*\s*\)\s*\)\s*(?:%00|\x00|$)"
        )),
        crlf_encoded: re(&format!(
            r"(?i-u){enc}+\s*(?:[a-z][\w-]{{1,40}}\s*:|http/\d)|{enc}{{2,}}\s*<"
        )),
        crlf_known: re(&format!(
            r"(?i-u){brk}+[ \t]*(?:(?:{SPLIT_HEADERS})\s*:|http/\d\.\d\s+\d{{3}})"
        )),
        crlf_any: re(&format!(
            r"(?i-u){brk}+[ \t]*(?:[a-z][\w-]{{1,40}}\s*:|http/\d|<)"
        )),
    }
}

pub(super) fn get() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(build)
}
