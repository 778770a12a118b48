//! Reading compose's loose values: the deserializers behind the model's
//! fields, and the JSON Schema pieces that describe what they accept.
//!
//! Compose files are lenient about types. After interpolation every value a
//! variable filled in is a string (`replicas: ${N}` gives `"3"`), so compose
//! casts strings to booleans and numbers where the field wants them; and
//! many keys take a short and a long form (`ports: ["8080:80"]` or a
//! mapping). The types in this module's siblings keep one normalized form;
//! the functions here accept every form compose accepts and turn it into
//! that one.
//!
//! Every union visitor hands mappings on with
//! [`MapAccessDeserializer`], never through an intermediate
//! `serde_yaml::Value`, so `serde_path_to_error` still sees every key and an
//! error deep in a long form points at the exact key that is wrong.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A YAML scalar as the loader handed it over.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
}

impl Scalar {
    /// The scalar as compose turns it into text (`true`, `3`, `1.5`);
    /// `None` for null.
    pub(crate) fn into_text(self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Bool(b) => Some(b.to_string()),
            Self::Int(i) => Some(i.to_string()),
            Self::UInt(u) => Some(u.to_string()),
            Self::Float(f) => Some(format_float(f)),
            Self::Str(s) => Some(s),
        }
    }

    /// How the value looks in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::UInt(u) => u.to_string(),
            Self::Float(f) => format_float(*f),
            Self::Str(s) => format!("{s:?}"),
        }
    }
}

/// Formats a float as Go's `%v` does for the values compose files hold
/// (`1.5`, `2`, `0.001`).
pub(crate) fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

struct ScalarVisitor {
    expected: &'static str,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(u64::try_from(v).map_or(Scalar::Int(v), Scalar::UInt))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
}

/// Reads any scalar; a list or mapping is an error that says `expected`.
pub(crate) fn scalar<'de, D: Deserializer<'de>>(
    d: D,
    expected: &'static str,
) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor { expected })
}

/// A value read as one scalar, for `next_element` / `next_value`.
struct AnyScalar(Scalar);

impl<'de> Deserialize<'de> for AnyScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a string, number or boolean").map(AnyScalar)
    }
}

/// Parses a boolean the way compose casts interpolated strings.
#[must_use]
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Some(true),
        "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

fn bool_from<E: de::Error>(value: Scalar) -> Result<Option<bool>, E> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::Str(ref s) => parse_bool(s).map(Some).ok_or_else(|| {
            E::custom(format!(
                "expected a boolean (true or false), found {}",
                value.describe()
            ))
        }),
        other => Err(E::custom(format!(
            "expected a boolean (true or false), found {}",
            other.describe()
        ))),
    }
}

/// A lenient boolean: `true`, `"true"`, `"yes"`...; null is `false`.
pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    bool_from(scalar(d, "a boolean")?).map(Option::unwrap_or_default)
}

/// A lenient optional boolean; null is `None`.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool_from(scalar(d, "a boolean")?)
}

/// A number compose reads from an integer, a float or a numeric string.
pub(crate) trait Number: Sized {
    /// What the error says is expected.
    const EXPECTED: &'static str;
    /// Converts the scalar, or says why not.
    fn from_scalar(value: &Scalar) -> Option<Self>;
}

macro_rules! integer {
    ($t:ty, $expected:literal) => {
        impl Number for $t {
            const EXPECTED: &'static str = $expected;
            fn from_scalar(value: &Scalar) -> Option<Self> {
                match value {
                    Scalar::Int(i) => <$t>::try_from(*i).ok(),
                    Scalar::UInt(u) => <$t>::try_from(*u).ok(),
                    Scalar::Str(s) => s.trim().parse().ok(),
                    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                    Scalar::Float(f)
                        if f.fract() == 0.0 && *f >= <$t>::MIN as f64 && *f <= <$t>::MAX as f64 =>
                    {
                        Some(*f as $t)
                    }
                    _ => None,
                }
            }
        }
    };
}

integer!(u16, "a whole number from 0 to 65535");
integer!(u32, "a whole number, 0 or more");
integer!(u64, "a whole number, 0 or more");
integer!(i64, "a whole number");

