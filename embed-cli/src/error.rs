//! What can be wrong with an input, as one line naming the place and what is expected.

/// An input that guard-embed cannot process. `Display` is one line: the path inside the
/// document (e.g. `containerDefinitions[1].entryPoint`) and what is expected there. The CLI
/// puts the file name in front.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmbedError {
    /// The text is not JSON or YAML at all.
    #[error("line {line} column {column}: invalid {format}: {message}")]
    Syntax {
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value of the wrong type or shape, or a required field that is missing.
    #[error("{path}: {expected}")]
    Invalid { path: String, expected: String },
    /// Two containers of one task definition with the same name.
    #[error(
        "{path}: container name {name} is used twice (first at {first}); container names must be unique"
    )]
    DuplicateName {
        path: String,
        name: String,
        first: String,
    },
    /// An app container already uses the sidecar's name.
    #[error(
        "{path}: container {name} has the sidecar's name but is not a TaskGuard sidecar; pass --sidecar-name with a name no container uses"
    )]
    SidecarNameTaken { path: String, name: String },
    /// The task is already protected by a sidecar with another name.
    #[error(
        "{path}: the task already has a TaskGuard sidecar named {found}; pass --sidecar-name {found} (or run `guard-embed remove` first)"
    )]
    OtherSidecar { path: String, found: String },
    /// A Windows task definition.
    #[error(
        "{path}: expected a Linux task, found operatingSystemFamily {family}; TaskGuard protects Linux containers only"
    )]
    Windows { path: String, family: String },
    /// An app container without entryPoint and no image configuration for it.
    #[error(
        "{path}: container {name} has no entryPoint, so wrapping it needs its image's ENTRYPOINT and CMD: pass {flag} (FILE from `docker inspect IMAGE`), or set entryPoint to the program the container runs{command_hint}"
    )]
    MissingEntryPoint {
        path: String,
        name: String,
        flag: String,
        command_hint: String,
    },
    /// A NAME given to --include, --exclude or --image-config that no container has.
    #[error("{flag} {name}: no container of the input is named {name}")]
    UnknownContainer { flag: &'static str, name: String },
    /// The record guard-embed keeps in a dockerLabel cannot be read back.
    #[error("{path}: {message}")]
    Record { path: String, message: String },
}

impl EmbedError {
    pub(crate) fn invalid(path: impl Into<String>, expected: impl Into<String>) -> Self {
        EmbedError::Invalid {
            path: path.into(),
            expected: expected.into(),
        }
    }
}

/// An image configuration (`--image-config NAME=FILE`) that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{path}: {expected}")]
pub struct ImageConfigError {
    pub path: String,
    pub expected: String,
}
