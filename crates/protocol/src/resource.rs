//! Type metadata of the top-level kinds.

/// A type whose JSON and protobuf envelope carry `apiVersion` and `kind`.
pub trait Typed {
    const API_VERSION: &'static str;
    const KIND: &'static str;

    /// Whether an envelope's `apiVersion` names this type (meta types such as DeleteOptions
    /// are sent under whichever group version the client talked to).
    fn accepts_api_version(api_version: &str) -> bool {
        api_version == Self::API_VERSION
    }
}

/// A top-level API kind served by the apiserver (`/apis/<GROUP>/<VERSION>/<PLURAL>`).
pub trait Resource: Typed {
    /// `group/version`, or just `v1` for the core group.
    const API_VERSION: &'static str;
    const KIND: &'static str;
    /// Empty for the core group.
    const GROUP: &'static str;
    const VERSION: &'static str;
    const PLURAL: &'static str;
    const NAMESPACED: bool;
}

/// The `<Kind>List` of a top-level kind.
pub trait ListResource: Typed {
    type Item;
    /// Consumes the list into its items.
    fn into_items(self) -> Vec<Self::Item>;
}

/// Gives a type the JSON `apiVersion`/`kind` pair that Kubernetes writes on every top-level
/// object. The struct must derive serde with `#[serde(remote = "Self")]`, which generates the
/// inherent `serialize`/`deserialize` used here; the wrapper adds the two type fields on output
/// and ignores them on input (the envelope and the URL already say what the body is).
macro_rules! typed_json {
    ($ty:ty, $api_version:expr, $kind:expr) => {
        $crate::resource::typed_json!(serde_only $ty, $api_version, $kind);

        impl $crate::resource::Typed for $ty {
            const API_VERSION: &'static str = $api_version;
            const KIND: &'static str = $kind;
        }
    };
    (serde_only $ty:ty, $api_version:expr, $kind:expr) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                #[derive(::serde::Serialize)]
                struct Typed<'a> {
                    #[serde(rename = "kind")]
                    kind: &'static str,
                    #[serde(rename = "apiVersion")]
                    api_version: &'static str,
                    #[serde(flatten, serialize_with = "serialize_inner")]
                    inner: &'a $ty,
                }
                fn serialize_inner<S: ::serde::Serializer>(
                    value: &&$ty,
                    serializer: S,
                ) -> Result<S::Ok, S::Error> {
                    <$ty>::serialize(*value, serializer)
                }
                Typed {
                    kind: $kind,
                    api_version: $api_version,
                    inner: self,
                }
                .serialize(serializer)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                <$ty>::deserialize(deserializer)
            }
        }
    };
}

/// `typed_json!` plus the `Resource` impl of a kind (and `ListResource` of its list).
macro_rules! resource {
    ($ty:ty, $list:ty, group = $group:expr, version = $version:expr, api_version = $api_version:expr,
     kind = $kind:expr, list_kind = $list_kind:expr, plural = $plural:expr, namespaced = $namespaced:expr) => {
        $crate::resource::resource!(
            $ty,
            group = $group,
            version = $version,
            api_version = $api_version,
            kind = $kind,
            plural = $plural,
            namespaced = $namespaced
        );
        $crate::resource::typed_json!($list, $api_version, $list_kind);

        impl $crate::ListResource for $list {
            type Item = $ty;
            fn into_items(self) -> Vec<$ty> {
                self.items
            }
        }
    };
    ($ty:ty, group = $group:expr, version = $version:expr, api_version = $api_version:expr,
     kind = $kind:expr, plural = $plural:expr, namespaced = $namespaced:expr) => {
        $crate::resource::typed_json!($ty, $api_version, $kind);

        impl $crate::Resource for $ty {
            const API_VERSION: &'static str = $api_version;
            const KIND: &'static str = $kind;
            const GROUP: &'static str = $group;
            const VERSION: &'static str = $version;
            const PLURAL: &'static str = $plural;
            const NAMESPACED: bool = $namespaced;
        }
    };
}

pub(crate) use resource;
pub(crate) use typed_json;

/// Declares `<Kind>List { metadata, items }` (protobuf: metadata = 1, items = 2).
macro_rules! list_type {
    ($list:ident, $item:ty) => {
        #[derive(Clone, PartialEq, ::prost::Message, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "camelCase", remote = "Self")]
        pub struct $list {
            #[prost(message, required, tag = "1")]
            #[serde(default)]
            pub metadata: $crate::meta::ListMeta,
            #[prost(message, repeated, tag = "2")]
            #[serde(default, deserialize_with = "crate::serde_helpers::null_as_default")]
            pub items: Vec<$item>,
        }
    };
}

pub(crate) use list_type;
