//! Intrinsic functions: parsing an intrinsic expression (`States.Format('…{}', $.x)`) with the
//! spec's argument kinds and escaping rules, checking it at load, and evaluating it.
//!
//! Every function of the Step Functions reference ("Intrinsic functions for JSONPath states") is
//! implemented:
//!
//! - arrays: `States.Array`, `States.ArrayPartition`, `States.ArrayContains`, `States.ArrayRange`,
//!   `States.ArrayGetItem`, `States.ArrayLength`, `States.ArrayUnique`;
//! - encoding: `States.Base64Encode`, `States.Base64Decode`; hashing: `States.Hash`;
//! - JSON: `States.JsonMerge`, `States.StringToJson`, `States.JsonToString`;
//! - math: `States.MathRandom`, `States.MathAdd`; strings: `States.StringSplit`;
//! - `States.UUID` and `States.Format`.
//!
//! The argument rules come from that AWS page first; where it is silent, from LocalStack's
//! implementation (as ported into moto, under `moto/stepfunctions/parser/asl/component/intrinsic`).
//! Where the two disagree the AWS page wins, and the code says so where it happens.
//!
//! At load: the arity, at most ten functions nested in one another, and every literal argument
//! checked with the very rule the function applies when it runs. An invocation whose arguments are
//! all literals is evaluated once, so one that can only fail (`States.ArrayRange(1, 5000, 1)`) is
//! refused. At run time a failure is `States.IntrinsicFailure` (the States Language's name for it),
//! its cause naming the function.

use std::borrow::Cow;
use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Map, Number, Value};

use crate::error::{Failure, Refusal, error_names};
use crate::jsonpath::JsonPath;
use crate::path::kind_of;

/// AWS: "You can nest up to 10 intrinsic functions within a field". Read as nesting depth (the
/// page's own example nests nine functions, five deep); a total count would refuse more.
const MAX_NESTED_FUNCTIONS: usize = 10;

/// AWS: the input of `States.Base64Encode`, `States.Base64Decode` and `States.Hash` is at most
/// 10,000 characters.
const MAX_INPUT_CHARACTERS: usize = 10_000;

/// AWS: "The newly generated array can't contain more than 1000 items" (`States.ArrayRange`).
const MAX_RANGE_ITEMS: i128 = 1000;

/// The functions of the States Language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    const ALL: [Func; 18] = [
        Func::Format,
        Func::StringToJson,
        Func::JsonToString,
        Func::Array,
        Func::ArrayPartition,
        Func::ArrayContains,
        Func::ArrayRange,
        Func::ArrayGetItem,
        Func::ArrayLength,
        Func::ArrayUnique,
        Func::Base64Encode,
        Func::Base64Decode,
        Func::Hash,
        Func::JsonMerge,
        Func::MathRandom,
        Func::MathAdd,
        Func::StringSplit,
        Func::Uuid,
    ];

    fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|func| func.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Array => "States.Array",
            Func::ArrayPartition => "States.ArrayPartition",
            Func::ArrayContains => "States.ArrayContains",
            Func::ArrayRange => "States.ArrayRange",
            Func::ArrayGetItem => "States.ArrayGetItem",
            Func::ArrayLength => "States.ArrayLength",
            Func::ArrayUnique => "States.ArrayUnique",
            Func::Base64Encode => "States.Base64Encode",
            Func::Base64Decode => "States.Base64Decode",
            Func::Hash => "States.Hash",
            Func::JsonMerge => "States.JsonMerge",
            Func::MathRandom => "States.MathRandom",
            Func::MathAdd => "States.MathAdd",
            Func::StringSplit => "States.StringSplit",
            Func::Uuid => "States.UUID",
        }
    }

    /// The fewest and the most arguments the function takes (`None`: no upper bound).
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Format => (1, None),
            Func::Array => (0, None),
            Func::Uuid => (0, Some(0)),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, Some(1)),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, Some(2)),
            // The seed is optional.
            Func::MathRandom => (2, Some(3)),
            Func::ArrayRange | Func::JsonMerge => (3, Some(3)),
        }
    }
}

/// A piece of a string literal: text, or an unescaped `{}` (a States.Format placeholder).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Hole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Literal {
    pieces: Vec<Piece>,
}

impl Literal {
    fn holes(&self) -> usize {
        self.pieces.iter().filter(|p| **p == Piece::Hole).count()
    }

    /// The literal's value; a `{}` outside a States.Format template stands for itself.
    fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Hole => "{}",
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Str(Literal),
    Number(Number),
    Bool(bool),
    Null,
    Path(JsonPath),
    Call(Box<Call>),
}

impl Arg {
    /// The value of a literal argument, known at load; `None` for paths and nested functions.
    fn literal_value(&self) -> Option<Value> {
        match self {
            Arg::Str(literal) => Some(Value::String(literal.text())),
            Arg::Number(n) => Some(Value::Number(n.clone())),
            Arg::Bool(b) => Some(Value::Bool(*b)),
            Arg::Null => Some(Value::Null),
            Arg::Path(_) | Arg::Call(_) => None,
        }
    }
}

/// A parsed intrinsic function invocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    func: Func,
    args: Vec<Arg>,
}

impl Call {
    /// Parses and checks an intrinsic expression. `task_token_available` says whether
    /// `$$.Task.Token` may be referenced.
    pub(crate) fn parse(text: &str, task_token_available: bool) -> Result<Call, Refusal> {
        let mut parser = Parser { text, chars: text.chars().collect(), pos: 0, task_token_available, depth: 0 };
        parser.skip_ws();
        let call = parser.call()?;
        parser.skip_ws();
        if parser.pos != parser.chars.len() {
            return Err(parser.invalid("unexpected text after the closing \")\""));
        }
        Ok(call)
    }

    /// Evaluates the call against the payload template's input `data` and the `context` object.
    pub(crate) fn eval(&self, data: &Value, context: &Value) -> Result<Value, Failure> {
        let fail =
            |cause: String| Failure::new(error_names::INTRINSIC_FAILURE, format!("{}: {cause}", self.func.name()));
        // A literal template keeps its escapes apart from its placeholders (`\{}` is text), which
        // its text alone would lose.
        if let (Func::Format, Some((Arg::Str(template), rest))) = (self.func, self.args.split_first()) {
            let values = rest.iter().map(|arg| eval_arg(arg, data, context)).collect::<Result<Vec<_>, _>>()?;
            return format(&template.pieces, &values).map(Value::String).map_err(fail);
        }
        let values = self.args.iter().map(|arg| eval_arg(arg, data, context)).collect::<Result<Vec<_>, _>>()?;
        evaluate(self.func, &values).map_err(fail)
    }
}

