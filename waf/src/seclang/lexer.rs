//! Splits a SecLang file into logical lines (joining `\` continuations, dropping comments) and
//! a logical line into words (double-quoted words may hold spaces and `\"`).

/// One directive as written: its words and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub words: Vec<String>,
}

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

pub fn lines(text: &str) -> Result<Vec<Line>, LexError> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if buf.is_empty() {
            let t = raw.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            start = i + 1;
        }
        if let Some(head) = raw.strip_suffix('\\') {
            buf.push_str(head);
            continue;
        }
        buf.push_str(raw);
        let words = words(&buf).map_err(|message| LexError {
            line: start,
            message,
        })?;
        if !words.is_empty() {
            out.push(Line {
                number: start,
                words,
            });
        }
        buf.clear();
    }
    if !buf.is_empty() {
        let words = words(&buf).map_err(|message| LexError {
            line: start,
            message,
        })?;
        out.push(Line {
            number: start,
            words,
        });
    }
    Ok(out)
}

/// Words of one logical line. Inside quotes only `\"` is unescaped: every other backslash is
/// kept for the regex or action parser that reads the word, as ModSecurity v3 does.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut w = String::new();
        if c == '"' {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('"') => w.push('"'),
                        Some(n) => {
                            w.push('\\');
                            w.push(n);
                        }
                        None => w.push('\\'),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => w.push(c),
                }
            }
            if !closed {
                return Err("unterminated double quote".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_and_quotes() {
        let t =
            "# c\nSecRule ARGS \"@rx a\\\"b\\d\" \\\n    \"id:1,\\\n    pass\"\n\nSecMarker END\n";
        let l = lines(t).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].number, 2);
        assert_eq!(l[0].words[2], "@rx a\"b\\d");
        assert_eq!(l[0].words[3], "id:1,    pass");
        assert_eq!(l[1].words, vec!["SecMarker", "END"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(lines("SecRule ARGS \"@rx a").is_err());
    }
}
