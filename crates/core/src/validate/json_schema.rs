//! Validation of the merged tree against the config's JSON Schema: the draft-7 keywords
//! schemars emits for [`crate::schema::Config`] and nothing more (`$ref` into `definitions`,
//! `allOf`, `oneOf`, `type`, `enum`, `minimum`, `maximum`, `properties`,
//! `additionalProperties`, `required`, `items`; annotations and unknown formats such as
//! `uint16` are ignored, as draft 7 ignores them).
//!
//! Why not a general JSON Schema library: this runs in the lean compiler a NixOS host builds,
//! where such a library (with its regular-expression engines and number types) cost more to
//! compile than the rest of the compiler. What a general validator reports for this schema is
//! checked against this one by a generated test (`tests::agrees_with_a_general_validator`).
//!
//! Errors come in the order a draft-7 validator walking the schema's keywords in order gives
//! them; [`super::reading`] reports the first per key path.

use serde_json::{Map, Value};

use crate::sources::KeyPath;

/// One way the instance fails the schema, at `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// Where in the instance (object keys and list indices).
    pub path: KeyPath,
    /// The value found there.
    pub instance: Value,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `additionalProperties: false` and these keys, in the order they were written.
    AdditionalProperties(Vec<String>),
    /// Not of the schema's type(s): the JSON type names the schema allows, in its order.
    Type(Vec<String>),
    /// Not one of the schema's values (the `enum` array).
    Enum(Value),
    /// Below `minimum` (the schema's number).
    Minimum(Value),
    /// Above `maximum`.
    Maximum(Value),
    /// A `required` key missing (its name, as a JSON string).
    Required(Value),
    /// Valid under none of the `oneOf` schemas.
    OneOfNotValid,
    /// Valid under more than one of the `oneOf` schemas.
    OneOfMultipleValid,
}

impl SchemaError {
    /// The wording a draft-7 validator uses, for errors the caller has no words of its own for.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::OneOfNotValid => format!(
                "{} is not valid under any of the schemas listed in the 'oneOf' keyword",
                self.instance
            ),
            Kind::OneOfMultipleValid => format!(
                "{} is valid under more than one of the schemas listed in the 'oneOf' keyword",
                self.instance
            ),
            other => format!("{other:?}"),
        }
    }
}

/// Every way `instance` fails `schema` (whose `$ref`s point into its own `definitions`).
pub fn errors(schema: &Value, instance: &Value) -> Vec<SchemaError> {
    let mut out = Vec::new();
    Walk { root: schema }.node(schema, instance, &mut Vec::new(), &mut out);
    out
}

struct Walk<'s> {
    root: &'s Value,
}

impl<'s> Walk<'s> {
    fn node(
        &self,
        schema: &'s Value,
        instance: &Value,
        path: &mut KeyPath,
        out: &mut Vec<SchemaError>,
    ) {
        let Value::Object(keywords) = schema else {
            // `true`/`false` schemas are not emitted for the config.
            if schema == &Value::Bool(false) {
                out.push(error(path, instance, Kind::Type(vec![])));
            }
            return;
        };
        // Draft 7: beside `$ref`, every other keyword is ignored.
        if let Some(target) = keywords.get("$ref").and_then(Value::as_str) {
            if let Some(resolved) = self.resolve(target) {
                self.node(resolved, instance, path, out);
            }
            return;
        }
        for (keyword, value) in keywords {
            match keyword.as_str() {
                "allOf" => {
                    for sub in value.as_array().into_iter().flatten() {
                        self.node(sub, instance, path, out);
                    }
                }
                "oneOf" => self.one_of(value, instance, path, out),
                "type" => type_check(value, instance, path, out),
                "enum" => {
                    let allowed = value.as_array().into_iter().flatten();
                    if !allowed.clone().any(|v| json_equal(v, instance)) {
                        out.push(error(path, instance, Kind::Enum(value.clone())));
                    }
                }
                "minimum" => bound(
                    value,
                    instance,
                    |n, limit| n < limit,
                    Kind::Minimum,
                    path,
                    out,
                ),
                "maximum" => bound(
                    value,
                    instance,
                    |n, limit| n > limit,
                    Kind::Maximum,
                    path,
                    out,
                ),
                // After the object's keys (below), where a draft-7 validator reports it.
                "required" => {}
                // Together with `additionalProperties` the two are one walk over the
                // instance's keys (below), as a draft-7 validator combines them.
                "properties" if !keywords.contains_key("additionalProperties") => {
                    self.properties(value, None, instance, path, out);
                }
                "additionalProperties" => {
                    let empty = Value::Object(Map::new());
                    let known = keywords.get("properties").unwrap_or(&empty);
                    self.properties(known, Some(value), instance, path, out);
                }
                "items" => {
                    if let Value::Array(items) = instance {
                        for (i, item) in items.iter().enumerate() {
                            path.push(i.to_string());
                            self.node(value, item, path, out);
                            path.pop();
                        }
                    }
                }
                // Annotations, `format` (uint16 and the like are no draft-7 format), and
                // `definitions` (reached through `$ref`).
                _ => {}
            }
        }
        if let (Some(names), Value::Object(map)) = (keywords.get("required"), instance) {
            for name in names.as_array().into_iter().flatten() {
                if name.as_str().is_some_and(|n| !map.contains_key(n)) {
                    out.push(error(path, instance, Kind::Required(name.clone())));
                }
            }
        }
    }

