//! Load errors that name the file, the line, the field and what is expected.

/// One problem in a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {field}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PolicyError {
    /// The file path or URL the document came from.
    pub origin: String,
    /// 1-based line, where the format tells it.
    pub line: Option<usize>,
    /// The field, e.g. `dns.deny[2]` or `mode`.
    pub field: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

/// Every problem found in one document (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl std::fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