impl Number for f64 {
    const EXPECTED: &'static str = "a number";
    #[allow(clippy::cast_precision_loss)]
    fn from_scalar(value: &Scalar) -> Option<Self> {
        match value {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::UInt(u) => Some(*u as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
            _ => None,
        }
    }
}

fn number_from<T: Number, E: de::Error>(value: &Scalar) -> Result<Option<T>, E> {
    if *value == Scalar::Null {
        return Ok(None);
    }
    T::from_scalar(value).map(Some).ok_or_else(|| {
        E::custom(format!(
            "expected {}, found {}",
            T::EXPECTED,
            value.describe()
        ))
    })
}

/// A lenient optional number (`3` or `"3"`); null is `None`.
pub(crate) fn opt_number<'de, D: Deserializer<'de>, T: Number>(
    d: D,
) -> Result<Option<T>, D::Error> {
    number_from(&scalar(d, T::EXPECTED)?)
}

/// A lenient required number (`3` or `"3"`).
pub(crate) fn number<'de, D: Deserializer<'de>, T: Number>(d: D) -> Result<T, D::Error> {
    opt_number(d)?.ok_or_else(|| de::Error::custom(format!("expected {}, found null", T::EXPECTED)))
}

/// A lenient optional string: numbers and booleans become their text.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(scalar(d, "a string")?.into_text())
}

/// Collects the items of a list as text.
fn text_items<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<String>, A::Error> {
    let mut out = Vec::new();
    while let Some(AnyScalar(item)) = seq.next_element()? {
        match item.into_text() {
            Some(text) => out.push(text),
            None => {
                return Err(de::Error::custom(
                    "a list item is null; remove it or give it a value",
                ));
            }
        }
    }
    Ok(out)
}

