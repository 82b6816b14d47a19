//! infra/template.yaml as CloudFormation JSON (`!Ref X` becomes `{"Ref": X}`, `!Sub s`
//! `{"Fn::Sub": s}`, …): what tests/infra.rs checks against the code and tests/stack.rs deploys.

use std::path::PathBuf;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Value, json};

/// The template, read from the repository, as JSON.
pub fn as_json() -> Value {
    // The including crate's folder, or the repository root above it (for the workers' tests).
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = here.ancestors().map(|dir| dir.join("infra/template.yaml")).find(|path| path.is_file()).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let documents = Yaml::load_from_str(&text).unwrap();
    to_json(&documents[0])
}

fn to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => json!(b),
        Yaml::Value(Scalar::Integer(i)) => json!(i),
        Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => json!(s.as_ref()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_else(|| panic!("non-string key {k:?}")).to_owned(), to_json(v)))
                .collect(),
        ),
        Yaml::Tagged(tag, inner) => {
            let key = if tag.suffix == "Ref" { "Ref".to_owned() } else { format!("Fn::{}", tag.suffix) };
            json!({ key: to_json(inner) })
        }
        other => panic!("unexpected YAML node {other:?}"),
    }
}
