//! CloudWatch Embedded Metric Format, read back as CloudWatch Logs reads it: finds the metric
//! documents among a function's output lines, checks each against the format's rules (a
//! `_aws.CloudWatchMetrics` directive naming a namespace, dimension sets and metrics, a value at the
//! top level for every dimension and metric named, at most 100 values a metric), and adds up what
//! they carry. A document that breaks a rule fails the test: CloudWatch would drop it silently.
//!
//! Include it with `#[path = "…/tests/support/emf.rs"] mod emf;`. Needs serde_json.

#![allow(dead_code)]

use serde_json::Value;

/// The units CloudWatch accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One metric's values in one document, with the document's namespace and dimensions.
#[derive(Debug, Clone)]
pub struct Datum {
    pub namespace: String,
    pub metric: String,
    pub unit: Option<String>,
    /// (name, value) of every dimension of the metric's dimension set.
    pub dimensions: Vec<(String, String)>,
    pub values: Vec<f64>,
}

/// Every metric document of an output.
#[derive(Debug, Default)]
pub struct Emf {
    pub data: Vec<Datum>,
}

impl Emf {
    /// Reads the metric documents among `output`'s lines (other lines, logs, are skipped), checking
    /// each one.
    pub fn parse(output: &str) -> Emf {
        let mut emf = Emf::default();
        for line in output.lines() {
            let Ok(document) = serde_json::from_str::<Value>(line.trim()) else { continue };
            if document.get("_aws").is_none() {
                continue;
            }
            emf.data.extend(read_document(&document).unwrap_or_else(|why| panic!("not EMF ({why}): {line}")));
        }
        emf
    }

    /// The values of `metric` recorded with dimensions including every one of `dimensions`.
    pub fn values(&self, metric: &str, dimensions: &[(&str, &str)]) -> Vec<f64> {
        self.matching(metric, dimensions).flat_map(|datum| datum.values.iter().copied()).collect()
    }

    /// The sum of [`Emf::values`] (a counter's count).
    pub fn sum(&self, metric: &str, dimensions: &[(&str, &str)]) -> f64 {
        self.values(metric, dimensions).iter().sum()
    }

    /// Each datum of `metric` with those dimensions.
    pub fn matching<'a>(
        &'a self,
        metric: &'a str,
        dimensions: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Datum> {
        self.data.iter().filter(move |datum| {
            datum.metric == metric
                && dimensions.iter().all(|(name, value)| datum.dimensions.iter().any(|(n, v)| n == name && v == value))
        })
    }
}

fn read_document(document: &Value) -> Result<Vec<Datum>, String> {
    let aws = document["_aws"].as_object().ok_or("_aws is not an object")?;
    aws.get("Timestamp").and_then(Value::as_u64).ok_or("no Timestamp in milliseconds")?;
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no CloudWatchMetrics array")?;
    let mut data = Vec::new();
    for directive in directives {
        let namespace = directive["Namespace"].as_str().filter(|n| !n.is_empty()).ok_or("no Namespace")?;
        let sets = directive["Dimensions"].as_array().ok_or("no Dimensions array")?;
        let metrics = directive["Metrics"].as_array().ok_or("no Metrics array")?;
        if metrics.len() > 100 {
            return Err("more than 100 metrics".into());
        }
        for set in sets {
            let names = set.as_array().ok_or("a dimension set is not an array")?;
            if names.len() > 30 {
                return Err("a dimension set of more than 30".into());
            }
            let mut dimensions = Vec::new();
            for name in names {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                let value = document[name].as_str().ok_or_else(|| format!("dimension {name} has no string value"))?;
                dimensions.push((name.to_owned(), value.to_owned()));
            }
            for metric in metrics {
                let name = metric["Name"].as_str().ok_or("a metric without a Name")?;
                let unit = metric.get("Unit").map(|u| u.as_str().ok_or("a Unit is not a string")).transpose()?;
                if let Some(unit) = unit
                    && !UNITS.contains(&unit)
                {
                    return Err(format!("unknown unit {unit}"));
                }
                let values = match &document[name] {
                    Value::Number(n) => vec![n.as_f64().ok_or("not a number")?],
                    Value::Array(values) if values.len() <= 100 => {
                        values.iter().map(|v| v.as_f64().ok_or("a value is not a number")).collect::<Result<_, _>>()?
                    }
                    Value::Array(_) => return Err(format!("{name} has more than 100 values")),
                    _ => return Err(format!("metric {name} has no value")),
                };
                data.push(Datum {
                    namespace: namespace.to_owned(),
                    metric: name.to_owned(),
                    unit: unit.map(str::to_owned),
                    dimensions: dimensions.clone(),
                    values,
                });
            }
        }
    }
    Ok(data)
}
