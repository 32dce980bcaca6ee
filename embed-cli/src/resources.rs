//! Whether the sidecar fits the task: task-level `cpu`/`memory` (strings, possibly with units
//! like `"1 vcpu"` or `"2 gb"`) against what the containers reserve.

use serde_json::Value;

use crate::form::Task;
use crate::sidecar::MEMORY_RESERVATION_MIB;

/// CPU units from `"1024"`, `1024`, `"1 vcpu"`, `"0.25 vCPU"`.
pub fn cpu_units(value: &Value) -> Option<u64> {
    parse_amount(value, &[("vcpu", 1024.0), ("cpu", 1024.0), ("", 1.0)])
}

/// MiB from `"512"`, `512`, `"2 gb"`, `"2GB"`, `"512 MiB"`.
pub fn memory_mib(value: &Value) -> Option<u64> {
    parse_amount(
        value,
        &[
            ("gib", 1024.0),
            ("gb", 1024.0),
            ("mib", 1.0),
            ("mb", 1.0),
            ("", 1.0),
        ],
    )
}

fn parse_amount(value: &Value, units: &[(&str, f64)]) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let lower = s.trim().to_ascii_lowercase();
            units.iter().find_map(|(unit, factor)| {
                let number = lower.strip_suffix(unit)?.trim();
                let amount: f64 = number.parse().ok()?;
                (amount.is_finite() && amount >= 0.0).then(|| (amount * factor).round() as u64)
            })
        }
        _ => None,
    }
}

/// Warnings about room for the sidecar and about the execution role, for a task whose
/// sidecar is already in place (`sidecar` is its index).
pub fn warnings(task: &Task<'_>, sidecar: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    if !task.has_task_level {
        return out;
    }
    let style = task.style;
    let definitions: &[Value] = match task.get("containerDefinitions") {
        Some(Value::Array(items)) => items,
        _ => return out,
    };
    let int = |d: &Value, key: &str| d.get(style.key(key)).and_then(Value::as_u64);
    let mut cpu = 0u64;
    let mut memory = 0u64;
    for (i, d) in definitions.iter().enumerate() {
        if Some(i) == sidecar {
            let reserved = int(d, "memory").or_else(|| int(d, "memoryReservation"));
            memory += reserved.unwrap_or(MEMORY_RESERVATION_MIB);
        } else {
            memory += int(d, "memory")
                .or_else(|| int(d, "memoryReservation"))
                .unwrap_or(0);
        }
        cpu += int(d, "cpu").unwrap_or(0);
    }
    if let Some(task_memory) = task.get("memory").and_then(memory_mib)
        && memory > task_memory
    {
        out.push(format!(
            "{}: the containers and the sidecar (about {MEMORY_RESERVATION_MIB} MiB) reserve {memory} MiB, more than the task's {task_memory} MiB; raise the task memory or lower a container's reservation",
            task.task_path("memory")
        ));
    }
    if let Some(task_cpu) = task.get("cpu").and_then(cpu_units)
        && cpu >= task_cpu
        && sidecar.is_some()
    {
        out.push(format!(
            "{}: the containers reserve {cpu} of the task's {task_cpu} CPU units, leaving none for the sidecar; raise the task cpu or lower a container's cpu",
            task.task_path("cpu")
        ));
    }
    let uses_awslogs = definitions.iter().any(|d| {
        d.get(style.key("logConfiguration"))
            .and_then(|l| l.get(style.key("logDriver")))
            .and_then(Value::as_str)
            == Some("awslogs")
    });
    let role = task.get("executionRoleArn");
    let has_role = match role {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    if uses_awslogs && !has_role {
        out.push(format!(
            "{}: missing, but awslogs is used: ECS needs an execution role to write the containers' (and the sidecar's) logs to CloudWatch Logs",
            task.task_path("executionRoleArn")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn units() {
        assert_eq!(cpu_units(&json!("1024")), Some(1024));
        assert_eq!(cpu_units(&json!("1 vcpu")), Some(1024));
        assert_eq!(cpu_units(&json!("0.25 vCPU")), Some(256));
        assert_eq!(cpu_units(&json!(512)), Some(512));
        assert_eq!(memory_mib(&json!("2 gb")), Some(2048));
        assert_eq!(memory_mib(&json!("0.5GB")), Some(512));
        assert_eq!(memory_mib(&json!("512")), Some(512));
        assert_eq!(memory_mib(&json!("512 MiB")), Some(512));
        assert_eq!(memory_mib(&json!("lots")), None);
        assert_eq!(memory_mib(&json!({"Ref": "Memory"})), None);
    }
}
