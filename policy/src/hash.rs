//! The hash the compiler and the view agree on for table keys.
