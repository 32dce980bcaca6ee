//! SecLang operators (`@rx`, `@pm`, `@detectSQLi`, ...), with ModSecurity v3's semantics.
//!
//! An operator is compiled once at load and evaluated per value. Arguments that contain a
//! macro (`%{tx.allowed_methods}`) cannot be compiled up front: [`Operator::has_macro`] says
//! so and [`Operator::matches_with_argument`] evaluates with the argument the engine expanded.
//!
//! `@rbl` and `@geoLookup` need network lookups or a GeoIP database that a sidecar does not
//! have; CRS only reaches them when the user configures reputation or country blocking, so
//! they compile to an operator that never matches and [`Operator::inert`] names them for
//! the engine to report at load. Operators with no CRS use and no safe default
//! (`@inspectFile`, `@verifyCC`, `@fuzzyHash`, ...) are a compile error.

mod ip;
mod literals;
mod rx;

use std::net::IpAddr;
use std::path::Path;

use aho_corasick::AhoCorasick;

pub use rx::BACKTRACK_LIMIT;

/// A compiled operator. Immutable and `Send + Sync`; evaluation allocates only when captures
/// are asked for.
#[derive(Debug)]
pub struct Operator {
    negated: bool,
    name: String,
    argument: String,
    kind: Kind,
    literals: Option<Vec<Vec<u8>>>,
}

/// Why an operator could not be compiled (the engine adds file and line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OperatorError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrOp {
    Streq,
    Contains,
    ContainsWord,
    BeginsWith,
    EndsWith,
    Within,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumOp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug)]
enum Kind {
    Rx(rx::Rx),
    /// `@rx` whose pattern holds a macro: compiled per evaluation from the expanded text.
    RxMacro,
    Pm(AhoCorasick),
    DetectSqli,
    DetectXss,
    Str(StrOp, Vec<u8>),
    Num(NumOp, i64),
    NumMacro(NumOp),
    Ip(Vec<ip::Net>),
    ByteRange(Box<[bool; 256]>),
    ValidateUrlEncoding,
    ValidateUtf8,
    Unconditional,
    NoMatch,
    Inert(&'static str),
}

fn err(msg: impl Into<String>) -> OperatorError {
    OperatorError(msg.into())
}

/// C's `atoi` as ModSecurity applies it to both sides of a numeric comparison: leading
/// whitespace, an optional sign, then digits; anything else ends the number (none: 0).
pub fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((s[i] - b'0') as i64);
        i += 1;
    }
    if neg { -v } else { v }
}

fn read_list(data_dir: &Path, argument: &str) -> Result<Vec<String>, OperatorError> {
    let mut out = Vec::new();
    for name in argument.split_ascii_whitespace() {
        if name.starts_with("http://") || name.starts_with("https://") {
            return Err(err(format!(
                "data file `{name}`: remote data files are not supported; use a local file"
            )));
        }
        let path = data_dir.join(name);
        let text =
            std::fs::read(&path).map_err(|e| err(format!("data file {}: {e}", path.display())))?;
        for line in text.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(line.to_string());
        }
    }
    Ok(out)
}

fn phrases_matcher(phrases: &[Vec<u8>]) -> Result<AhoCorasick, OperatorError> {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(phrases)
        .map_err(|e| err(format!("phrase list: {e}")))
}

fn parse_byte_range(arg: &str) -> Result<Box<[bool; 256]>, OperatorError> {
    let mut table = Box::new([false; 256]);
    for part in arg.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let bad = || {
            err(format!(
                "@validateByteRange: `{part}` is not a byte (0-255) or a range of bytes (a-b)"
            ))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u8>().map_err(|_| bad())?,
                b.trim().parse::<u8>().map_err(|_| bad())?,
            ),
            None => {
                let v = part.parse::<u8>().map_err(|_| bad())?;
                (v, v)
            }
        };
        if lo > hi {
            return Err(bad());
        }
        for b in lo..=hi {
            table[b as usize] = true;
        }
    }
    Ok(table)
}

fn word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn str_match(op: StrOp, input: &[u8], arg: &[u8]) -> bool {
    match op {
        StrOp::Streq => input == arg,
        StrOp::Contains => find(input, arg).is_some(),
        StrOp::BeginsWith => input.starts_with(arg),
        StrOp::EndsWith => input.ends_with(arg),
        // ModSecurity: an empty value is within anything.
        StrOp::Within => input.is_empty() || find(arg, input).is_some(),
        StrOp::ContainsWord => {
            if arg.is_empty() {
                return true;
            }
            let mut start = 0;
            while let Some(p) = find(&input[start..], arg) {
                let s = start + p;
                let e = s + arg.len();
                let before = s == 0 || !word_char(input[s - 1]);
                let after = e == input.len() || !word_char(input[e]);
                if before && after {
                    return true;
                }
                start = s + 1;
            }
            false
        }
    }
}

