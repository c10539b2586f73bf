//! The serde and schema side of configuration values that are written as
//! one string and parsed into a type (`HostPort`, `Cidr`): serialized as
//! written, deserialized through `FromStr` (its message becomes the
//! configuration error), and a plain string in the schema.

/// Implements `Serialize` (via `as_str`), `Deserialize` (via `FromStr`,
/// error type `String`) and `JsonSchema` (a string) for `$t`.
macro_rules! string_value {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $t {
            fn is_referenceable() -> bool {
                false
            }

            fn schema_name() -> String {
                stringify!($t).to_owned()
            }

            fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                <String as schemars::JsonSchema>::json_schema(gen)
            }
        }
    };
}

pub(crate) use string_value;