fn eval_arg(arg: &Arg, data: &Value, context: &Value) -> Result<Value, Failure> {
    Ok(match arg {
        Arg::Str(literal) => Value::String(literal.text()),
        Arg::Number(n) => Value::Number(n.clone()),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Null => Value::Null,
        Arg::Path(path) => path.select(data, context).ok_or_else(|| {
            Failure::new(
                error_names::INTRINSIC_FAILURE,
                format!("the JSONPath \"{path}\" of an intrinsic function argument could not be found in the input"),
            )
        })?,
        Arg::Call(call) => call.eval(data, context)?,
    })
}

/// Runs `func` on evaluated arguments (their number already checked at load). The error is the
/// cause, without the function's name.
fn evaluate(func: Func, args: &[Value]) -> Result<Value, String> {
    let arg = |position: usize| args.get(position).unwrap_or(&Value::Null);
    match func {
        Func::Format => {
            let template = runtime_template(string_arg(arg(0), 0)?);
            format(&template, args.get(1..).unwrap_or_default()).map(Value::String)
        }
        Func::StringToJson => string_to_json(string_arg(arg(0), 0)?),
        Func::JsonToString => serde_json::to_string(arg(0)).map(Value::String).map_err(|e| e.to_string()),
        Func::Array => Ok(Value::Array(args.to_vec())),
        Func::ArrayPartition => {
            let items = array_arg(arg(0), 0)?;
            let size = chunk_size(arg(1), 1)?;
            Ok(partition(items, size))
        }
        Func::ArrayContains => {
            let items = array_arg(arg(0), 0)?;
            let wanted = comparable(arg(1));
            Ok(Value::Bool(items.iter().any(|item| comparable(item) == wanted)))
        }
        Func::ArrayRange => {
            let (start, end, step) = (integer_arg(arg(0), 0)?, integer_arg(arg(1), 1)?, range_step(arg(2), 2)?);
            let count = range_length(start, end, step);
            if count > MAX_RANGE_ITEMS {
                return Err(format!("the range has {count} items; at most {MAX_RANGE_ITEMS} are allowed"));
            }
            Ok(Value::Array(range(start, end, step)))
        }
        Func::ArrayGetItem => {
            let items = array_arg(arg(0), 0)?;
            let index = array_index(arg(1), 1)?;
            items
                .get(index)
                .cloned()
                .ok_or_else(|| format!("index {index} is out of bounds for an array of {} element(s)", items.len()))
        }
        Func::ArrayLength => Ok(Value::from(array_arg(arg(0), 0)?.len())),
        Func::ArrayUnique => {
            let mut seen = HashSet::new();
            let items = array_arg(arg(0), 0)?;
            Ok(Value::Array(items.iter().filter(|item| seen.insert(comparable(item).to_string())).cloned().collect()))
        }
        Func::Base64Encode => Ok(Value::String(STANDARD.encode(limited_text(arg(0), 0)?))),
        Func::Base64Decode => {
            let bytes = base64_bytes(limited_text(arg(0), 0)?)?;
            String::from_utf8(bytes).map(Value::String).map_err(|_| "the decoded bytes are not UTF-8 text".to_owned())
        }
        Func::Hash => {
            let algorithm = hash_algorithm(arg(1), 1)?;
            Ok(Value::String(algorithm.hex_digest(limited_text(arg(0), 0)?.as_bytes())))
        }
        Func::JsonMerge => {
            let mut merged = object_arg(arg(0), 0)?.clone();
            let overrides = object_arg(arg(1), 1)?;
            shallow_merge_flag(arg(2), 2)?;
            // Shallow: a key of the second object replaces the first's whole value.
            merged.extend(overrides.iter().map(|(key, value)| (key.clone(), value.clone())));
            Ok(Value::Object(merged))
        }
        Func::MathRandom => {
            let start = integer_arg(arg(0), 0)?;
            let end = integer_arg(arg(1), 1)?;
            let seed = args.get(2).map(|seed| integer_arg(seed, 2)).transpose()?;
            math_random(start, end, seed)
        }
        Func::MathAdd => Ok(Value::from(math_add_operand(arg(0), 0)? + math_add_operand(arg(1), 1)?)),
        Func::StringSplit => Ok(string_split(string_arg(arg(0), 0)?, string_arg(arg(1), 1)?)),
        Func::Uuid => Ok(Value::String(uuid())),
    }
}

/// Checks one argument the way `func` checks it when it runs, alone (rules between arguments, such
/// as MathRandom's start below its end, are left to the run). At load it is given each literal.
fn check_argument(func: Func, position: usize, value: &Value) -> Result<(), String> {
    match (func, position) {
        (Func::StringToJson | Func::StringSplit, _) | (Func::Format, 0) => string_arg(value, position).map(drop),
        (
            Func::ArrayPartition | Func::ArrayContains | Func::ArrayGetItem | Func::ArrayLength | Func::ArrayUnique,
            0,
        ) => array_arg(value, position).map(drop),
        (Func::ArrayPartition, 1) => chunk_size(value, position).map(drop),
        (Func::ArrayGetItem, 1) => array_index(value, position).map(drop),
        (Func::ArrayRange, 0 | 1) | (Func::MathRandom, _) => integer_arg(value, position).map(drop),
        (Func::ArrayRange, 2) => range_step(value, position).map(drop),
        (Func::Base64Encode | Func::Hash, 0) => limited_text(value, position).map(drop),
        (Func::Base64Decode, 0) => base64_bytes(limited_text(value, position)?).map(drop),
        (Func::Hash, 1) => hash_algorithm(value, position).map(drop),
        (Func::JsonMerge, 0 | 1) => object_arg(value, position).map(drop),
        (Func::JsonMerge, 2) => shallow_merge_flag(value, position),
        (Func::MathAdd, _) => math_add_operand(value, position).map(drop),
        _ => Ok(()),
    }
}

fn ordinal(position: usize) -> &'static str {
    ["first", "second", "third"].get(position).copied().unwrap_or("last")
}

