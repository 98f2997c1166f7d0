//! `meta/v1.Time` (RFC 3339, second precision) and `MicroTime` (microseconds).
//!
//! Both wrap `time::OffsetDateTime` in UTC. Go's zero time (0001-01-01T00:00:00Z) is
//! representable because the protobuf form of a zero Time is an *empty* message, which is
//! different from the Unix epoch (`seconds = 0` written explicitly). The JSON form of the zero
//! value is `null`, as Go writes it; `envelope::decode` turns decoded zero times into `None`.

use std::fmt;
use std::time::SystemTime;

use bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType, int32, int64, skip_field};
use prost::{DecodeError, Message};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Go's `time.Time{}` as Unix seconds.
const GO_ZERO_UNIX_SECONDS: i64 = -62_135_596_800;

/// prost offers no stable constructor for a custom decode error; `new` is only deprecated
/// (still public in 0.14), so it is confined to this one helper.
#[allow(deprecated)]
fn invalid_timestamp(message: &'static str) -> DecodeError {
    DecodeError::new(message)
}

fn go_zero() -> OffsetDateTime {
    // Year 1 is inside the time crate's default range, so this never fails.
    OffsetDateTime::from_unix_timestamp(GO_ZERO_UNIX_SECONDS).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

macro_rules! timestamp_type {
    ($name:ident, $keep_nanos:expr, $format:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub OffsetDateTime);

        impl $name {
            /// The current time at this type's precision.
            pub fn now() -> Self {
                Self::from_offset(OffsetDateTime::now_utc())
            }

            /// Go's zero time; written as `null` in JSON and an empty message in protobuf.
            pub fn zero() -> Self {
                Self(go_zero())
            }

            pub fn is_zero(&self) -> bool {
                self.0 == go_zero()
            }

            /// Converts to UTC and truncates to this type's precision.
            pub fn from_offset(value: OffsetDateTime) -> Self {
                let utc = value.to_offset(UtcOffset::UTC);
                let nanos = if $keep_nanos {
                    utc.nanosecond() / 1_000 * 1_000
                } else {
                    0
                };
                // nanos is below 1e9, so replacing it cannot fail.
                Self(utc.replace_nanosecond(nanos).unwrap_or(utc))
            }

            pub fn from_system_time(value: SystemTime) -> Self {
                Self::from_offset(OffsetDateTime::from(value))
            }

            pub fn to_system_time(&self) -> SystemTime {
                SystemTime::from(self.0)
            }

            /// Parses RFC 3339 text as Kubernetes accepts it (any offset, optional fraction).
            pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
                OffsetDateTime::parse(text, &Rfc3339).map(Self::from_offset)
            }

            /// Seconds since the Unix epoch.
            pub fn unix_seconds(&self) -> i64 {
                self.0.unix_timestamp()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::zero()
            }
        }

        impl From<SystemTime> for $name {
            fn from(value: SystemTime) -> Self {
                Self::from_system_time(value)
            }
        }

        impl From<OffsetDateTime> for $name {
            fn from(value: OffsetDateTime) -> Self {
                Self::from_offset(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let d = self.0;
                write!(
                    f,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    d.year(),
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                )?;
                if $keep_nanos {
                    write!(f, ".{:06}", d.nanosecond() / 1_000)?;
                }
                f.write_str("Z")
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if self.is_zero() {
                    serializer.serialize_unit()
                } else {
                    serializer.collect_str(self)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match Option::<String>::deserialize(deserializer)? {
                    None => Ok(Self::zero()),
                    Some(text) if text.is_empty() => Ok(Self::zero()),
                    Some(text) => Self::parse(&text).map_err(|e| {
                        D::Error::custom(format!("invalid {} {text:?}: {e}", $format))
                    }),
                }
            }
        }

        /// Upstream `message Time { int64 seconds = 1; int32 nanos = 2; }`.
        impl Message for $name {
            fn encode_raw(&self, buf: &mut impl BufMut) {
                if self.is_zero() {
                    return;
                }
                int64::encode(1, &self.0.unix_timestamp(), buf);
                int32::encode(2, &self.proto_nanos(), buf);
            }

            fn merge_field(
                &mut self,
                tag: u32,
                wire_type: WireType,
                buf: &mut impl Buf,
                ctx: DecodeContext,
            ) -> Result<(), DecodeError> {
                match tag {
                    1 => {
                        let mut seconds = 0i64;
                        int64::merge(wire_type, &mut seconds, buf, ctx)?;
                        let date = OffsetDateTime::from_unix_timestamp(seconds)
                            .map_err(|_| invalid_timestamp("timestamp seconds out of range"))?;
                        let nanos = if $keep_nanos { self.0.nanosecond() } else { 0 };
                        self.0 = date
                            .replace_nanosecond(nanos)
                            .map_err(|_| invalid_timestamp("timestamp nanos out of range"))?;
                        Ok(())
                    }
                    2 => {
                        let mut nanos = 0i32;
                        int32::merge(wire_type, &mut nanos, buf, ctx)?;
                        // Go's Time drops nanos on decode; MicroTime keeps microseconds.
                        if $keep_nanos {
                            let nanos = u32::try_from(nanos)
                                .ok()
                                .filter(|n| *n < 1_000_000_000)
                                .ok_or_else(|| invalid_timestamp("timestamp nanos out of range"))?;
                            self.0 = self
                                .0
                                .replace_nanosecond(nanos / 1_000 * 1_000)
                                .map_err(|_| invalid_timestamp("timestamp nanos out of range"))?;
                        }
                        Ok(())
                    }
                    _ => skip_field(wire_type, tag, buf, ctx),
                }
            }

            fn encoded_len(&self) -> usize {
                if self.is_zero() {
                    return 0;
                }
                int64::encoded_len(1, &self.0.unix_timestamp())
                    + int32::encoded_len(2, &self.proto_nanos())
            }

            fn clear(&mut self) {
                *self = Self::zero();
            }
        }

        impl $name {
            fn proto_nanos(&self) -> i32 {
                // nanosecond() is below 1e9 and fits an i32.
                i32::try_from(self.0.nanosecond()).unwrap_or(0)
            }
        }
    };
}

timestamp_type!(Time, false, "RFC 3339 time");
timestamp_type!(MicroTime, true, "RFC 3339 micro time");

impl From<Time> for MicroTime {
    fn from(value: Time) -> Self {
        MicroTime(value.0)
    }
}

impl From<MicroTime> for Time {
    fn from(value: MicroTime) -> Self {
        Time::from_offset(value.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_json_is_seconds_with_z() {
        let t = Time::parse("2024-05-01T12:00:00.987654+02:00").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-05-01T10:00:00Z\""
        );
    }

    #[test]
    fn micro_time_json_has_six_digits() {
        let t = MicroTime::parse("2024-05-01T10:00:00.5Z").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-05-01T10:00:00.500000Z\""
        );
    }

    #[test]
    fn zero_time_is_null_and_empty_message() {
        assert_eq!(serde_json::to_string(&Time::zero()).unwrap(), "null");
        assert!(Time::zero().encode_to_vec().is_empty());
        assert!(Time::decode(&[][..]).unwrap().is_zero());
    }

    #[test]
    fn epoch_is_not_zero_in_protobuf() {
        let epoch = Time(OffsetDateTime::UNIX_EPOCH);
        let bytes = epoch.encode_to_vec();
        assert_eq!(bytes, vec![0x08, 0x00, 0x10, 0x00]);
        assert_eq!(Time::decode(bytes.as_slice()).unwrap(), epoch);
    }

    #[test]
    fn micro_time_protobuf_keeps_microseconds() {
        let t = MicroTime::parse("2024-05-01T10:00:00.123456Z").unwrap();
        let back = MicroTime::decode(t.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn bad_json_time_is_an_error() {
        assert!(serde_json::from_str::<Time>("\"yesterday\"").is_err());
    }
}