    /// Each key of the instance: validated by its `properties` schema, else by
    /// `additionalProperties` (a schema, or `false`: collected and reported once, after the
    /// errors inside the object).
    fn properties(
        &self,
        known: &'s Value,
        additional: Option<&'s Value>,
        instance: &Value,
        path: &mut KeyPath,
        out: &mut Vec<SchemaError>,
    ) {
        let Value::Object(map) = instance else {
            return;
        };
        let mut unexpected = Vec::new();
        for (name, value) in map {
            let schema = match (known.get(name), additional) {
                (Some(schema), _) => schema,
                (None, Some(Value::Bool(false))) => {
                    unexpected.push(name.clone());
                    continue;
                }
                (None, Some(schema)) if schema.is_object() => schema,
                _ => continue,
            };
            path.push(name.clone());
            self.node(schema, value, path, out);
            path.pop();
        }
        if !unexpected.is_empty() {
            out.push(error(
                path,
                instance,
                Kind::AdditionalProperties(unexpected),
            ));
        }
    }

    fn one_of(
        &self,
        branches: &'s Value,
        instance: &Value,
        path: &mut KeyPath,
        out: &mut Vec<SchemaError>,
    ) {
        let valid = branches
            .as_array()
            .into_iter()
            .flatten()
            .filter(|branch| {
                let mut inner = Vec::new();
                self.node(branch, instance, &mut path.clone(), &mut inner);
                inner.is_empty()
            })
            .count();
        match valid {
            1 => {}
            0 => out.push(error(path, instance, Kind::OneOfNotValid)),
            _ => out.push(error(path, instance, Kind::OneOfMultipleValid)),
        }
    }

    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let name = reference.strip_prefix("#/definitions/")?;
        self.root.get("definitions")?.get(name)
    }
}

fn error(path: &KeyPath, instance: &Value, kind: Kind) -> SchemaError {
    SchemaError {
        path: path.clone(),
        instance: instance.clone(),
        kind,
    }
}

/// `minimum`/`maximum`: a number beyond `limit` (anything else is not this keyword's to judge).
fn bound(
    limit: &Value,
    instance: &Value,
    beyond: fn(f64, f64) -> bool,
    kind: fn(Value) -> Kind,
    path: &KeyPath,
    out: &mut Vec<SchemaError>,
) {
    if let (Some(l), Some(n)) = (limit.as_f64(), instance.as_f64()) {
        if beyond(n, l) {
            out.push(error(path, instance, kind(limit.clone())));
        }
    }
}

fn type_check(types: &Value, instance: &Value, path: &KeyPath, out: &mut Vec<SchemaError>) {
    let names: Vec<String> = match types {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => return,
    };
    if !names.iter().any(|t| is_of_type(t, instance)) {
        out.push(error(path, instance, Kind::Type(names)));
    }
}

