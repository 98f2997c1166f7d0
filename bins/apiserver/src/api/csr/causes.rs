//! Field errors that `protocol::meta::StatusCause` has no constructor for, worded as
//! k8s.io/apimachinery's `field.Error` prints them.

use std::fmt::Write as _;

use protocol::meta::StatusCause;

/// `field: Too long: may not be more than N bytes`.
pub(crate) fn too_long(field: &str, max: usize) -> StatusCause {
    StatusCause {
        reason: "FieldValueTooLong".to_string(),
        message: format!("Too long: may not be more than {max} bytes"),
        field: field.to_string(),
    }
}

/// `field: Duplicate value: "v"`.
pub(crate) fn duplicate(field: &str, value: &str) -> StatusCause {
    StatusCause {
        reason: "FieldValueDuplicate".to_string(),
        message: format!("Duplicate value: {value:?}"),
        field: field.to_string(),
    }
}

/// `field: Invalid value: <value>: detail`, with the value already formatted as Go's `%#v`
/// (or `%v` for numbers) would.
pub(crate) fn invalid_formatted(field: &str, formatted_value: &str, detail: &str) -> StatusCause {
    StatusCause {
        reason: "FieldValueInvalid".to_string(),
        message: format!("Invalid value: {formatted_value}: {detail}"),
        field: field.to_string(),
    }
}

/// A `[]byte` as Go's `%#v` prints it: `[]byte{0x2d, 0xa}`, or `[]byte(nil)` when empty
/// (a JSON body without the field decodes to a nil slice upstream).
pub(crate) fn go_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "[]byte(nil)".to_string();
    }
    let mut out = String::with_capacity(8 + bytes.len() * 6);
    out.push_str("[]byte{");
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:#x}");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bytes_matches_go_sharp_v() {
        assert_eq!(go_bytes(b"-\n\x00"), "[]byte{0x2d, 0xa, 0x0}");
        assert_eq!(go_bytes(b""), "[]byte(nil)");
    }

    #[test]
    fn duplicate_quotes_the_value() {
        let cause = duplicate("spec.usages[1]", "client auth");
        assert_eq!(cause.message, "Duplicate value: \"client auth\"");
        assert_eq!(cause.reason, "FieldValueDuplicate");
    }
}
