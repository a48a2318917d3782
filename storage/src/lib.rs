//! refdb-storage
