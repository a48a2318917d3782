//! refdb-query