fn string_arg(value: &Value, position: usize) -> Result<&str, String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(format!("the {} argument must be a string, not {}", ordinal(position), kind_of(other))),
    }
}

fn array_arg(value: &Value, position: usize) -> Result<&[Value], String> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(format!("the {} argument must be an array, not {}", ordinal(position), kind_of(other))),
    }
}

fn object_arg(value: &Value, position: usize) -> Result<&Map<String, Value>, String> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(format!("the {} argument must be a JSON object, not {}", ordinal(position), kind_of(other))),
    }
}

/// A string of at most 10,000 characters (Base64Encode, Base64Decode, Hash).
fn limited_text(value: &Value, position: usize) -> Result<&str, String> {
    let text = string_arg(value, position)?;
    let characters = text.chars().count();
    if characters > MAX_INPUT_CHARACTERS {
        return Err(format!(
            "the {} argument has {characters} characters; at most {MAX_INPUT_CHARACTERS} are allowed",
            ordinal(position)
        ));
    }
    Ok(text)
}

/// A number as an integer. AWS: "If you specify a non-integer value …, Step Functions will round
/// it off to the nearest integer" (MathAdd, MathRandom, ArrayRange, ArrayPartition). Halves round
/// up, as Java's `Math.round` does (2.5 → 3, -2.5 → -2): LocalStack's MathAdd rounds so, to match
/// Step Functions, which runs on Java. (LocalStack's MathRandom truncates and its ArrayRange and
/// ArrayPartition round halves to even; the AWS page says "nearest" for all four.)
fn integer_arg(value: &Value, position: usize) -> Result<i64, String> {
    let Value::Number(number) = value else {
        return Err(format!("the {} argument must be a number, not {}", ordinal(position), kind_of(value)));
    };
    if let Some(integer) = number.as_i64() {
        return Ok(integer);
    }
    // Below 2^53 every f64 integer is exact, so the cast below is too.
    let x = number
        .as_f64()
        .filter(|x| x.abs() < 9.0e15)
        .ok_or_else(|| format!("the {} argument {number} is too large", ordinal(position)))?;
    let floor = x.floor();
    Ok((if x - floor >= 0.5 { floor + 1.0 } else { floor }) as i64)
}

/// AWS (MathAdd): "You must specify integer values in the range of -2147483648 and 2147483647".
fn math_add_operand(value: &Value, position: usize) -> Result<i64, String> {
    let integer = integer_arg(value, position)?;
    i32::try_from(integer)
        .map(i64::from)
        .map_err(|_| format!("the {} argument {integer} is outside -2147483648..=2147483647", ordinal(position)))
}

/// AWS (ArrayPartition): "a non-zero, positive integer for the second argument".
fn chunk_size(value: &Value, position: usize) -> Result<usize, String> {
    let size = integer_arg(value, position)?;
    usize::try_from(size)
        .ok()
        .filter(|size| *size > 0)
        .ok_or_else(|| format!("the chunk size must be a positive integer, not {size}"))
}

/// AWS (ArrayRange): "a non-zero value for the third argument"; a negative step counts down
/// (LocalStack refuses it, the AWS page does not).
fn range_step(value: &Value, position: usize) -> Result<i64, String> {
    match integer_arg(value, position)? {
        0 => Err("the step must not be 0".to_owned()),
        step => Ok(step),
    }
}

/// An index into an array: a non-negative integer, not rounded (the AWS page says nothing of
/// rounding here; LocalStack takes integers only).
fn array_index(value: &Value, position: usize) -> Result<usize, String> {
    let Value::Number(number) = value else {
        return Err(format!("the {} argument must be an index, not {}", ordinal(position), kind_of(value)));
    };
    let integer = number.as_u64().or_else(|| {
        let x = number.as_f64()?;
        (x.fract() == 0.0 && (0.0..9.0e15).contains(&x)).then_some(x as u64)
    });
    integer
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| format!("the index must be a non-negative integer, not {number}"))
}

/// AWS (JsonMerge): "Step Functions only supports the shallow merging mode; therefore, you must
/// specify the boolean value as false".
fn shallow_merge_flag(value: &Value, position: usize) -> Result<(), String> {
    match value {
        Value::Bool(false) => Ok(()),
        Value::Bool(true) => Err(format!(
            "the {} argument must be false: Step Functions only supports the shallow merging mode",
            ordinal(position)
        )),
        other => Err(format!("the {} argument must be the boolean false, not {}", ordinal(position), kind_of(other))),
    }
}

#[derive(Debug, Clone, Copy)]
enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    fn hex_digest(self, data: &[u8]) -> String {
        match self {
            HashAlgorithm::Md5 => lower_hex(&<md5::Md5 as md5::Digest>::digest(data)),
            HashAlgorithm::Sha1 => lower_hex(&<sha1::Sha1 as sha1::Digest>::digest(data)),
            HashAlgorithm::Sha256 => lower_hex(&<sha2::Sha256 as sha2::Digest>::digest(data)),
            HashAlgorithm::Sha384 => lower_hex(&<sha2::Sha384 as sha2::Digest>::digest(data)),
            HashAlgorithm::Sha512 => lower_hex(&<sha2::Sha512 as sha2::Digest>::digest(data)),
        }
    }
}

fn hash_algorithm(value: &Value, position: usize) -> Result<HashAlgorithm, String> {
    let name = string_arg(value, position)?;
    HashAlgorithm::named(name).ok_or_else(|| {
        format!("unknown hash algorithm {name:?}; the algorithms are MD5, SHA-1, SHA-256, SHA-384, SHA-512")
    })
}