struct StringsVisitor {
    single: bool,
}

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.single {
            "a string or a list of strings"
        } else {
            "a list of strings"
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.single {
            Ok(vec![v.to_owned()])
        } else {
            Err(E::invalid_type(de::Unexpected::Str(v), &self))
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.single_scalar(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.single_scalar(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.single_scalar(Scalar::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.single_scalar(Scalar::Float(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        text_items(seq)
    }
}

impl StringsVisitor {
    /// A number or boolean alone, where one string is allowed.
    fn single_scalar<E: de::Error>(&self, value: Scalar) -> Result<Vec<String>, E> {
        if self.single {
            Ok(value.into_text().into_iter().collect())
        } else {
            Err(E::custom(format!(
                "expected a list of strings, found {}",
                value.describe()
            )))
        }
    }
}

/// A list of strings (numbers allowed as items); null is empty.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringsVisitor { single: false })
}

/// A string or a list of strings; null is empty.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringsVisitor { single: true })
}

/// How a `list_or_dict` treats a key without a value.
#[derive(Clone, Copy)]
enum Missing {
    /// `KEY` / `KEY: null` means "no value" (`None`): environment, args.
    None,
    /// `KEY` / `KEY: null` means the empty string: labels, sysctls.
    Empty,
}

struct ListOrDictVisitor {
    missing: Missing,
    allow_list: bool,
}

impl<'de> Visitor<'de> for ListOrDictVisitor {
    type Value = IndexMap<String, Option<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.allow_list {
            "a mapping of KEY: VALUE, or a list of \"KEY=VALUE\" strings"
        } else {
            "a mapping of KEY: VALUE"
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(IndexMap::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(IndexMap::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if !self.allow_list {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let mut out = IndexMap::new();
        for item in text_items(seq)? {
            match item.split_once('=') {
                Some((key, value)) => out.insert(key.to_owned(), Some(value.to_owned())),
                None => out.insert(
                    item,
                    match self.missing {
                        Missing::None => None,
                        Missing::Empty => Some(String::new()),
                    },
                ),
            };
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        while let Some((key, AnyScalar(value))) = map.next_entry::<String, AnyScalar>()? {
            let value = match (value.into_text(), self.missing) {
                (Some(text), _) => Some(text),
                (None, Missing::None) => None,
                (None, Missing::Empty) => Some(String::new()),
            };
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// A mapping or `KEY=VALUE` list where a key without a value is `None`
/// (compose's "pass it through from the shell"): `environment`, `args`.
pub(crate) fn mapping_with_equals<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, Option<String>>, D::Error> {
    d.deserialize_any(ListOrDictVisitor {
        missing: Missing::None,
        allow_list: true,
    })
}

fn unwrap_values(map: IndexMap<String, Option<String>>) -> IndexMap<String, String> {
    map.into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

/// A mapping or `KEY=VALUE` list where a key without a value is the empty
/// string: `labels`, `annotations`, `sysctls`.
pub(crate) fn labels<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, String>, D::Error> {
    d.deserialize_any(ListOrDictVisitor {
        missing: Missing::Empty,
        allow_list: true,
    })
    .map(unwrap_values)
}

/// A mapping only, with scalar values turned into text: `driver_opts`,
/// logging `options`.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, String>, D::Error> {
    d.deserialize_any(ListOrDictVisitor {
        missing: Missing::Empty,
        allow_list: false,
    })
    .map(unwrap_values)
}

/// A type with a short (scalar) form besides its long (mapping) form, which
/// is the type's own derived `Deserialize`.
pub(crate) trait ShortForm: Sized {
    /// The short syntax, for error messages and the schema.
    const SHORT_SYNTAX: &'static str;
    /// Whether a bare number is a valid short form (`ports: [80]`).
    const NUMBER_IS_SHORT: bool = false;

    /// Reads the short form. Some short forms stand for several values (a
    /// port range); most give one.
    ///
    /// # Errors
    /// A message saying what is wrong and showing the expected form.
    fn from_short(text: &str) -> Result<Vec<Self>, String>;

    /// Fills in what compose fills in after reading the long form.
    #[must_use]
    fn finish(self) -> Self {
        self
    }
}

struct ItemSeed<T>(PhantomData<T>);

impl<'de, T: ShortForm + Deserialize<'de>> DeserializeSeed<'de> for ItemSeed<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(ItemVisitor(PhantomData))
    }
}

struct ItemVisitor<T>(PhantomData<T>);

impl<T: ShortForm> ItemVisitor<T> {
    fn short<E: de::Error>(text: &str) -> Result<Vec<T>, E> {
        T::from_short(text).map_err(E::custom)
    }

    fn number<E: de::Error>(self, text: &str) -> Result<Vec<T>, E> {
        if T::NUMBER_IS_SHORT {
            Self::short(text)
        } else {
            Err(E::custom(format!(
                "expected a string ({}) or a mapping, found the number {text}",
                T::SHORT_SYNTAX
            )))
        }
    }
}

impl<'de, T: ShortForm + Deserialize<'de>> Visitor<'de> for ItemVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string ({}) or a mapping", T::SHORT_SYNTAX)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::short(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.number(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.number(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.number(&format_float(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| vec![t.finish()])
    }
}

struct ListVisitor<T> {
    single: bool,
    marker: PhantomData<T>,
}

impl<'de, T: ShortForm + Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.single {
            write!(
                f,
                "a string ({}), or a list of strings and mappings",
                T::SHORT_SYNTAX
            )
        } else {
            write!(f, "a list of strings ({}) and mappings", T::SHORT_SYNTAX)
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.single {
            T::from_short(v).map_err(E::custom)
        } else {
            Err(E::custom(format!(
                "expected a list, found the string {v:?}; write it as a list: [{v:?}]"
            )))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(items) = seq.next_element_seed(ItemSeed::<T>(PhantomData))? {
            out.extend(items);
        }
        Ok(out)
    }
}

/// A list whose items are each a short string or a long mapping.
pub(crate) fn list_of<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: ShortForm + Deserialize<'de>,
{
    d.deserialize_any(ListVisitor {
        single: false,
        marker: PhantomData,
    })
}

/// Like [`list_of`], and a single short string alone is accepted too.
pub(crate) fn one_or_list_of<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: ShortForm + Deserialize<'de>,
{
    d.deserialize_any(ListVisitor {
        single: true,
        marker: PhantomData,
    })
}

struct OptVisitor<T>(PhantomData<T>);

impl<'de, T: ShortForm + Deserialize<'de>> Visitor<'de> for OptVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string ({}) or a mapping", T::SHORT_SYNTAX)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_short(v).map_err(E::custom)?.into_iter().next())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Some(t.finish()))
    }
}

/// An optional value given as a short string or a long mapping.
pub(crate) fn opt_short_or_long<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: ShortForm + Deserialize<'de>,
{
    d.deserialize_any(OptVisitor(PhantomData))
}

// ---------------------------------------------------------------------------
// Schema pieces for the forms the deserializers above accept.

macro_rules! schema_type {
    ($(#[$doc:meta])* $name:ident => $json:tt) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($json)
            }
        }
    };
}

schema_type!(
    /// A boolean, or a string compose casts to one.
    BoolSchema => {"type": ["boolean", "string", "null"]}
);
schema_type!(
    /// An integer, or a string compose casts to one.
    IntSchema => {"type": ["integer", "string", "null"]}
);
schema_type!(
    /// A number, or a string compose casts to one.
    NumberSchema => {"type": ["number", "string", "null"]}
);
schema_type!(
    /// A string; numbers and booleans are taken as their text.
    TextSchema => {"type": ["string", "number", "boolean", "null"]}
);
schema_type!(
    /// A list of strings.
    ListSchema => {"type": ["array", "null"], "items": {"type": ["string", "number"]}}
);
schema_type!(
    /// A string or a list of strings.
    StringOrListSchema => {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": ["string", "number"]}},
            {"type": "null"}
        ]
    }
);
schema_type!(
    /// A mapping of keys to scalar values, or a list of `KEY=VALUE` strings.
    ListOrDictSchema => {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]}
            },
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"}
        ]
    }
);
schema_type!(
    /// A mapping of keys to scalar values.
    DictSchema => {
        "type": ["object", "null"],
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]}
    }
);