fn num_match(op: NumOp, input: &[u8], n: i64) -> bool {
    let v = atoi(input);
    match op {
        NumOp::Eq => v == n,
        NumOp::Ge => v >= n,
        NumOp::Gt => v > n,
        NumOp::Le => v <= n,
        NumOp::Lt => v < n,
    }
}

/// True when `input` holds a `%` not followed by two hex digits (ModSecurity's check).
fn invalid_url_encoding(input: &[u8]) -> bool {
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if i + 2 >= input.len() {
                return true;
            }
            if !(input[i + 1].is_ascii_hexdigit() && input[i + 2].is_ascii_hexdigit()) {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

impl Operator {
    /// Compiles `@name argument` (`name` without the `@`; `negated` for a leading `!`).
    /// `data_dir` resolves `@pmFromFile`/`@ipMatchFromFile` names.
    pub fn compile(
        name: &str,
        argument: &str,
        negated: bool,
        data_dir: &Path,
    ) -> Result<Operator, OperatorError> {
        let has_macro = argument.contains("%{");
        let lower = name.to_ascii_lowercase();
        let str_op = |op| Kind::Str(op, argument.as_bytes().to_vec());
        let num_op = |op| -> Result<Kind, OperatorError> {
            if has_macro {
                return Ok(Kind::NumMacro(op));
            }
            let t = argument.trim();
            if t.is_empty()
                || !t
                    .trim_start_matches(['-', '+'])
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                return Err(err(format!("@{name}: `{argument}` is not an integer")));
            }
            Ok(Kind::Num(op, atoi(t.as_bytes())))
        };
        let mut literals = None;
        let kind = match lower.as_str() {
            "rx" => {
                if has_macro {
                    Kind::RxMacro
                } else {
                    let (re, lits) =
                        rx::Rx::compile(argument).map_err(|e| err(format!("@rx: {e}")))?;
                    literals = lits;
                    Kind::Rx(re)
                }
            }
            "pm" | "pmfromfile" | "pmf" => {
                let phrases: Vec<Vec<u8>> = if lower == "pm" {
                    argument
                        .split_ascii_whitespace()
                        .map(|p| p.as_bytes().to_vec())
                        .collect()
                } else {
                    read_list(data_dir, argument)?
                        .into_iter()
                        .map(String::into_bytes)
                        .collect()
                };
                if phrases.is_empty() {
                    return Err(err(format!("@{name}: no phrases in `{argument}`")));
                }
                let ac = phrases_matcher(&phrases)?;
                literals = Some(
                    phrases
                        .into_iter()
                        .map(|mut p| {
                            p.make_ascii_lowercase();
                            p
                        })
                        .collect(),
                );
                Kind::Pm(ac)
            }
            "detectsqli" => Kind::DetectSqli,
            "detectxss" => Kind::DetectXss,
            "streq" => str_op(StrOp::Streq),
            "contains" | "strmatch" => str_op(StrOp::Contains),
            "containsword" => str_op(StrOp::ContainsWord),
            "beginswith" => str_op(StrOp::BeginsWith),
            "endswith" => str_op(StrOp::EndsWith),
            "within" => str_op(StrOp::Within),
            "eq" => num_op(NumOp::Eq)?,
            "ge" => num_op(NumOp::Ge)?,
            "gt" => num_op(NumOp::Gt)?,
            "le" => num_op(NumOp::Le)?,
            "lt" => num_op(NumOp::Lt)?,
            "ipmatch" | "ipmatchfromfile" | "ipmatchf" => {
                let entries: Vec<String> = if lower == "ipmatch" {
                    argument.split(',').map(str::to_string).collect()
                } else {
                    read_list(data_dir, argument)?
                };
                let nets = entries
                    .iter()
                    .filter(|e| !e.trim().is_empty())
                    .map(|e| ip::Net::parse(e))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| err(format!("@{name}: {e}")))?;
                Kind::Ip(nets)
            }
            "validatebyterange" => Kind::ByteRange(parse_byte_range(argument)?),
            "validateurlencoding" => Kind::ValidateUrlEncoding,
            "validateutf8encoding" => Kind::ValidateUtf8,
            "unconditionalmatch" => Kind::Unconditional,
            "nomatch" => Kind::NoMatch,
            "rbl" => Kind::Inert("@rbl needs DNS blocklist lookups; it never matches here"),
            "geolookup" => Kind::Inert("@geoLookup needs a GeoIP database; it never matches here"),
            _ => {
                return Err(err(format!(
                    "unsupported operator @{name} (supported: rx, pm, pmFromFile, detectSQLi, \
                     detectXSS, streq, contains, containsWord, beginsWith, endsWith, within, \
                     strmatch, eq, ge, gt, le, lt, ipMatch, ipMatchFromFile, validateByteRange, \
                     validateUrlEncoding, validateUtf8Encoding, unconditionalMatch, noMatch)"
                )));
            }
        };
        if matches!(kind, Kind::Str(..)) && !has_macro {
            let mut a = argument.as_bytes().to_vec();
            a.make_ascii_lowercase();
            // Within matches values that are part of the argument, not the other way round.
            if !a.is_empty() && !matches!(kind, Kind::Str(StrOp::Within, _)) {
                literals = Some(vec![a]);
            }
        }
        Ok(Operator {
            negated,
            name: name.to_string(),
            argument: argument.to_string(),
            kind,
            literals: if negated { None } else { literals },
        })
    }

    /// Evaluates the operator on one (transformed) value; `negated` already applied. With
    /// `captures`, an `@rx` match fills TX.0..TX.9 (whole match first); `@pm` and the string
    /// operators put the matched text in TX.0, `@detectSQLi` the libinjection fingerprint.
    pub fn matches(&self, input: &[u8], captures: Option<&mut Vec<Vec<u8>>>) -> bool {
        self.eval(input, self.argument.as_bytes(), captures)
    }

    /// Like [`Operator::matches`] with the argument the engine expanded (for operators
    /// whose argument holds a macro; others ignore `argument`).
    pub fn matches_with_argument(
        &self,
        input: &[u8],
        argument: &[u8],
        captures: Option<&mut Vec<Vec<u8>>>,
    ) -> bool {
        self.eval(input, argument, captures)
    }

    fn eval(&self, input: &[u8], arg: &[u8], mut captures: Option<&mut Vec<Vec<u8>>>) -> bool {
        if let Some(c) = captures.as_deref_mut() {
            c.clear();
        }
        let hit = match &self.kind {
            Kind::Rx(re) => match captures.as_deref_mut() {
                Some(c) if !self.negated => re.captures(input, c),
                _ => re.is_match(input),
            },
            Kind::RxMacro => match std::str::from_utf8(arg).ok().map(rx::Rx::compile) {
                Some(Ok((re, _))) => match captures.as_deref_mut() {
                    Some(c) if !self.negated => re.captures(input, c),
                    _ => re.is_match(input),
                },
                _ => false,
            },
            Kind::Pm(ac) => match ac.find(input) {
                Some(m) => {
                    if let Some(c) = captures.as_deref_mut() {
                        c.push(input[m.start()..m.end()].to_vec());
                    }
                    true
                }
                None => false,
            },
            Kind::DetectSqli => {
                let r = libinjectionrs::detect_sqli(input);
                if r.is_injection() {
                    if let (Some(c), Some(fp)) = (captures.as_deref_mut(), r.fingerprint) {
                        c.push(
                            fp.as_bytes()
                                .iter()
                                .copied()
                                .take_while(|&b| b != 0)
                                .collect(),
                        );
                    }
                    true
                } else {
                    false
                }
            }
            Kind::DetectXss => libinjectionrs::detect_xss(input).is_injection(),
            Kind::Str(op, lit) => {
                let a = if self.has_macro() {
                    arg
                } else {
                    lit.as_slice()
                };
                let hit = str_match(*op, input, a);
                if let Some(c) = captures.as_deref_mut().filter(|_| hit) {
                    c.push(if *op == StrOp::Within { input } else { a }.to_vec());
                }
                hit
            }
            Kind::Num(op, n) => num_match(*op, input, *n),
            Kind::NumMacro(op) => num_match(*op, input, atoi(arg)),
            Kind::Ip(nets) => std::str::from_utf8(input)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|n| n.contains(ip))),
            Kind::ByteRange(t) => input.iter().any(|&b| !t[b as usize]),
            Kind::ValidateUrlEncoding => invalid_url_encoding(input),
            Kind::ValidateUtf8 => std::str::from_utf8(input).is_err(),
            Kind::Unconditional => true,
            Kind::NoMatch | Kind::Inert(_) => false,
        };
        if self.negated {
            if let Some(c) = captures {
                c.clear();
            }
            !hit
        } else {
            hit
        }
    }

    /// Literals of which every match contains at least one, ASCII-lowercased: search them
    /// case-insensitively. None when no such set is known (or the operator is negated, so
    /// that an absent literal means a match).
    pub fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        self.literals.clone()
    }

    /// The operator name as written (without `@`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The argument as written (macros unexpanded).
    pub fn argument(&self) -> &str {
        &self.argument
    }

    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// True when the argument holds a `%{...}` macro: evaluate with
    /// [`Operator::matches_with_argument`].
    pub fn has_macro(&self) -> bool {
        matches!(self.kind, Kind::RxMacro | Kind::NumMacro(_))
            || (matches!(self.kind, Kind::Str(..)) && self.argument.contains("%{"))
    }

    /// For an `@rx` the linear-time engine rejected: why (the construct), now run on the
    /// backtracking engine with [`BACKTRACK_LIMIT`].
    pub fn backtracking(&self) -> Option<&str> {
        match &self.kind {
            Kind::Rx(rx::Rx::Backtracking(_, why)) => Some(why),
            _ => None,
        }
    }

    /// For an operator that compiles but never matches here (`@rbl`, `@geoLookup`): why.
    pub fn inert(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Inert(why) => Some(why),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
