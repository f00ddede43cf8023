//! Shared support of the end-to-end suites (see `tests/tests/`).
