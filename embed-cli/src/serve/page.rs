//! `GET /`: one page that works offline (no external assets, no build step): the task
//! definition on the left, the flags above, the protected task (or the diff) on the right.

use serde_json::json;

use super::api::Reply;
use crate::flags::Flags;

const PAGE: &str = include_str!("page.html");

/// The page, with the server's defaults filled into the flag fields.
pub fn reply(defaults: &Flags) -> Reply {
    let fail = defaults.fail.map_or("", |f| f.as_str());
    let values = json!({
        "sidecar-image": defaults.sidecar_image,
        "policy-url": defaults.policy_url.clone().unwrap_or_default(),
        "policy-file": defaults.policy_file.clone().unwrap_or_default(),
        "sidecar-name": defaults.sidecar_name,
        "include": defaults.include.join(","),
        "exclude": defaults.exclude.join(","),
        "fail": fail,
        "ptrace": defaults.ptrace,
        "no-resolver": defaults.no_resolver,
        "no-supervise": defaults.no_supervise,
    });
    // Inside <script>, `<` must not start `</script>`: JSON allows it escaped.
    let values = values.to_string().replace('<', "\\u003c");
    Reply {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: vec![(
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"
                .into(),
        )],
        body: PAGE.replace("/*DEFAULTS*/{}", &values).into_bytes(),
    }
}
