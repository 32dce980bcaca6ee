//! SecLang, the ModSecurity rule language, as far as the Core Rule Set and users' exclusion
//! files use it: words and lines ([`lexer`]), action lists ([`actions`]), variable lists
//! ([`variables`]). The directives themselves are compiled in `crate::load`.

pub mod actions;
pub mod lexer;
pub mod variables;
