//! The action list of a rule (`"id:1,phase:2,t:none,setvar:'tx.a=+1'"`): split on commas
//! outside single quotes, names lowercased, quotes removed from values.

/// One action as written: `name` or `name:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAction {
    pub name: String,
    pub value: Option<String>,
}

pub fn parse(text: &str) -> Result<Vec<RawAction>, String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b':' && b[i] != b',' {
            i += 1;
        }
        let name = text[start..i].trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("empty action name in {text:?}"));
        }
        let mut value = None;
        if i < b.len() && b[i] == b':' {
            i += 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i < b.len() && b[i] == b'\'' {
                i += 1;
                let mut v = String::new();
                let mut closed = false;
                let mut s = i;
                while i < b.len() {
                    if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\'' {
                        v.push_str(&text[s..i]);
                        v.push('\'');
                        i += 2;
                        s = i;
                        continue;
                    }
                    if b[i] == b'\'' {
                        v.push_str(&text[s..i]);
                        closed = true;
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                if !closed {
                    return Err(format!("unterminated single quote in action {name}"));
                }
                value = Some(v);
            } else {
                let s = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                value = Some(text[s..i].trim().to_string());
            }
        }
        out.push(RawAction { name, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_keep_commas() {
        let a = parse("id:1, phase:2,msg:'a, b',setvar:'tx.x=+%{tx.y}',pass").unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a[2].value.as_deref(), Some("a, b"));
        assert_eq!(a[3].value.as_deref(), Some("tx.x=+%{tx.y}"));
        assert_eq!(a[4].name, "pass");
        assert!(a[4].value.is_none());
    }
}
