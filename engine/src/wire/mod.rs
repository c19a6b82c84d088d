//! Checked views over untrusted bytes (see STYLE.md item 1): `X::new_checked(buf)` validates
//! lengths once, after which no accessor can panic. A malformed frame yields a small `Copy`
//! error that the caller counts; nothing here logs or panics.

pub mod tcp;
