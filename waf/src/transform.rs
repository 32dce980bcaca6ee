//! SecLang `t:` transformations. (Stub: the API the engine codes against; bodies to come.)

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
}

impl Transform {
    /// The transformation named `name` (case-insensitive, as ModSecurity accepts).
    pub fn parse(name: &str) -> Option<Transform> {
        let _ = name;
        None
    }

    /// Applies the transformation to `input`, writing the result to `out` (cleared first).
    /// Returns false when the output equals the input (`out` is then left empty), so callers
    /// can share the input without copying.
    pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let _ = input;
        out.clear();
        false
    }
}
