//! `remove`: the guard taken out again. For an input without TaskGuard parts,
//! `remove(embed(x))` is `x` in its canonical form (see docs/embed.md).

use serde_json::{Map, Value};

use crate::container::{self, is_sidecar};
use crate::embed::dropped_warning;
use crate::entrypoint;
use crate::error::EmbedError;
use crate::form::Document;
use crate::keys::{Style, join};
use crate::record::{self, Token};
use crate::{Output, capabilities, environment, links};

/// Removes the sidecar and everything embed added to the app containers.
pub fn remove(text: &str) -> Result<Output, EmbedError> {
    let mut document = Document::parse(text)?;
    let warnings = dropped_warning(&document);
    for mut task in document.tasks()? {
        let style = task.style;
        let containers_path = task.containers_path.clone();
        let definitions = container::definitions(&mut task)?;
        let name_key = style.key("name");
        let sidecars: Vec<Value> = definitions
            .iter()
            .filter_map(Value::as_object)
            .filter(|c| is_sidecar(c, style))
            .filter_map(|c| c.get(&name_key).cloned())
            .collect();
        definitions.retain(|d| !d.as_object().is_some_and(|c| is_sidecar(c, style)));
        for (i, definition) in definitions.iter_mut().enumerate() {
            if let Value::Object(map) = definition {
                restore(map, style, &format!("{containers_path}[{i}]"), &sidecars)?;
            }
        }
    }
    Ok(Output {
        text: document.render(),
        warnings,
    })
}

fn restore(
    map: &mut Map<String, Value>,
    style: Style,
    path: &str,
    sidecars: &[Value],
) -> Result<(), EmbedError> {
    let labels_key = style.key("dockerLabels");
    let label = map
        .get_mut(&labels_key)
        .and_then(Value::as_object_mut)
        .and_then(|labels| labels.shift_remove(record::LABEL));
    let tokens = match &label {
        Some(Value::String(text)) => {
            record::parse(text, &join(&join(path, &labels_key), record::LABEL))?
        }
        _ => Vec::new(),
    };
    let wrapped = entrypoint::unwrap(map.get_mut(&style.key("entryPoint")));
    // Entries naming the sidecar would dangle once it is gone, wherever they are.
    links::remove(map, style, sidecars);
    if !wrapped && label.is_none() {
        // Not a container embed protected (a FireLens router, an --exclude'd one): its own
        // GUARD_* variables are its business.
        return Ok(());
    }
    environment::remove(map, style, &tokens);
    if tokens.contains(&Token::PtraceAdded) {
        capabilities::remove(map, style);
    }
    let mut restored = Vec::new();
    for token in &tokens {
        if let Token::Was(key, original) = token {
            set_path(map, key, original.clone());
            restored.push(key.as_str());
        }
    }
    if !wrapped {
        return Ok(());
    }
    // Keys embed created: gone again once empty, unless the record says they were there.
    // linuxParameters and dockerLabels are only touched for SYS_PTRACE and the record.
    let mut created = vec![
        style.key("environment"),
        style.key("volumesFrom"),
        style.key("dependsOn"),
    ];
    if tokens.contains(&Token::PtraceAdded) {
        created.extend(capabilities::paths(style).into_iter().rev());
    }
    if label.is_some() {
        created.push(labels_key);
    }
    for key in &created {
        if !restored.contains(&key.as_str()) && is_empty_at(map, key) {
            set_path(map, key, None);
        }
    }
    Ok(())
}

fn is_empty_at(map: &Map<String, Value>, dotted: &str) -> bool {
    let mut parts = dotted.split('.');
    let Some(first) = parts.next() else {
        return false;
    };
    let mut value = map.get(first);
    for part in parts {
        value = value.and_then(|v| v.get(part));
    }
    match value {
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(inner)) => inner.is_empty(),
        _ => false,
    }
}

/// Sets (or with `None` deletes) the key at a dotted path, keeping its position.
fn set_path(map: &mut Map<String, Value>, dotted: &str, value: Option<Value>) {
    let (parents, last) = match dotted.rsplit_once('.') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, dotted),
    };
    let mut target = Some(map);
    if let Some(parents) = parents {
        for part in parents.split('.') {
            target = target
                .and_then(|m| m.get_mut(part))
                .and_then(Value::as_object_mut);
        }
    }
    let Some(target) = target else {
        return;
    };
    match value {
        Some(value) => {
            target.insert(last.to_string(), value);
        }
        None => {
            target.shift_remove(last);
        }
    }
}
