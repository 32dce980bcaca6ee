//! `@rx`: ModSecurity v3 compiles with PCRE's DOTALL and MULTILINE and matches bytes, not
//! UTF-8. The `regex` crate gives the same meaning with `(?sm-u)` (ASCII classes and ASCII
//! case folding, like PCRE without UTF mode) and runs in linear time. A pattern that needs
//! Unicode mode (a `\x{2028}` or `\p{..}`) is retried with it. Only patterns the crate
//! rejects — look-around, back-references, possessive quantifiers, atomic groups — go to
//! `fancy-regex`, a backtracking engine, with a hard backtrack limit; `Rx::backtracking`
//! names them so the engine can list them at load.

use super::literals;

/// Backtracking steps one fancy-regex match may take before it gives up (and does not
/// match, like PCRE hitting its match limit in ModSecurity).
pub const BACKTRACK_LIMIT: usize = 100_000;

/// Compiled program size limit: CRS's largest generated patterns need more than the
/// crate's 10 MiB default.
const SIZE_LIMIT: usize = 64 << 20;
/// Lazy-DFA cache per regex and thread; bounded so 300 regexes stay within the memory budget.
const DFA_LIMIT: usize = 1 << 20;

#[derive(Debug)]
pub(crate) enum Rx {
    Linear(regex::bytes::Regex),
    Backtracking(Box<fancy_regex::Regex>, String),
}

impl Rx {
    pub(crate) fn compile(pattern: &str) -> Result<(Rx, Option<literals::Literals>), String> {
        let (translated, possessive) = translate(pattern);
        let pattern = translated.as_str();
        let mut first_err = possessive.then(|| "possessive quantifier".to_string());
        for unicode in [false, true] {
            if possessive {
                // The crate reads `a*+` as a repeated repetition, which matches more than
                // PCRE's possessive form: only the backtracking engine is exact.
                break;
            }
            let flags = if unicode { "(?sm)" } else { "(?sm-u)" };
            let full = format!("{flags}(?:{pattern})");
            match regex::bytes::RegexBuilder::new(&full)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(DFA_LIMIT)
                .build()
            {
                Ok(re) => {
                    let lits = regex_syntax::ParserBuilder::new()
                        .utf8(false)
                        .build()
                        .parse(&full)
                        .ok()
                        .and_then(|h| literals::required(&h));
                    return Ok((Rx::Linear(re), lits));
                }
                Err(e) => {
                    first_err.get_or_insert(e.to_string());
                }
            }
        }
        let reason = first_err.unwrap_or_default();
        let reason = reason
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error: "))
            .unwrap_or(&reason)
            .to_string();
        let re = fancy_regex::RegexBuilder::new(&format!("(?sm)(?:{pattern})"))
            .backtrack_limit(BACKTRACK_LIMIT)
            .bytes_mode(fancy_regex::BytesMode::Ascii)
            .build()
            .map_err(|e| format!("invalid regular expression: {e}"))?;
        Ok((Rx::Backtracking(Box::new(re), reason), None))
    }

    pub(crate) fn is_match(&self, input: &[u8]) -> bool {
        match self {
            Rx::Linear(re) => re.is_match(input),
            // Over the backtrack limit counts as no match, as PCRE's match limit does in
            // ModSecurity (which then only logs it).
            Rx::Backtracking(re, _) => re.is_match(input).unwrap_or(false),
        }
    }

    /// Whole match first, then groups 1..=9 (empty for a group that did not take part).
    pub(crate) fn captures(&self, input: &[u8], out: &mut Vec<Vec<u8>>) -> bool {
        out.clear();
        match self {
            Rx::Linear(re) => {
                let Some(c) = re.captures(input) else {
                    return false;
                };
                for i in 0..c.len().min(10) {
                    out.push(c.get(i).map(|m| m.as_bytes().to_vec()).unwrap_or_default());
                }
                true
            }
            Rx::Backtracking(re, _) => {
                let Ok(Some(c)) = re.captures(input) else {
                    return false;
                };
                for i in 0..c.len().min(10) {
                    out.push(
                        c.get(i)
                            .map(|m| input[m.start()..m.end()].to_vec())
                            .unwrap_or_default(),
                    );
                }
                true
            }
        }
    }
}