impl HashAlgorithm {
    /// The names exactly as AWS lists them (LocalStack too): "sha-256" is unknown.
    fn named(name: &str) -> Option<HashAlgorithm> {
        match name {
            "MD5" => Some(HashAlgorithm::Md5),
            "SHA-1" => Some(HashAlgorithm::Sha1),
            "SHA-256" => Some(HashAlgorithm::Sha256),
            "SHA-384" => Some(HashAlgorithm::Sha384),
            "SHA-512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }
}

/// The lowercase hex digest of `text` (its UTF-8 bytes) by the algorithm AWS names `algorithm`
/// (`States.Hash`, JSONata's `$hash`); `None` for an algorithm AWS does not list.
pub(crate) fn hash_hex(text: &str, algorithm: &str) -> Option<String> {
    HashAlgorithm::named(algorithm).map(|algorithm| algorithm.hex_digest(text.as_bytes()))
}

/// `items` in chunks of `size` (at least 1), the last one holding what is left
/// (`States.ArrayPartition`, JSONata's `$partition`).
pub(crate) fn partition(items: &[Value], size: usize) -> Value {
    Value::Array(items.chunks(size.max(1)).map(|chunk| Value::Array(chunk.to_vec())).collect())
}

/// A version 4 UUID (`States.UUID`, JSONata's `$uuid`).
pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// "MIME Base64" decoding, as AWS names it: characters outside the Base64 alphabet (line breaks
/// included) are skipped, and the closing `=` padding may be left out, as Java's MIME decoder
/// allows. (LocalStack's Python decoder skips them too, but wants the padding.)
fn base64_bytes(text: &str) -> Result<Vec<u8>, String> {
    const MIME: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let alphabet_only: String =
        text.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')).collect();
    MIME.decode(alphabet_only).map_err(|e| format!("the argument is not Base64: {e}"))
}

/// AWS: "The interpreter applies a JSON parser". Blank text gives null, as LocalStack's does (the
/// AWS page does not say); `-0` gives 0, as Java's and Python's parsers read it.
pub(crate) fn string_to_json(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&without_integer_negative_zero(text)).map_err(|e| format!("the string is not JSON: {e}"))
}

/// serde_json reads the integer `-0` as the float -0.0 (written back as `-0.0`), where Java's
/// and Python's parsers read the integer 0: the text loses that minus sign first. `-0.0` and
/// `-0e0` are floats everywhere and keep it.
fn without_integer_negative_zero(text: &str) -> Cow<'_, str> {
    let mut rewritten: Option<String> = None;
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        let is_minus_of_integer_zero = !in_string
            && c == '-'
            && text[at + 1..].starts_with('0')
            && !text[at + 2..].starts_with(|next: char| next.is_ascii_digit() || matches!(next, '.' | 'e' | 'E'));
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        if is_minus_of_integer_zero {
            rewritten.get_or_insert_with(|| text[..at].to_owned());
        } else if let Some(out) = rewritten.as_mut() {
            out.push(c);
        }
    }
    rewritten.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// A value as ArrayContains and ArrayUnique compare it: numbers by their value (`1` and `1.0` are
/// equal, as in LocalStack's Python), while a boolean never equals a number (Python's
/// `True == 1` is not what JSON means); objects with their keys sorted, so that ArrayUnique's text
/// of an object never depends on the order its keys were written in, whatever serde_json's
/// features (docs/ARCHITECTURE.md, `vendor/jsonata-core`).
fn comparable(value: &Value) -> Cow<'_, Value> {
    match value {
        Value::Number(number) if number.is_f64() => match number.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Cow::Owned(Value::from(x as i64)),
            _ => Cow::Borrowed(value),
        },
        Value::Array(items) => {
            Cow::Owned(Value::Array(items.iter().map(|item| comparable(item).into_owned()).collect()))
        }
        Value::Object(object) => {
            let mut fields: Vec<(&String, &Value)> = object.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Cow::Owned(Value::Object(
                fields.into_iter().map(|(key, item)| (key.clone(), comparable(item).into_owned())).collect(),
            ))
        }
        _ => Cow::Borrowed(value),
    }
}

/// How many items [`range`] gives: `start == end` gives one, a step away from `end` none. `step`
/// is not 0.
pub(crate) fn range_length(start: i64, end: i64, step: i64) -> i128 {
    let span = i128::from(end) - i128::from(start);
    if span == 0 {
        1
    } else if (span > 0) == (step > 0) {
        span / i128::from(step) + 1
    } else {
        0
    }
}

/// From `start` to `end` inclusive by `step` (not 0), which may be negative (`States.ArrayRange`,
/// JSONata's `$range`); callers bound [`range_length`] first.
pub(crate) fn range(start: i64, end: i64, step: i64) -> Vec<Value> {
    // Every item lies between start and end, so it fits an i64.
    (0..range_length(start, end, step))
        .map(|k| Value::from((i128::from(start) + k * i128::from(step)) as i64))
        .collect()
}

/// AWS: "a random number between the specified start number (inclusive) and end number
/// (exclusive)", the same number for the same seed. LocalStack includes the end (Python's
/// `randint`); the AWS page wins, so the end must exceed the start. The number a seed gives is
/// this executor's (rand's `StdRng`), not the one AWS gives.
fn math_random(start: i64, end: i64, seed: Option<i64>) -> Result<Value, String> {
    if start >= end {
        return Err(format!("the end ({end}) must be greater than the start ({start}): the end is exclusive"));
    }
    Ok(Value::from(with_rng(seed, |rng| rng.random_range(start..end))))
}

/// A number from 0 (included) to 1 (excluded), the same for the same seed (JSONata's `$random`
/// in Step Functions). The number a seed gives is this executor's, not AWS's.
pub(crate) fn random_fraction(seed: Option<i64>) -> f64 {
    with_rng(seed, |rng| rng.random::<f64>())
}

/// Runs `draw` on a generator seeded with `seed` (any integer: its bits, reinterpreted), or on the
/// thread's generator.
fn with_rng<T>(seed: Option<i64>, draw: impl FnOnce(&mut dyn rand::RngCore) -> T) -> T {
    match seed {
        Some(seed) => draw(&mut rand::rngs::StdRng::seed_from_u64(seed as u64)),
        None => draw(&mut rand::rng()),
    }
}

/// AWS: the second argument holds the delimiting characters, each of which splits (`".+,="`);
/// empty pieces are dropped, as in LocalStack. An empty delimiter splits between every character,
/// as LocalStack's regular expression does (the AWS page does not say).
fn string_split(text: &str, delimiters: &str) -> Value {
    if delimiters.is_empty() {
        return Value::Array(text.chars().map(|c| Value::String(c.to_string())).collect());
    }
    Value::Array(
        text.split(|c| delimiters.contains(c))
            .filter(|piece| !piece.is_empty())
            .map(|piece| Value::String(piece.to_owned()))
            .collect(),
    )
}