fn short_schema<T: ShortForm>() -> serde_json::Value {
    let types: &[&str] = if T::NUMBER_IS_SHORT {
        &["string", "number"]
    } else {
        &["string"]
    };
    serde_json::json!({
        "type": types,
        "description": format!("Short syntax: {}", T::SHORT_SYNTAX),
    })
}

/// Schema of a list of short strings or long mappings of `T`.
pub(crate) struct ShortOrLongList<T>(PhantomData<T>);

impl<T: ShortForm + JsonSchema> JsonSchema for ShortOrLongList<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("ShortOrLongList_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["array", "null"],
            "items": {"oneOf": [short_schema::<T>(), generator.subschema_for::<T>()]}
        })
    }
}

/// Schema of a short string, or a list of short strings or long mappings.
pub(crate) struct OneOrList<T>(PhantomData<T>);

impl<T: ShortForm + JsonSchema> JsonSchema for OneOrList<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("OneOrList_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                short_schema::<T>(),
                {
                    "type": "array",
                    "items": {"oneOf": [short_schema::<T>(), generator.subschema_for::<T>()]}
                },
                {"type": "null"}
            ]
        })
    }
}

/// Schema of a short string or a long mapping.
pub(crate) struct ShortOrLong<T>(PhantomData<T>);

impl<T: ShortForm + JsonSchema> JsonSchema for ShortOrLong<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("ShortOrLong_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [short_schema::<T>(), generator.subschema_for::<T>(), {"type": "null"}]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Lenient {
        #[serde(default, deserialize_with = "bool")]
        flag: bool,
        #[serde(default, deserialize_with = "opt_number")]
        count: Option<u32>,
        #[serde(default, deserialize_with = "opt_number")]
        ratio: Option<f64>,
        #[serde(default, deserialize_with = "opt_string")]
        text: Option<String>,
        #[serde(default, deserialize_with = "mapping_with_equals")]
        env: IndexMap<String, Option<String>>,
        #[serde(default, deserialize_with = "labels")]
        labels: IndexMap<String, String>,
        #[serde(default, deserialize_with = "string_or_list")]
        dns: Vec<String>,
    }

    fn read(yaml: &str) -> Result<Lenient, String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
    }

    #[test]
    fn casts_strings_to_booleans_and_numbers() {
        let l = read("{flag: 'true', count: '3', ratio: '0.5', text: 42}").unwrap();
        assert!(l.flag);
        assert_eq!(l.count, Some(3));
        assert_eq!(l.ratio, Some(0.5));
        assert_eq!(l.text.as_deref(), Some("42"));
        let l = read("{flag: false, count: 7, ratio: 2, text: true}").unwrap();
        assert!(!l.flag);
        assert_eq!(l.count, Some(7));
        assert_eq!(l.ratio, Some(2.0));
        assert_eq!(l.text.as_deref(), Some("true"));
    }

    #[test]
    fn rejects_what_cannot_be_cast() {
        assert_eq!(
            read("{flag: maybe}").unwrap_err(),
            "flag: expected a boolean (true or false), found \"maybe\""
        );
        assert_eq!(
            read("{count: -1}").unwrap_err(),
            "count: expected a whole number, 0 or more, found -1"
        );
        assert_eq!(
            read("{count: [1]}").unwrap_err(),
            "count: invalid type: sequence, expected a whole number, 0 or more"
        );
    }

    #[test]
    fn environment_as_map_or_list() {
        let l = read("{env: {A: 1, B: , C: x=y, D: true}}").unwrap();
        assert_eq!(l.env["A"].as_deref(), Some("1"));
        assert_eq!(l.env["B"], None);
        assert_eq!(l.env["C"].as_deref(), Some("x=y"));
        assert_eq!(l.env["D"].as_deref(), Some("true"));
        let l = read("{env: [A=1, B, C=, D=x=y]}").unwrap();
        assert_eq!(l.env["A"].as_deref(), Some("1"));
        assert_eq!(l.env["B"], None);
        assert_eq!(l.env["C"].as_deref(), Some(""));
        assert_eq!(l.env["D"].as_deref(), Some("x=y"));
    }

    #[test]
    fn labels_as_map_or_list() {
        let l = read("{labels: {a: 1, b: }}").unwrap();
        assert_eq!(l.labels["a"], "1");
        assert_eq!(l.labels["b"], "");
        let l = read("{labels: [a=1, b]}").unwrap();
        assert_eq!(l.labels["a"], "1");
        assert_eq!(l.labels["b"], "");
    }

    #[test]
    fn string_or_list_takes_both() {
        assert_eq!(read("{dns: 8.8.8.8}").unwrap().dns, ["8.8.8.8"]);
        assert_eq!(read("{dns: [a, b]}").unwrap().dns, ["a", "b"]);
        assert!(read("{dns: }").unwrap().dns.is_empty());
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(1.1), "1.1");
    }
}
