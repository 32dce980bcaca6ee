//! SecLang operators (`@rx`, `@pm`, `@detectSQLi`, ...). (Stub: the API the engine codes
//! against; bodies to come.)

use std::path::Path;

/// A compiled operator. Immutable and `Send + Sync`; evaluation allocates only when captures
/// are asked for.
#[derive(Debug)]
pub struct Operator {
    negated: bool,
}

/// Why an operator could not be compiled (the engine adds file and line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OperatorError(pub String);

impl Operator {
    /// Compiles `@name argument` (`name` without the `@`; `negated` for a leading `!`).
    /// `data_dir` resolves `@pmFromFile`/`@ipMatchFromFile` names.
    pub fn compile(
        name: &str,
        argument: &str,
        negated: bool,
        data_dir: &Path,
    ) -> Result<Operator, OperatorError> {
        let _ = (name, argument, data_dir);
        Ok(Operator { negated })
    }

    /// Evaluates the operator on one (transformed) value; `negated` already applied. With
    /// `captures`, an `@rx` match fills TX.0..TX.9 (whole match first).
    pub fn matches(&self, input: &[u8], captures: Option<&mut Vec<Vec<u8>>>) -> bool {
        let _ = (input, captures);
        self.negated
    }

    /// Literals that every match must contain (lowercased when the operator is
    /// case-insensitive), for the engine's multi-pattern prefilter; None when unknown.
    pub fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        None
    }
}