/// Fills the template's placeholders with `values`, one each.
fn format(template: &[Piece], values: &[Value]) -> Result<String, String> {
    let holes = template.iter().filter(|piece| **piece == Piece::Hole).count();
    if holes != values.len() {
        return Err(format!("the template has {holes} placeholder(s) but {} argument(s) follow it", values.len()));
    }
    let mut values = values.iter();
    let mut out = String::new();
    for piece in template {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Hole => out.push_str(&formatted(values.next().unwrap_or(&Value::Null))),
        }
    }
    Ok(out)
}

/// A value as States.Format writes it: a string as it is; a number, boolean or null as JSON; an
/// array or object the way Step Functions' Java writes a list or map (`[a, 1]`, `{key=value}`,
/// strings inside unquoted), as LocalStack renders it too. The States Language spec says such a
/// value "MUST NOT be a JSON array or object", but Step Functions takes it.
fn formatted(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(formatted).collect::<Vec<_>>().join(", ")),
        Value::Object(object) => format!(
            "{{{}}}",
            object.iter().map(|(key, item)| format!("{key}={}", formatted(item))).collect::<Vec<_>>().join(", ")
        ),
        scalar => scalar.to_string(),
    }
}

/// A States.Format template that came from data: `{}` placeholders, `\` escapes.
fn runtime_template(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next().unwrap_or('\\')),
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                if !current.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut current)));
                }
                pieces.push(Piece::Hole);
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        pieces.push(Piece::Text(current));
    }
    pieces
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
    task_token_available: bool,
    /// How many calls enclose the one being parsed.
    depth: usize,
}

