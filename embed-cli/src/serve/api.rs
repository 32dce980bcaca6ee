//! `POST /v1/embed`, `/v1/remove`, `/v1/check`: the CLI's work on a request body, answered
//! with exactly the bytes the CLI writes to stdout, or a JSON error with its message.

use serde_json::{Map, Value, json};

use super::query::{self, Route};
use crate::EmbedError;
use crate::flags::{FlagError, Flags};

/// A response before it is put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// Extra headers: `x-guard-warning` (one per warning), `x-guard-protected`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub const JSON: &str = "application/json";
pub const YAML: &str = "application/yaml";
pub const TEXT: &str = "text/plain; charset=utf-8";

impl Reply {
    /// `{"error": message, ...fields}` with `status`.
    pub fn error(status: u16, message: &str, fields: Map<String, Value>) -> Reply {
        let mut v = Map::new();
        v.insert("error".into(), Value::String(message.to_string()));
        v.extend(fields);
        let mut body = Value::Object(v).to_string().into_bytes();
        body.push(b'\n');
        Reply {
            status,
            content_type: JSON,
            headers: vec![],
            body,
        }
    }

    fn flag(e: &FlagError) -> Reply {
        let mut fields = Map::new();
        fields.insert("flag".into(), Value::String(e.flag.to_string()));
        Reply::error(400, &e.message, fields)
    }
}

/// The JSON error for an input the CLI refuses: 400 when it is not JSON or YAML at all, 422
/// when it is but cannot be processed; `path` names the place in the document.
pub fn embed_error(e: &EmbedError) -> Reply {
    let mut fields = Map::new();
    let path = match e {
        EmbedError::Syntax {
            format,
            line,
            column,
            ..
        } => {
            fields.insert("format".into(), json!(format));
            fields.insert("line".into(), json!(line));
            fields.insert("column".into(), json!(column));
            None
        }
        EmbedError::Invalid { path, .. }
        | EmbedError::DuplicateName { path, .. }
        | EmbedError::SidecarNameTaken { path, .. }
        | EmbedError::OtherSidecar { path, .. }
        | EmbedError::Windows { path, .. }
        | EmbedError::MissingEntryPoint { path, .. }
        | EmbedError::Record { path, .. } => Some(path.clone()),
        EmbedError::UnknownContainer { flag, .. } => {
            fields.insert("flag".into(), json!(flag));
            None
        }
    };
    if let Some(p) = path {
        fields.insert("path".into(), Value::String(p));
    }
    let status = if matches!(e, EmbedError::Syntax { .. }) {
        400
    } else {
        422
    };
    Reply::error(status, &e.to_string(), fields)
}

/// The content type of a document in the form it was given.
fn content_type(text: &str) -> &'static str {
    match crate::form::Document::parse(text).map(|d| d.format) {
        Ok(crate::form::Format::Yaml) => YAML,
        _ => JSON,
    }
}

/// Header values are visible ASCII; anything else in a warning is escaped.
fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (' '..='~').contains(&c) {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

fn document(output: crate::Output, input: &str) -> Reply {
    Reply {
        status: 200,
        content_type: content_type(input),
        headers: output
            .warnings
            .iter()
            .map(|w| ("x-guard-warning", header_safe(w)))
            .collect(),
        body: output.text.into_bytes(),
    }
}

/// One API call.
pub fn handle(route: Route, query: &str, body: &[u8], defaults: &Flags) -> Reply {
    let Ok(text) = std::str::from_utf8(body) else {
        return Reply::error(400, "the body is not UTF-8 text", Map::new());
    };
    let flags = match query::apply(defaults, query, route) {
        Ok(f) => f,
        Err(e) => return Reply::flag(&e),
    };
    match route {
        Route::Embed => {
            let options = match flags.options(|_| Err("not available over HTTP".into())) {
                Ok(o) => o,
                Err(e) => return Reply::flag(&e),
            };
            match crate::embed(text, &options) {
                Ok(out) => document(out, text),
                Err(e) => embed_error(&e),
            }
        }
        Route::Remove => match crate::remove(text) {
            Ok(out) => document(out, text),
            Err(e) => embed_error(&e),
        },
        Route::Check => match crate::check(text, &flags.selection()) {
            Ok(report) => Reply {
                status: 200,
                content_type: TEXT,
                headers: vec![("x-guard-protected", report.all_protected().to_string())],
                body: report.render().into_bytes(),
            },
            Err(e) => embed_error(&e),
        },
    }
}
