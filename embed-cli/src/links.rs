//! The app containers' `volumesFrom` and `dependsOn` entries that name the sidecar: its volume
//! mounted read-only, and a start only once it is healthy.

use serde_json::{Map, Value};

use crate::error::EmbedError;
use crate::fill;
use crate::keys::Style;
use crate::record::Token;

/// Adds `volumesFrom {sourceContainer: sidecar, readOnly: true}` and
/// `dependsOn {containerName: sidecar, condition: HEALTHY}` unless an entry already names the
/// sidecar.
pub fn add(
    container: &mut Map<String, Value>,
    style: Style,
    path: &str,
    sidecar: &str,
    tokens: &mut Vec<Token>,
) -> Result<(), EmbedError> {
    let volume = style.object([
        ("sourceContainer", Value::from(sidecar)),
        ("readOnly", Value::Bool(true)),
    ]);
    add_entry(
        container,
        style,
        path,
        "volumesFrom",
        "sourceContainer",
        sidecar,
        volume,
        tokens,
    )?;
    let dependency = style.object([
        ("containerName", Value::from(sidecar)),
        ("condition", Value::from("HEALTHY")),
    ]);
    add_entry(
        container,
        style,
        path,
        "dependsOn",
        "containerName",
        sidecar,
        dependency,
        tokens,
    )
}

#[allow(clippy::too_many_arguments)]
fn add_entry(
    container: &mut Map<String, Value>,
    style: Style,
    path: &str,
    list: &str,
    field: &str,
    sidecar: &str,
    entry: Value,
    tokens: &mut Vec<Token>,
) -> Result<(), EmbedError> {
    let list_key = style.key(list);
    let field_key = style.key(field);
    if names(container.get(&list_key), &field_key, sidecar) {
        return Ok(());
    }
    fill::array(container, &list_key, &list_key, path, tokens)?.push(entry);
    Ok(())
}

fn names(list: Option<&Value>, field_key: &str, sidecar: &str) -> bool {
    list.and_then(Value::as_array).is_some_and(|items| {
        items
            .iter()
            .any(|i| i.get(field_key).and_then(Value::as_str) == Some(sidecar))
    })
}

/// Whether the container mounts the sidecar's volume and waits for it.
pub fn present(container: &Map<String, Value>, style: Style, sidecar: &str) -> (bool, bool) {
    (
        names(
            container.get(&style.key("volumesFrom")),
            &style.key("sourceContainer"),
            sidecar,
        ),
        names(
            container.get(&style.key("dependsOn")),
            &style.key("containerName"),
            sidecar,
        ),
    )
}

/// Takes out every entry naming one of the sidecars.
pub fn remove(container: &mut Map<String, Value>, style: Style, sidecars: &[Value]) {
    for (list, field) in [
        ("volumesFrom", "sourceContainer"),
        ("dependsOn", "containerName"),
    ] {
        let field_key = style.key(field);
        if let Some(Value::Array(items)) = container.get_mut(&style.key(list)) {
            items.retain(|item| !item.get(&field_key).is_some_and(|n| sidecars.contains(n)));
        }
    }
}