impl Parser<'_> {
    fn invalid(&self, message: &str) -> Refusal {
        Refusal::invalid(format!("intrinsic function {:?}: {message}", self.text))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn call(&mut self) -> Result<Call, Refusal> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if name.is_empty() {
            return Err(self.invalid("expected a function name such as States.Format"));
        }
        if self.peek() != Some('(') {
            return Err(self.invalid(&format!("expected \"(\" right after {name:?}")));
        }
        self.pos += 1;
        let Some(func) = Func::from_name(&name) else {
            let known: Vec<&str> = Func::ALL.iter().map(|func| func.name()).collect();
            return Err(self.invalid(&format!(
                "{name} is not an intrinsic function; the States Language has {}",
                known.join(", ")
            )));
        };
        self.depth += 1;
        if self.depth > MAX_NESTED_FUNCTIONS {
            return Err(
                self.invalid(&format!("more than {MAX_NESTED_FUNCTIONS} intrinsic functions nested in one another"))
            );
        }
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.invalid("expected \",\" or \")\" after an argument")),
                }
            }
        }
        self.depth -= 1;
        self.check(func, &args)?;
        Ok(Call { func, args })
    }

    fn arg(&mut self) -> Result<Arg, Refusal> {
        match self.peek() {
            Some('\'') => self.string().map(Arg::Str),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                let mut end = start;
                while self.chars.get(end).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_') {
                    end += 1;
                }
                let word: String = self.chars[start..end].iter().collect();
                if self.chars.get(end) == Some(&'(') {
                    return Ok(Arg::Call(Box::new(self.call()?)));
                }
                self.pos = end;
                match word.as_str() {
                    "true" => Ok(Arg::Bool(true)),
                    "false" => Ok(Arg::Bool(false)),
                    "null" => Ok(Arg::Null),
                    _ => Err(self.invalid(&format!(
                        "argument {word:?} is not a 'string', number, true/false, null, path or function"
                    ))),
                }
            }
            _ => Err(self.invalid("expected an argument")),
        }
    }

    fn string(&mut self) -> Result<Literal, Refusal> {
        self.pos += 1; // opening '
        let mut pieces = Vec::new();
        let mut current = String::new();
        loop {
            match self.peek() {
                None => return Err(self.invalid("unterminated string literal")),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => match self.chars.get(self.pos + 1) {
                    Some(&c @ ('\'' | '{' | '}' | '\\')) => {
                        current.push(c);
                        self.pos += 2;
                    }
                    _ => {
                        return Err(
                            self.invalid("open escape \"\\\" in a string literal (only \\' \\{ \\} \\\\ are escapes)")
                        );
                    }
                },
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    if !current.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut current)));
                    }
                    pieces.push(Piece::Hole);
                    self.pos += 2;
                }
                Some(c @ ('{' | '}')) => {
                    return Err(
                        self.invalid(&format!("{c:?} in a string literal must be escaped as \\{c} (it is reserved)"))
                    );
                }
                Some(c) => {
                    current.push(c);
                    self.pos += 1;
                }
            }
        }
        if !current.is_empty() {
            pieces.push(Piece::Text(current));
        }
        Ok(Literal { pieces })
    }

    fn path(&mut self) -> Result<Arg, Refusal> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (_, '\\') => {
                    self.pos += 2;
                    continue;
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if depth > 0 => quote = Some(c),
                (None, '[') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, ',' | ')') if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        self.pos = self.pos.min(self.chars.len());
        let text: String = self.chars[start..self.pos].iter().collect();
        let path = JsonPath::parse(text.trim_end()).map_err(|r| Refusal {
            unsupported: r.unsupported,
            message: format!("intrinsic function {:?}: {}", self.text, r.message),
        })?;
        path.check_context(self.task_token_available)?;
        Ok(Arg::Path(path))
    }

    fn number(&mut self) -> Result<Arg, Refusal> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str::<Number>(&text)
            .map(Arg::Number)
            .map_err(|_| self.invalid(&format!("{text:?} is not a number")))
    }

    /// Load-time checks, so that a definition that cannot work is refused at load: the arity, each
    /// literal argument by the rule the function applies to it when it runs, and an invocation of
    /// literals only by running it once.
    fn check(&self, func: Func, args: &[Arg]) -> Result<(), Refusal> {
        let name = func.name();
        let (fewest, most) = func.arity();
        if args.len() < fewest || most.is_some_and(|most| args.len() > most) {
            let expected = match most {
                Some(most) if most == fewest => format!("{fewest}"),
                Some(most) => format!("{fewest} to {most}"),
                None => format!("at least {fewest}"),
            };
            return Err(self.invalid(&format!("{name} takes {expected} argument(s), not {}", args.len())));
        }
        match (func, args.first()) {
            (Func::Format, Some(Arg::Str(template))) => {
                return if template.holes() == args.len() - 1 {
                    Ok(())
                } else {
                    Err(self.invalid(&format!(
                        "the template has {} placeholder(s) \"{{}}\" but {} argument(s) follow it",
                        template.holes(),
                        args.len() - 1
                    )))
                };
            }
            // The States Language: "This Intrinsic Function takes a single argument which MUST be a Path".
            (Func::JsonToString, Some(arg)) if !matches!(arg, Arg::Path(_)) => {
                return Err(self.invalid("the argument of States.JsonToString must be a path"));
            }
            _ => {}
        }
        for (position, arg) in args.iter().enumerate() {
            if let Some(value) = arg.literal_value() {
                check_argument(func, position, &value)
                    .map_err(|message| self.invalid(&format!("{name}: {message}")))?;
            }
        }
        if func != Func::Format
            && let Some(values) = args.iter().map(Arg::literal_value).collect::<Option<Vec<_>>>()
        {
            evaluate(func, &values).map_err(|message| self.invalid(&format!("{name}: {message}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn eval(expr: &str, input: Value) -> Result<Value, Failure> {
        Call::parse(expr, false).unwrap().eval(&input, &json!({"context": {"Execution": {"Name": "e-1"}}}))
    }

    #[test]
    fn given_the_spec_states_format_example_when_evaluated_then_the_placeholders_are_filled() {
        // Given the spec's Payload Template input and States.Format expression
        let input = json!({"name": "Foo", "zebra": "stripe"});
        // When
        let out = eval("States.Format('Your name is {}, we are in the year {}', $.name, 2020)", input).unwrap();
        // Then
        assert_eq!(out, json!("Your name is Foo, we are in the year 2020"));
    }

    #[test]
    fn given_the_spec_escaped_quote_example_when_evaluated_then_the_escape_is_removed() {
        // The spec's example JSON string "States.Format('Welcome to {} {}\\'s playlist.', …)" is, once
        // JSON-decoded, the expression below.
        let out = eval(
            r"States.Format('Welcome to {} {}\'s playlist.', $.firstName, $.lastName)",
            json!({"firstName": "Jane", "lastName": "Doe"}),
        )
        .unwrap();
        assert_eq!(out, json!("Welcome to Jane Doe's playlist."));
        let braces = eval(r"States.Format('\{\} {} \\ done', 'x')", json!({})).unwrap();
        assert_eq!(braces, json!(r"{} x \ done"));
    }

    #[test]
    fn given_the_spec_string_to_json_and_json_to_string_examples_when_evaluated_then_they_round_trip() {
        let out =
            eval("States.StringToJson($.someString)", json!({"someString": "{\"number\": 20}", "zebra": "stripe"}));
        assert_eq!(out.unwrap(), json!({"number": 20}));
        let out = eval(
            "States.JsonToString($.someJson)",
            json!({"someJson": {"name": "Foo", "year": 2020}, "zebra": "stripe"}),
        );
        assert_eq!(out.unwrap(), json!("{\"name\":\"Foo\",\"year\":2020}"));
    }

    #[test]
    fn given_the_spec_array_examples_when_evaluated_then_values_are_collected() {
        let out = eval(
            "States.Array('Foo', 2020, $.someJson, null)",
            json!({"someJson": {"random": "abcdefg"}, "zebra": "stripe"}),
        );
        assert_eq!(out.unwrap(), json!(["Foo", 2020, {"random": "abcdefg"}, null]));
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5});
        assert_eq!(eval("States.ArrayGetItem($.inputArray, $.index)", input.clone()).unwrap(), json!(6));
        assert_eq!(eval("States.ArrayLength($.inputArray)", input).unwrap(), json!(9));
    }

    #[test]
    fn given_the_spec_math_add_example_when_evaluated_then_the_step_is_added() {
        assert_eq!(eval("States.MathAdd($.value1, $.step)", json!({"value1": 111, "step": -1})).unwrap(), json!(110));
        assert_eq!(eval("States.MathAdd(1, 2.0)", json!({})).unwrap(), json!(3));
    }

    #[test]
    fn given_non_integer_numbers_when_rounded_then_halves_go_up_as_in_java() {
        // Java's Math.round, which LocalStack's MathAdd copies: ties towards positive infinity.
        for (a, b, sum) in [
            (json!(1.5), json!(1), 3),
            (json!(2.5), json!(0), 3),
            (json!(-2.5), json!(0), -2),
            (json!(-1.5), json!(0), -1),
            (json!(2.4), json!(-2.6), -1),
            (json!(0.49999999999999994), json!(0), 0),
        ] {
            let out = eval("States.MathAdd($.a, $.b)", json!({"a": a, "b": b})).unwrap();
            assert_eq!(out, json!(sum), "{a} + {b}");
        }
    }

    #[test]
    fn given_math_add_operands_outside_32_bits_when_evaluated_then_it_fails() {
        // AWS: "You must specify integer values in the range of -2147483648 and 2147483647".
        let edge = eval("States.MathAdd($.a, $.b)", json!({"a": 2_147_483_647, "b": -2_147_483_648})).unwrap();
        assert_eq!(edge, json!(-1));
        let sum_past_32_bits = eval("States.MathAdd($.a, $.a)", json!({"a": 2_147_483_647})).unwrap();
        assert_eq!(sum_past_32_bits, json!(4_294_967_294_i64));
        let failure = eval("States.MathAdd($.a, 1)", json!({"a": 2_147_483_648_i64})).unwrap_err();
        assert_eq!(failure.error, "States.IntrinsicFailure");
        assert!(failure.cause.contains("States.MathAdd") && failure.cause.contains("2147483648"), "{}", failure.cause);
        assert!(Call::parse("States.MathAdd(-2147483649, 1)", false).is_err());
    }

    #[test]
    fn given_uuid_and_nested_calls_when_evaluated_then_results_compose() {
        let uuid = eval("States.UUID()", json!({})).unwrap();
        assert_eq!(uuid::Uuid::parse_str(uuid.as_str().unwrap()).unwrap().get_version_num(), 4);
        let nested = eval(
            "States.Format('{} has {} items, first {}', $$.Execution.Name, States.ArrayLength($.xs), States.ArrayGetItem($.xs, 0))",
            json!({"xs": ["a", "b"]}),
        );
        assert_eq!(nested.unwrap(), json!("e-1 has 2 items, first a"));
        let with_comma_path = eval("States.Array($['a,b'], true, false)", json!({"a,b": 1}));
        assert_eq!(with_comma_path.unwrap(), json!([1, true, false]));
    }

    #[test]
    fn given_runtime_problems_when_evaluated_then_intrinsic_failure_is_reported() {
        for (expr, input) in [
            ("States.StringToJson($.s)", json!({"s": "not json"})),
            ("States.ArrayGetItem($.a, 3)", json!({"a": [1]})),
            ("States.ArrayPartition($.a, $.n)", json!({"a": [1], "n": 0})),
            ("States.ArrayRange(0, $.n, 1)", json!({"n": 1000})),
            ("States.Base64Decode($.s)", json!({"s": "/w=="})),
            ("States.Hash($.s, $.algorithm)", json!({"s": "x", "algorithm": "SHA-224"})),
            ("States.JsonMerge($.a, $.b, $.deep)", json!({"a": {}, "b": {}, "deep": true})),
            ("States.JsonMerge($.a, $.b, false)", json!({"a": {}, "b": [1]})),
            ("States.MathRandom($.start, $.end)", json!({"start": 5, "end": 5})),
            ("States.StringSplit($.s, ',')", json!({"s": 12})),
            ("States.Format($.t, 1)", json!({"t": "no placeholder"})),
            ("States.ArrayLength($.missing)", json!({})),
        ] {
            assert_eq!(eval(expr, input).unwrap_err().error, "States.IntrinsicFailure", "{expr}");
        }
        assert_eq!(eval("States.Format($.t, 1)", json!({"t": "n={}"})).unwrap(), json!("n=1"));
    }

    #[test]
    fn given_unknown_or_malformed_intrinsics_when_parsed_then_refused_at_load() {
        let unknown = Call::parse("States.Sha1($.a)", false).unwrap_err();
        assert!(!unknown.unsupported && unknown.message.contains("States.Sha1 is not an intrinsic function"));
        for bad in [
            "States.Format('{} {}', $.a)",
            "States.Format('unescaped { brace')",
            r"States.Format('bad \n escape')",
            "States.UUID(1)",
            "States.MathAdd('a', 1)",
            "States.JsonToString('x')",
            "States.ArrayGetItem($.a, -1)",
            "States.Array(",
            "States.Array(1) trailing",
            "States.Array(bogus)",
        ] {
            assert!(Call::parse(bad, false).is_err(), "{bad} should be refused");
        }
        assert!(Call::parse("States.Array($.a[*])", false).is_ok(), "arguments take full JSONPath");
        assert!(Call::parse("States.Array($.a.length())", false).unwrap_err().unsupported);
        assert!(Call::parse("States.Array($$.Task.Token)", false).is_err());
        assert!(Call::parse("States.Array($$.Task.Token)", true).is_ok());
    }

    #[test]
    fn given_arrays_and_objects_when_formatted_then_they_are_written_as_step_functions_writes_them() {
        // LocalStack's rendering of Step Functions' (Java's) list and map text.
        let input = json!({"list": ["a", 1, null, true, [2.5]], "map": {"Arg1": 1, "Arg2": [], "Arg3": {"k": "v"}}});
        let out = eval("States.Format('{} and {}', $.list, $.map)", input).unwrap();
        assert_eq!(out, json!("[a, 1, null, true, [2.5]] and {Arg1=1, Arg2=[], Arg3={k=v}}"));
        assert_eq!(
            eval("States.Format('{}|{}|{}', $.n, $.b, $.z)", json!({"n": null, "b": false, "z": 3.5})).unwrap(),
            json!("null|false|3.5")
        );
    }

    #[test]
    fn given_blank_and_negative_zero_strings_when_parsed_as_json_then_they_read_as_aws_reads_them() {
        for (text, expected) in [
            ("", json!(null)),
            (" ", json!(null)),
            ("\n\t", json!(null)),
            ("-0", json!(0)),
            ("[-0, -0.0, \"-0\", -0e0, -1.5e1]", json!([0, -0.0, "-0", -0.0, -15.0])),
            ("{\"a\\\"-0\": -0}", json!({"a\"-0": 0})),
        ] {
            let out = eval("States.StringToJson($.s)", json!({"s": text}));
            assert_eq!(out.as_ref().ok(), Some(&expected), "{text:?} gave {out:?}");
        }
        let minus_zero_float = eval("States.StringToJson('-0.0')", json!({})).unwrap();
        assert_eq!(minus_zero_float.to_string(), "-0.0");
    }

    #[test]
    fn given_a_seed_when_math_random_runs_twice_then_the_number_is_the_same_and_the_end_is_excluded() {
        let first = eval("States.MathRandom(1, 1000000, $.seed)", json!({"seed": 42})).unwrap();
        let again = eval("States.MathRandom(1, 1000000, 42)", json!({})).unwrap();
        assert_eq!(first, again);
        let other_seed = eval("States.MathRandom(1, 1000000, -42)", json!({})).unwrap();
        assert_ne!(first, other_seed);
        // AWS: start inclusive, end exclusive; the only number from 7 to 8 is 7.
        for _ in 0..20 {
            assert_eq!(eval("States.MathRandom(7, 8)", json!({})).unwrap(), json!(7));
            let n = eval("States.MathRandom(-3, 2.4)", json!({})).unwrap().as_i64().unwrap();
            assert!((-3..2).contains(&n), "{n}");
        }
        let null_seed = eval("States.MathRandom($.a, 9, $.seed)", json!({"a": 1, "seed": null})).unwrap_err();
        assert!(null_seed.cause.contains("third argument must be a number"), "{}", null_seed.cause);
    }

    #[test]
    fn given_ranges_in_every_direction_when_built_then_the_end_is_included_and_1000_items_is_the_limit() {
        for (expr, expected) in [
            ("States.ArrayRange(1, 5, 1)", json!([1, 2, 3, 4, 5])),
            ("States.ArrayRange(-2, 2, 2)", json!([-2, 0, 2])),
            ("States.ArrayRange(5, 1, -2)", json!([5, 3, 1])),
            ("States.ArrayRange(3, 3, -1)", json!([3])),
            ("States.ArrayRange(5, 1, 1)", json!([])),
            ("States.ArrayRange(1, 10, 4)", json!([1, 5, 9])),
            ("States.ArrayRange(1.4, 5.6, 2.2)", json!([1, 3, 5])),
        ] {
            assert_eq!(eval(expr, json!({})).unwrap(), expected, "{expr}");
        }
        assert_eq!(eval("States.ArrayLength(States.ArrayRange(1000, 1, -1))", json!({})).unwrap(), json!(1000));
        for refused in
            ["States.ArrayRange(1, 1001, 1)", "States.ArrayRange(1, 10, 0.4)", "States.ArrayRange('a', 5, 1)"]
        {
            assert!(Call::parse(refused, false).is_err(), "{refused} should be refused at load");
        }
    }

    #[test]
    fn given_objects_written_with_their_keys_in_another_order_when_made_unique_then_they_are_one() {
        // serde_json keeps keys in document order, so the two objects' texts differ.
        let input = serde_json::from_str::<Value>(r#"{"xs": [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 2}]}"#).unwrap();
        assert_eq!(eval("States.ArrayUnique($.xs)", input.clone()).unwrap(), json!([{"a": 1, "b": 2}, {"a": 2}]));
        assert_eq!(eval("States.ArrayContains($.xs, $.xs[1])", input).unwrap(), json!(true));
    }

    #[test]
    fn given_unique_and_contains_when_values_differ_only_in_number_form_then_they_compare_equal() {
        let input = json!({"a": [1, 1.0, true, "1", {"k": [2]}, {"k": [2.0]}, null, null]});
        assert_eq!(eval("States.ArrayUnique($.a)", input.clone()).unwrap(), json!([1, true, "1", {"k": [2]}, null]));
        assert_eq!(eval("States.ArrayContains($.a, 1.0)", input.clone()).unwrap(), json!(true));
        assert_eq!(
            eval("States.ArrayContains($.a, $.o)", json!({"a": [{"k": 1}], "o": {"k": 1.0}})).unwrap(),
            json!(true)
        );
        assert_eq!(eval("States.ArrayContains($.a, false)", input).unwrap(), json!(false));
    }

    #[test]
    fn given_the_input_limits_when_reached_then_10000_characters_pass_and_10001_fail() {
        // Characters, not bytes: 10,000 "é" are 20,000 bytes of UTF-8.
        let at_limit = "é".repeat(10_000);
        assert!(eval("States.Base64Encode($.s)", json!({"s": at_limit})).is_ok());
        assert!(eval("States.Hash($.s, 'SHA-256')", json!({"s": at_limit})).is_ok());
        let encoded_at_limit = eval("States.Base64Encode($.s)", json!({"s": "a".repeat(7_500)})).unwrap();
        assert_eq!(encoded_at_limit.as_str().map(str::len), Some(10_000));
        assert_eq!(eval("States.Base64Decode($.e)", json!({"e": encoded_at_limit})).unwrap(), json!("a".repeat(7_500)));
        let over = "a".repeat(10_001);
        for expr in ["States.Base64Encode($.s)", "States.Base64Decode($.s)", "States.Hash($.s, 'MD5')"] {
            let failure = eval(expr, json!({"s": over})).unwrap_err();
            assert!(failure.cause.contains("10001 characters"), "{expr}: {}", failure.cause);
        }
    }

    #[test]
    fn given_mime_base64_with_line_breaks_or_no_padding_when_decoded_then_the_text_comes_back() {
        for encoded in ["RGF0YSB0byBlbmNvZGU=", "RGF0YSB0\r\nbyBlbmNvZGU=", "RGF0YSB0byBlbmNvZGU"] {
            assert_eq!(eval("States.Base64Decode($.e)", json!({"e": encoded})).unwrap(), json!("Data to encode"));
        }
    }

    #[test]
    fn given_an_empty_or_repeated_delimiter_when_split_then_empty_pieces_are_dropped() {
        assert_eq!(eval("States.StringSplit(',a,,b,', ',')", json!({})).unwrap(), json!(["a", "b"]));
        assert_eq!(eval("States.StringSplit('abc', '')", json!({})).unwrap(), json!(["a", "b", "c"]));
        assert_eq!(eval("States.StringSplit('', ',')", json!({})).unwrap(), json!([]));
    }

    #[test]
    fn given_literal_arguments_that_can_only_fail_when_parsed_then_refused_at_load() {
        for bad in [
            "States.ArrayPartition($.a, 0)",
            "States.ArrayPartition('abc', 2)",
            "States.ArrayContains(1, 1)",
            "States.ArrayUnique('x')",
            "States.Base64Encode(12)",
            "States.Base64Decode('not base64 !!! é')",
            "States.Hash($.a, 'SHA-224')",
            "States.Hash(1, 'MD5')",
            "States.JsonMerge($.a, $.b, true)",
            "States.JsonMerge($.a, $.b)",
            "States.JsonMerge($.a, 'b', false)",
            "States.MathRandom(1)",
            "States.MathRandom(1, 2, 3, 4)",
            "States.MathRandom(5, 5)",
            "States.MathRandom($.a, 5, null)",
            "States.StringSplit($.a, 1)",
            "States.StringToJson('not json')",
        ] {
            let refusal = Call::parse(bad, false).unwrap_err();
            assert!(!refusal.unsupported, "{bad}: {}", refusal.message);
        }
        for good in [
            "States.ArrayPartition($.a, 1.5)",
            "States.JsonMerge($.a, $.b, false)",
            "States.MathRandom($.a, $.b, $.seed)",
            "States.Hash('x', 'SHA-512')",
            "States.StringSplit($.a, '')",
        ] {
            Call::parse(good, false).unwrap();
        }
    }

    #[test]
    fn given_more_than_ten_nested_functions_when_parsed_then_refused() {
        let nested = |depth: usize| format!("{}$.a{}", "States.Array(".repeat(depth), ")".repeat(depth));
        Call::parse(&nested(10), false).unwrap();
        let refusal = Call::parse(&nested(11), false).unwrap_err();
        assert!(refusal.message.contains("more than 10"), "{}", refusal.message);
        // The AWS page's own example, nine functions five deep, has three "{}" but two values after
        // the template: as printed it can only fail, so it is refused; with two "{}" it runs.
        let aws_example = "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
        assert!(Call::parse(aws_example, false).unwrap_err().message.contains("3 placeholder(s)"));
        let input =
            json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my.recipe/1.0.0"}});
        let out = eval(&aws_example.replacen("{}.{}.{}", "{}.{}", 1), input);
        assert_eq!(out.unwrap(), json!("1.0"));
    }
}