/// Draft 7's types: an integer is any number without a fraction (`5.0` too).
fn is_of_type(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => {
            v.is_i64()
                || v.is_u64()
                || v.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

/// JSON equality: numbers by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FULL: &str = include_str!("../../../../examples/full.json");

    fn schema() -> Value {
        crate::schema::json_schema().clone()
    }

    /// What a general draft-7 validator reports, in this module's terms; any other kind of
    /// error fails the test (this validator would not know it).
    fn general(schema: &Value, instance: &Value) -> Vec<(KeyPath, Kind)> {
        use jsonschema::error::{TypeKind, ValidationErrorKind as K};
        let validator = jsonschema::validator_for(schema).expect("the schema compiles");
        validator
            .iter_errors(instance)
            .map(|e| {
                let path: KeyPath = e
                    .instance_path()
                    .to_string()
                    .split('/')
                    .skip(1)
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect();
                let kind = match e.kind() {
                    K::AdditionalProperties { unexpected } => {
                        Kind::AdditionalProperties(unexpected.clone())
                    }
                    K::Type { kind } => Kind::Type(match kind {
                        TypeKind::Single(t) => vec![t.to_string()],
                        TypeKind::Multiple(ts) => ts.iter().map(|t| t.to_string()).collect(),
                    }),
                    K::Enum { options } => Kind::Enum(options.as_ref().clone()),
                    K::Minimum { limit } => Kind::Minimum(limit.clone()),
                    K::Maximum { limit } => Kind::Maximum(limit.clone()),
                    K::Required { property } => Kind::Required(property.clone()),
                    K::OneOfNotValid { .. } => Kind::OneOfNotValid,
                    K::OneOfMultipleValid { .. } => Kind::OneOfMultipleValid,
                    other => panic!("a kind of error this validator does not know: {other:?}"),
                };
                (path, normalized(kind))
            })
            .collect()
    }

    fn ours(schema: &Value, instance: &Value) -> Vec<(KeyPath, Kind)> {
        errors(schema, instance)
            .into_iter()
            .map(|e| (e.path, normalized(e.kind)))
            .collect()
    }

    /// Type lists compared as sets (a general validator keeps them in its own order).
    fn normalized(kind: Kind) -> Kind {
        match kind {
            Kind::Type(mut ts) => {
                ts.sort();
                Kind::Type(ts)
            }
            other => other,
        }
    }

    /// Every object and value path of `v`.
    fn paths(v: &Value, at: &mut KeyPath, out: &mut Vec<KeyPath>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    at.push(k.clone());
                    paths(child, at, out);
                    at.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    at.push(i.to_string());
                    paths(child, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }

    fn at_mut<'v>(v: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
        path.iter().try_fold(v, |node, k| match node {
            Value::Object(m) => m.get_mut(k),
            Value::Array(a) => k.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        })
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![
                Just(0i64),
                Just(-1),
                Just(65535),
                Just(65536),
                Just(4294967296),
                any::<i64>()
            ]
            .prop_map(Value::from),
            prop_oneof![Just(1.0f64), Just(2.5), Just(-0.5), Just(70000.0)].prop_map(Value::from),
            prop_oneof![
                Just("team".to_string()),
                Just("enterprise".to_string()),
                Just("local".to_string()),
                Just("/run/x".to_string()),
                "[a-z]{0,6}"
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Change {
        Replace(usize, Value),
        Remove(usize),
        Insert(usize, String, Value),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (any::<usize>(), any_value()).prop_map(|(i, v)| Change::Replace(i, v)),
            any::<usize>().prop_map(Change::Remove),
            (any::<usize>(), "[a-z_]{1,10}", any_value())
                .prop_map(|(i, k, v)| Change::Insert(i, k, v)),
        ]
    }

    fn apply(config: &mut Value, change: &Change) {
        let mut all = Vec::new();
        paths(config, &mut Vec::new(), &mut all);
        match change {
            Change::Replace(i, v) => {
                if let Some(node) = at_mut(config, &all[i % all.len()]) {
                    *node = v.clone();
                }
            }
            Change::Remove(i) => {
                let path = &all[i % all.len()];
                if let Some((last, parent)) = path.split_last() {
                    if let Some(Value::Object(m)) = at_mut(config, parent) {
                        m.remove(last);
                    }
                }
            }
            Change::Insert(i, k, v) => {
                if let Some(Value::Object(m)) = at_mut(config, &all[i % all.len()]) {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    }

    #[test]
    fn the_examples_are_valid() {
        let full: Value = serde_json::from_str(FULL).expect("examples/full.json is JSON");
        assert_eq!(ours(&schema(), &full), vec![]);
        assert_eq!(general(&schema(), &full), vec![]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The same errors, at the same paths, in the same order as a general draft-7
        /// validator gives for this schema, on the example config changed at random.
        #[test]
        fn agrees_with_a_general_validator(changes in prop::collection::vec(change(), 1..5)) {
            let schema = schema();
            let mut config: Value = serde_json::from_str(FULL).expect("examples/full.json is JSON");
            for c in &changes {
                apply(&mut config, c);
            }
            prop_assert_eq!(ours(&schema, &config), general(&schema, &config));
        }
    }
}
