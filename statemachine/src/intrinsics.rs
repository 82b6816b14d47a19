//! Intrinsic functions: parsing an intrinsic expression (`States.Format('…{}', $.x)`) with the
//! spec's argument kinds and escaping rules, checking arity and literal argument types at load,
//! and evaluating it. Supported: `States.Format`, `States.StringToJson`, `States.JsonToString`,
//! `States.Array`, `States.UUID`, `States.MathAdd`, `States.ArrayLength`, `States.ArrayGetItem`;
//! any other function is refused at load.

use serde_json::{Number, Value};

use crate::error::{Failure, Refusal, error_names};
use crate::jsonpath::JsonPath;
use crate::path::kind_of;

/// The functions this executor implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    Uuid,
    MathAdd,
    ArrayLength,
    ArrayGetItem,
}

const SUPPORTED: &str = "States.Format, States.StringToJson, States.JsonToString, States.Array, States.UUID, \
                         States.MathAdd, States.ArrayLength, States.ArrayGetItem";

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.Array" => Func::Array,
            "States.UUID" => Func::Uuid,
            "States.MathAdd" => Func::MathAdd,
            "States.ArrayLength" => Func::ArrayLength,
            "States.ArrayGetItem" => Func::ArrayGetItem,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Array => "States.Array",
            Func::Uuid => "States.UUID",
            Func::MathAdd => "States.MathAdd",
            Func::ArrayLength => "States.ArrayLength",
            Func::ArrayGetItem => "States.ArrayGetItem",
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
        let mut parser = Parser { text, chars: text.chars().collect(), pos: 0, task_token_available };
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
        match self.func {
            Func::Format => {
                let (template, rest) = match self.args.split_first() {
                    Some((Arg::Str(literal), rest)) => (literal.pieces.clone(), rest),
                    Some((other, rest)) => match eval_arg(other, data, context)? {
                        Value::String(s) => (runtime_template(&s), rest),
                        v => return Err(fail(format!("the template must be a string, not {}", kind_of(&v)))),
                    },
                    None => return Err(fail("missing template".to_owned())),
                };
                let holes = template.iter().filter(|p| **p == Piece::Hole).count();
                if holes != rest.len() {
                    return Err(fail(format!(
                        "the template has {holes} placeholder(s) but {} argument(s) follow it",
                        rest.len()
                    )));
                }
                let mut values = rest.iter();
                let mut out = String::new();
                for piece in template {
                    match piece {
                        Piece::Text(t) => out.push_str(&t),
                        Piece::Hole => {
                            let Some(arg) = values.next() else { break };
                            match eval_arg(arg, data, context)? {
                                Value::String(s) => out.push_str(&s),
                                Value::Null => out.push_str("null"),
                                v @ (Value::Bool(_) | Value::Number(_)) => out.push_str(&v.to_string()),
                                v => {
                                    return Err(fail(format!(
                                        "a value to format must be a string, number, boolean or null, not {}",
                                        kind_of(&v)
                                    )));
                                }
                            }
                        }
                    }
                }
                Ok(Value::String(out))
            }
            Func::StringToJson => match self.single(data, context)? {
                Value::String(s) => serde_json::from_str(&s).map_err(|e| fail(format!("the string is not JSON: {e}"))),
                v => Err(fail(format!("the argument must be a string, not {}", kind_of(&v)))),
            },
            Func::JsonToString => {
                let value = self.single(data, context)?;
                serde_json::to_string(&value).map(Value::String).map_err(|e| fail(e.to_string()))
            }
            Func::Array => {
                let values = self.args.iter().map(|a| eval_arg(a, data, context)).collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Array(values))
            }
            Func::Uuid => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
            Func::MathAdd => {
                let [a, b] = &self.args[..] else { return Err(fail("needs two arguments".to_owned())) };
                let a =
                    integer(&eval_arg(a, data, context)?).ok_or_else(|| fail("arguments must be integers".into()))?;
                let b =
                    integer(&eval_arg(b, data, context)?).ok_or_else(|| fail("arguments must be integers".into()))?;
                a.checked_add(b).map(Value::from).ok_or_else(|| fail("the sum overflows".to_owned()))
            }
            Func::ArrayLength => match self.single(data, context)? {
                Value::Array(items) => Ok(Value::from(items.len())),
                v => Err(fail(format!("the argument must be an array, not {}", kind_of(&v)))),
            },
            Func::ArrayGetItem => {
                let [array, index] = &self.args[..] else { return Err(fail("needs two arguments".to_owned())) };
                let Value::Array(items) = eval_arg(array, data, context)? else {
                    return Err(fail("the first argument must be an array".to_owned()));
                };
                let index = integer(&eval_arg(index, data, context)?)
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| fail("the index must be a non-negative integer".to_owned()))?;
                items.get(index).cloned().ok_or_else(|| {
                    fail(format!("index {index} is out of bounds for an array of {} element(s)", items.len()))
                })
            }
        }
    }

    fn single(&self, data: &Value, context: &Value) -> Result<Value, Failure> {
        match &self.args[..] {
            [arg] => eval_arg(arg, data, context),
            _ => Err(Failure::new(error_names::INTRINSIC_FAILURE, format!("{} takes one argument", self.func.name()))),
        }
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

/// An integer value (a JSON number without a fractional part).
fn integer(value: &Value) -> Option<i64> {
    let Value::Number(n) = value else { return None };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // The range check keeps the cast exact.
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
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
            return Err(Refusal::unsupported(format!(
                "intrinsic function {name} (in {:?}) is not supported; supported: {SUPPORTED}",
                self.text
            )));
        };
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

    /// Arity and literal-type checks, so that a definition that cannot work is refused at load.
    fn check(&self, func: Func, args: &[Arg]) -> Result<(), Refusal> {
        let name = func.name();
        let arity = |expected: usize| -> Result<(), Refusal> {
            if args.len() == expected {
                Ok(())
            } else {
                Err(self.invalid(&format!("{name} takes {expected} argument(s), not {}", args.len())))
            }
        };
        let is_literal_scalar = |a: &Arg| matches!(a, Arg::Str(_) | Arg::Number(_) | Arg::Bool(_) | Arg::Null);
        match func {
            Func::Format => match args.first() {
                None => Err(self.invalid("States.Format needs a template argument")),
                Some(Arg::Str(template)) => {
                    if template.holes() == args.len() - 1 {
                        Ok(())
                    } else {
                        Err(self.invalid(&format!(
                            "the template has {} placeholder(s) \"{{}}\" but {} argument(s) follow it",
                            template.holes(),
                            args.len() - 1
                        )))
                    }
                }
                Some(Arg::Number(_) | Arg::Bool(_) | Arg::Null) => {
                    Err(self.invalid("the first argument of States.Format must be a string"))
                }
                Some(_) => Ok(()),
            },
            Func::StringToJson => {
                arity(1)?;
                if matches!(args[0], Arg::Number(_) | Arg::Bool(_) | Arg::Null) {
                    return Err(self.invalid("States.StringToJson takes a string"));
                }
                Ok(())
            }
            Func::JsonToString => {
                arity(1)?;
                if !matches!(args[0], Arg::Path(_)) {
                    return Err(self.invalid("the argument of States.JsonToString must be a path"));
                }
                Ok(())
            }
            Func::Array => Ok(()),
            Func::Uuid => arity(0),
            Func::MathAdd => {
                arity(2)?;
                for arg in args {
                    let ok = match arg {
                        Arg::Number(n) => integer(&Value::Number(n.clone())).is_some(),
                        Arg::Path(_) | Arg::Call(_) => true,
                        _ => false,
                    };
                    if !ok {
                        return Err(self.invalid("the arguments of States.MathAdd must be integers"));
                    }
                }
                Ok(())
            }
            Func::ArrayLength => {
                arity(1)?;
                if is_literal_scalar(&args[0]) {
                    return Err(self.invalid("States.ArrayLength takes an array (a path or function)"));
                }
                Ok(())
            }
            Func::ArrayGetItem => {
                arity(2)?;
                if is_literal_scalar(&args[0]) {
                    return Err(self.invalid("the first argument of States.ArrayGetItem must be an array"));
                }
                let index_ok = match &args[1] {
                    Arg::Number(n) => integer(&Value::Number(n.clone())).is_some_and(|i| i >= 0),
                    Arg::Path(_) | Arg::Call(_) => true,
                    _ => false,
                };
                if !index_ok {
                    return Err(self.invalid("the index of States.ArrayGetItem must be a non-negative integer"));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn eval(expr: &str, input: Value) -> Result<Value, Failure> {
        Call::parse(expr, false).unwrap().eval(&input, &json!({"Execution": {"Name": "e-1"}}))
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
        let failure = eval("States.MathAdd($.a, 1)", json!({"a": 1.5})).unwrap_err();
        assert_eq!(failure.error, "States.IntrinsicFailure");
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
            ("States.Format('{}', $.o)", json!({"o": {"x": 1}})),
            ("States.Format($.t, 1)", json!({"t": "no placeholder"})),
            ("States.ArrayLength($.missing)", json!({})),
        ] {
            assert_eq!(eval(expr, input).unwrap_err().error, "States.IntrinsicFailure", "{expr}");
        }
        assert_eq!(eval("States.Format($.t, 1)", json!({"t": "n={}"})).unwrap(), json!("n=1"));
    }

    #[test]
    fn given_unsupported_or_malformed_intrinsics_when_parsed_then_refused_at_load() {
        let hash = Call::parse("States.Hash($.a, 'SHA-1')", false).unwrap_err();
        assert!(hash.unsupported && hash.message.contains("States.Hash"), "{}", hash.message);
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
}
