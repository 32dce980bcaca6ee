//! Reading audit events from what users actually have: the sidecar's JSON lines, the output of
//! `aws logs tail GROUP --format short|detailed` (a timestamp and stream name before each
//! JSON object), FireLens records (`{"log": "<json line>", ...}`) and CloudWatch Logs Insights
//! exports (a JSON array of rows, or the `GetQueryResults` form with `field`/`value` pairs).

use serde_json::{Map, Value};

/// Events read from one input, in input order.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<Value>,
    /// Non-empty lines or rows that held no audit event (other log output, truncated lines).
    pub unreadable: usize,
}

/// Parses a whole input: an Insights export when the text is one JSON document holding rows,
/// line by line otherwise.
pub fn parse_text(text: &str) -> Parsed {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        // A JSON-lines file fails here at its second line, which costs one short parse.
        if let Ok(doc) = serde_json::from_str::<Value>(trimmed)
            && let Some(rows) = export_rows(&doc)
        {
            let mut parsed = Parsed::default();
            for row in rows {
                match event_from_value(row) {
                    Some(e) => parsed.events.push(e),
                    None => parsed.unreadable += 1,
                }
            }
            return parsed;
        }
    }
    let mut parsed = Parsed::default();
    for line in text.lines() {
        match parse_line(line) {
            Line::Event(e) => parsed.events.push(e),
            Line::Blank => {}
            Line::Unreadable => parsed.unreadable += 1,
        }
    }
    parsed
}

/// What one line of input held.
#[derive(Debug)]
pub enum Line {
    Event(Value),
    Blank,
    Unreadable,
}

/// One line: the JSON object from its first `{` on, so any prefix `aws logs tail` or a log
/// shipper put before it is dropped.
pub fn parse_line(line: &str) -> Line {
    let line = line.trim();
    if line.is_empty() {
        return Line::Blank;
    }
    let Some(start) = line.find('{') else {
        return Line::Unreadable;
    };
    match serde_json::from_str::<Value>(&line[start..]) {
        Ok(v) => event_from_value(&v).map_or(Line::Unreadable, Line::Event),
        Err(_) => Line::Unreadable,
    }
}

/// The rows of an Insights export, or `None` when `doc` is not one.
fn export_rows(doc: &Value) -> Option<Vec<&Value>> {
    match doc {
        Value::Array(rows) => Some(rows.iter().collect()),
        Value::Object(o) => match o.get("results") {
            Some(Value::Array(rows)) => Some(rows.iter().collect()),
            _ => None,
        },
        _ => None,
    }
}

/// An audit event from a parsed line or export row: the event itself, or the event inside
/// `@message` (Insights) or `log` (FireLens). Fields-only Insights rows (a query that kept
/// `kind`, `action`, ... but not `@message`) are events as they are.
fn event_from_value(v: &Value) -> Option<Value> {
    match v {
        Value::Object(o) => {
            for wrapper in ["@message", "log"] {
                match o.get(wrapper) {
                    Some(Value::String(inner)) => {
                        if let Line::Event(e) = parse_line(inner) {
                            return Some(with_timestamp(e, o));
                        }
                    }
                    Some(inner @ Value::Object(_)) => {
                        if let Some(e) = event_from_value(inner) {
                            return Some(with_timestamp(e, o));
                        }
                    }
                    _ => {}
                }
            }
            if o.get("kind").is_some_and(Value::is_string) {
                let mut e = o.clone();
                // Insights rows name fields as the query did; `@timestamp` stands in for time.
                if !e.contains_key("time")
                    && let Some(t) = o.get("@timestamp").cloned()
                {
                    e.insert("time".into(), t);
                }
                e.retain(|k, _| !k.starts_with('@'));
                return Some(Value::Object(e));
            }
            None
        }
        // GetQueryResults: each row is a list of {"field": ..., "value": ...}.
        Value::Array(cells) => {
            let mut row = Map::new();
            for cell in cells {
                let (Some(field), Some(value)) =
                    (cell.get("field").and_then(Value::as_str), cell.get("value"))
                else {
                    continue;
                };
                row.insert(field.to_string(), value.clone());
            }
            if row.is_empty() {
                None
            } else {
                event_from_value(&Value::Object(row))
            }
        }
        _ => None,
    }
}

/// An unwrapped event keeps its own time; the wrapper's timestamp fills in when it has none.
fn with_timestamp(mut e: Value, wrapper: &Map<String, Value>) -> Value {
    if let Value::Object(o) = &mut e
        && !o.contains_key("time")
        && let Some(t) = wrapper.get("@timestamp").or_else(|| wrapper.get("time"))
    {
        o.insert("time".into(), t.clone());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"time":"2026-11-25T10:00:00.123Z","kind":"dns","action":"blocked","name":"evil.example","rule":"dns.deny:*.example"}"#;

    #[test]
    fn prefixes_of_aws_logs_tail_are_stripped() {
        let short = format!("2026-11-25T10:00:00 {EVENT}\n");
        let detailed = format!("2026-11-25T10:00:00.123000+00:00 guard/dns-guard/abc {EVENT}\n");
        for text in [short, detailed, format!("{EVENT}\n")] {
            let p = parse_text(&text);
            assert_eq!(p.events.len(), 1, "{text}");
            assert_eq!(p.events[0]["name"], "evil.example");
            assert_eq!(p.unreadable, 0);
        }
    }

    #[test]
    fn insights_exports_in_both_shapes() {
        let console = serde_json::json!([
            {"@timestamp": "2026-11-25 10:00:00.123", "@message": EVENT},
            {"@timestamp": "2026-11-25 10:00:01.000", "@message": "not an event"}
        ])
        .to_string();
        let p = parse_text(&console);
        assert_eq!((p.events.len(), p.unreadable), (1, 1));
        let api = serde_json::json!({"status": "Complete", "results": [[
            {"field": "@timestamp", "value": "2026-11-25 10:00:00.123"},
            {"field": "@message", "value": EVENT}
        ]]})
        .to_string();
        let p = parse_text(&api);
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0]["rule"], "dns.deny:*.example");
    }

    #[test]
    fn firelens_records_and_noise() {
        let firelens = serde_json::json!({"container_name": "guard", "log": EVENT}).to_string();
        let text = format!("{firelens}\nstarting up\n{{\"a\":1}}\n\n{{truncated\n");
        let p = parse_text(&text);
        assert_eq!((p.events.len(), p.unreadable), (1, 3));
    }
}