/// Rewrites PCRE character-class syntax the `regex` crate reads differently: inside a
/// class PCRE takes `[` (unless it opens `[:name:]`), `&&`, `~~` and a leading `]`
/// literally, the crate as nesting and set operations. Also reports possessive quantifiers
/// (`*+`, `++`, `?+`, `}+`).
fn translate(p: &str) -> (String, bool) {
    let b: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut possessive = false;
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < b.len() {
        let c = b[i];
        if c == '\\' {
            // PCRE escapes the crate reads differently: `\<`/`\>` are literals (the crate:
            // word boundaries), `\v`/`\h` classes of vertical/horizontal space (the crate:
            // one control character), `\e` ESC.
            let class = |set: &str| {
                if in_class {
                    set.to_string()
                } else {
                    format!("[{set}]")
                }
            };
            let repl = match b.get(i + 1) {
                Some('<') => Some("<".to_string()),
                Some('>') => Some(">".to_string()),
                Some('e') => Some(r"\x1b".to_string()),
                Some('v') => Some(class(r"\n\x0b\x0c\r\x85")),
                Some('h') => Some(class(r"\t\x20\xa0")),
                _ => None,
            };
            if let Some(r) = repl {
                out.push_str(&r);
                i += 2;
                class_start = false;
                continue;
            }
            out.push(c);
            if let Some(&n) = b.get(i + 1) {
                out.push(n);
            }
            i += 2;
            // `\x{..}`, `\p{..}`: the braces belong to the escape.
            if matches!(b.get(i - 1), Some('x' | 'p' | 'P')) && b.get(i) == Some(&'{') {
                while i < b.len() {
                    out.push(b[i]);
                    i += 1;
                    if b[i - 1] == '}' {
                        break;
                    }
                }
            }
            class_start = false;
            continue;
        }
        if in_class {
            match c {
                ']' if class_start => out.push_str("\\]"),
                ']' => {
                    out.push(']');
                    in_class = false;
                }
                '[' if b.get(i + 1) == Some(&':') => {
                    // A POSIX class: copy through its closing `:]`.
                    let rest: String = b[i..].iter().collect();
                    match rest.find(":]") {
                        Some(e) => {
                            out.push_str(&rest[..e + 2]);
                            i += rest[..e + 2].chars().count();
                            class_start = false;
                            continue;
                        }
                        None => out.push_str("\\["),
                    }
                }
                '[' => out.push_str("\\["),
                '&' => out.push_str("\\&"),
                '~' => out.push_str("\\~"),
                c => out.push(c),
            }
            class_start = false;
            i += 1;
            continue;
        }
        match c {
            '[' => {
                out.push('[');
                in_class = true;
                class_start = true;
                if b.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            '{' if !is_quantifier(&b[i + 1..]) => out.push_str("\\{"),
            '*' | '+' | '?' | '}' if b.get(i + 1) == Some(&'+') => {
                let group_q = c == '?' && i > 0 && b[i - 1] == '(';
                if !group_q {
                    possessive = true;
                }
                out.push(c);
            }
            c => out.push(c),
        }
        i += 1;
    }
    (out, possessive)
}

/// `{n}`, `{n,}` or `{n,m}` (after the `{`): PCRE reads any other `{` as a literal.
fn is_quantifier(rest: &[char]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while rest.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return false;
    }
    if rest.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    rest.get(i) == Some(&'}')
}

#[cfg(test)]
mod translate_tests {
    use super::translate;

    #[test]
    fn pcre_classes_become_crate_classes() {
        assert_eq!(
            translate(r#"[^\"(),![\x5c\]{}]+"#).0,
            r#"[^\"(),!\[\x5c\]{}]+"#
        );
        assert_eq!(translate(r"[]a]").0, r"[\]a]");
        assert_eq!(translate(r"[[:alpha:]&&~]").0, r"[[:alpha:]\&\&\~]");
        assert_eq!(translate(r"a\[b").0, r"a\[b");
        assert!(translate(r"\s*+;").1);
        assert!(translate(r"a++").1);
        assert_eq!(
            translate(r"[^\<\>]\<\v[\h]").0,
            r"[^<>]<[\n\x0b\x0c\r\x85][\t\x20\xa0]"
        );
        assert_eq!(translate(r"\x{2028}\p{L}").0, r"\x{2028}\p{L}");
        assert_eq!(
            translate(r"\${a{2}b{1,}c{1,3}d{,2}e{x}").0,
            r"\$\{a{2}b{1,}c{1,3}d\{,2}e\{x}"
        );
        assert!(!translate(r"a+\+").1);
        assert!(!translate(r"[a++]").1);
    }
}
