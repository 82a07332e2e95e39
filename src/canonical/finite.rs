//! [`FiniteCheck`]: a serializer that only looks for non-finite floats.
//!
//! `serde_json::to_value` turns NaN and infinities into `null`, which would silently change a
//! value on its way into a signed or hashed document. [`super::canonical_bytes`] first runs the
//! value through [`FiniteCheck`], which produces nothing and fails on the first non-finite
//! float with [`CanonicalError::NonFinite`].

use serde::ser::{self, Serialize};

use super::CanonicalError;

/// A serializer that produces nothing and fails on the first non-finite float, so that
/// [`canonical_bytes`] refuses NaN and infinities instead of letting `serde_json::to_value` turn
/// them into `null`.
pub(super) struct FiniteCheck;

fn check_finite(f: f64) -> CheckResult {
    if f.is_finite() {
        Ok(())
    } else {
        Err(CanonicalError::NonFinite(f))
    }
}

type CheckResult = Result<(), CanonicalError>;

/// Lets a `Serialize` impl report its own failure while the value is checked for
/// non-finite floats.
impl ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonicalError::Serialize(<serde_json::Error as ser::Error>::custom(msg))
    }
}

impl ser::Serializer for FiniteCheck {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = FiniteCheck;
    type SerializeTuple = FiniteCheck;
    type SerializeTupleStruct = FiniteCheck;
    type SerializeTupleVariant = FiniteCheck;
    type SerializeMap = FiniteCheck;
    type SerializeStruct = FiniteCheck;
    type SerializeStructVariant = FiniteCheck;

    fn serialize_bool(self, _: bool) -> CheckResult {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> CheckResult {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> CheckResult {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> CheckResult {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> CheckResult {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> CheckResult {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> CheckResult {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> CheckResult {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> CheckResult {
        Ok(())
    }
    // Range limits for wide integers are enforced on the converted value, not here.
    fn serialize_i128(self, _: i128) -> CheckResult {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> CheckResult {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> CheckResult {
        check_finite(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> CheckResult {
        check_finite(v)
    }
    fn serialize_char(self, _: char) -> CheckResult {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> CheckResult {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> CheckResult {
        Ok(())
    }
    fn serialize_none(self) -> CheckResult {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> CheckResult {
        value.serialize(self)
    }
    fn serialize_unit(self) -> CheckResult {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> CheckResult {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> CheckResult {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> CheckResult {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> CheckResult {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, CanonicalError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, CanonicalError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CanonicalError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CanonicalError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, CanonicalError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CanonicalError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, CanonicalError> {
        Ok(self)
    }
}

/// The compound serializers only walk into their elements: one impl per serde trait, all alike.
macro_rules! walk_elements {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for FiniteCheck {
            type Ok = ();
            type Error = CanonicalError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> CheckResult {
                value.serialize(FiniteCheck)
            }
            fn end(self) -> CheckResult {
                Ok(())
            }
        }
    )*};
}

/// Like [`walk_elements`] for the serializers whose fields carry a static name.
macro_rules! walk_named_fields {
    ($($trait:ident),* $(,)?) => {$(
        impl ser::$trait for FiniteCheck {
            type Ok = ();
            type Error = CanonicalError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                value: &T,
            ) -> CheckResult {
                value.serialize(FiniteCheck)
            }
            fn end(self) -> CheckResult {
                Ok(())
            }
        }
    )*};
}

walk_elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);
walk_named_fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for FiniteCheck {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> CheckResult {
        key.serialize(FiniteCheck)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> CheckResult {
        value.serialize(FiniteCheck)
    }
    fn end(self) -> CheckResult {
        Ok(())
    }
}
