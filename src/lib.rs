//! refdb
