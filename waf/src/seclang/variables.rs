//! Variable lists (`ARGS|!ARGS:foo|&TX:x|REQUEST_HEADERS:/^x-/`): which collections a rule
//! reads, with key selectors, exclusions and counting.

use regex::bytes::Regex;

macro_rules! vars {
    ($($v:ident = $s:literal,)*) => {
        /// A SecLang variable or collection.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Var { $($v,)* }
        impl Var {
            pub fn parse(name: &str) -> Option<Var> {
                let up = name.to_ascii_uppercase();
                match up.as_str() { $($s => Some(Var::$v),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $(Var::$v => $s,)* }
            }
        }
    };
}

vars! {
    Args = "ARGS", ArgsNames = "ARGS_NAMES", ArgsGet = "ARGS_GET", ArgsGetNames = "ARGS_GET_NAMES",
    ArgsPost = "ARGS_POST", ArgsPostNames = "ARGS_POST_NAMES", ArgsCombinedSize = "ARGS_COMBINED_SIZE",
    RequestHeaders = "REQUEST_HEADERS", RequestHeadersNames = "REQUEST_HEADERS_NAMES",
    RequestCookies = "REQUEST_COOKIES", RequestCookiesNames = "REQUEST_COOKIES_NAMES",
    RequestFilename = "REQUEST_FILENAME", RequestBasename = "REQUEST_BASENAME",
    RequestUri = "REQUEST_URI", RequestUriRaw = "REQUEST_URI_RAW", RequestLine = "REQUEST_LINE",
    QueryString = "QUERY_STRING", RequestMethod = "REQUEST_METHOD", RequestProtocol = "REQUEST_PROTOCOL",
    RequestBody = "REQUEST_BODY", RequestBodyLength = "REQUEST_BODY_LENGTH", Xml = "XML",
    Files = "FILES", FilesNames = "FILES_NAMES", FilesSizes = "FILES_SIZES",
    FilesCombinedSize = "FILES_COMBINED_SIZE", MultipartPartHeaders = "MULTIPART_PART_HEADERS",
    MultipartFilename = "MULTIPART_FILENAME", MultipartName = "MULTIPART_NAME",
    MultipartStrictError = "MULTIPART_STRICT_ERROR", MultipartUnmatchedBoundary = "MULTIPART_UNMATCHED_BOUNDARY",
    ReqbodyError = "REQBODY_ERROR", ReqbodyErrorMsg = "REQBODY_ERROR_MSG", ReqbodyProcessor = "REQBODY_PROCESSOR",
    Tx = "TX", Ip = "IP", Global = "GLOBAL", Session = "SESSION", User = "USER", Resource = "RESOURCE", Geo = "GEO",
    Env = "ENV", Rule = "RULE",
    MatchedVar = "MATCHED_VAR", MatchedVars = "MATCHED_VARS", MatchedVarName = "MATCHED_VAR_NAME",
    MatchedVarsNames = "MATCHED_VARS_NAMES", UniqueId = "UNIQUE_ID", RemoteAddr = "REMOTE_ADDR",
    RemotePort = "REMOTE_PORT", Duration = "DURATION", Time = "TIME", TimeEpoch = "TIME_EPOCH",
    ServerName = "SERVER_NAME", ServerPort = "SERVER_PORT", ServerAddr = "SERVER_ADDR",
    FullRequest = "FULL_REQUEST", FullRequestLength = "FULL_REQUEST_LENGTH", StatusLine = "STATUS_LINE",
    ResponseBody = "RESPONSE_BODY", ResponseHeaders = "RESPONSE_HEADERS", ResponseHeadersNames = "RESPONSE_HEADERS_NAMES",
    ResponseStatus = "RESPONSE_STATUS", ResponseProtocol = "RESPONSE_PROTOCOL",
    ResponseContentType = "RESPONSE_CONTENT_TYPE", ResponseContentLength = "RESPONSE_CONTENT_LENGTH",
    AuthType = "AUTH_TYPE", HighestSeverity = "HIGHEST_SEVERITY", WebserverErrorLog = "WEBSERVER_ERROR_LOG",
}

impl Var {
    /// Response-side variables: the engine inspects requests only, so these are always empty.
    pub fn is_response(self) -> bool {
        matches!(
            self,
            Var::ResponseBody
                | Var::ResponseHeaders
                | Var::ResponseHeadersNames
                | Var::ResponseStatus
                | Var::ResponseProtocol
                | Var::ResponseContentType
                | Var::ResponseContentLength
                | Var::StatusLine
                | Var::WebserverErrorLog
        )
    }
}

/// A key selector: `:name` (case-insensitive) or `:/regex/`.
#[derive(Debug, Clone)]
pub enum Selector {
    All,
    Key(String),
    Regex(Regex),
}

impl Selector {
    pub fn matches(&self, key: &[u8]) -> bool {
        match self {
            Selector::All => true,
            Selector::Key(k) => key.eq_ignore_ascii_case(k.as_bytes()),
            Selector::Regex(r) => r.is_match(key),
        }
    }
}

/// One element of a variable list.
#[derive(Debug, Clone)]
pub struct Target {
    pub var: Var,
    pub selector: Selector,
    /// `&VAR`: the number of values instead of the values.
    pub count: bool,
    /// `!VAR:key`: removes values from the rule's other targets.
    pub exclude: bool,
}

pub fn parse_list(text: &str) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let mut exclude = false;
        let mut count = false;
        while i < b.len() && (b[i] == b'!' || b[i] == b'&') {
            if b[i] == b'!' {
                exclude = true;
            } else {
                count = true;
            }
            i += 1;
        }
        let ns = i;
        while i < b.len() && b[i] != b':' && b[i] != b'|' {
            i += 1;
        }
        let name = text[ns..i].trim();
        let var = Var::parse(name).ok_or_else(|| format!("variable {name}"))?;
        let mut selector = Selector::All;
        if i < b.len() && b[i] == b':' {
            i += 1;
            let ss = i;
            if var != Var::Xml && i < b.len() && b[i] == b'/' {
                i += 1;
                while i < b.len() && b[i] != b'/' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let re = text.get(ss + 1..i.min(b.len())).unwrap_or("");
                i += 1;
                let re = Regex::new(&format!("(?i-u){re}"))
                    .or_else(|_| Regex::new(&format!("(?i){re}")))
                    .map_err(|e| format!("selector regex in {:?}: {e}", &text[start..]))?;
                selector = Selector::Regex(re);
            } else {
                while i < b.len() && b[i] != b'|' {
                    i += 1;
                }
                let key = text[ss..i].trim().trim_matches('\'');
                selector = Selector::Key(key.to_string());
            }
        }
        out.push(Target {
            var,
            selector,
            count,
            exclude,
        });
        while i < b.len() && (b[i] == b'|' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("empty variable list".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let t =
            parse_list("REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|&ARGS|ARGS:foo|XML:/*").unwrap();
        assert_eq!(t.len(), 5);
        assert!(t[1].exclude && t[1].selector.matches(b"__utmz"));
        assert!(t[2].count);
        assert!(t[3].selector.matches(b"FOO"));
        assert_eq!(t[4].var, Var::Xml);
        assert!(parse_list("NOPE").is_err());
    }
}
