//! JSONPath as Step Functions reads it where a whole path is allowed: the `.$` fields of
//! `Parameters`, `ResultSelector` (and `ItemSelector`) and paths inside intrinsic function
//! arguments. The reference paths of `InputPath`, `OutputPath`, `ResultPath`, Choice `Variable`s and
//! Wait paths use the same parser but accept only names and indexes ([`crate::path::RefPath`]).
//!
//! Step Functions evaluates these paths with Jayway JsonPath, so this module follows Jayway's
//! semantics, not RFC 9535's. It is hand-written rather than built on `serde_json_path` or
//! `jsonpath-rust` (both RFC 9535) because the two disagree where Step Functions users notice:
//!
//! - a filter applied to an object tests the object itself in Jayway (`$.car[?(@.cdr)]` gives
//!   `[car]`), where RFC 9535 tests the object's member values;
//! - `$['a','b']` at the end of a path gives one object `{"a": …, "b": …}` in Jayway, a list of two
//!   values in RFC 9535;
//! - the shape of the result depends on whether the path is *definite* (below), which those crates
//!   do not expose, and the "not found" rules depend on where the indefinite part starts;
//! - Jayway's slices (`[-3:2]` walks indexes -3, -2, -1, 0, 1), negative indexes, escapes in quoted
//!   names (`\n`, `\uXXXX`, any other `\c` is `c`), string/number equality (`@.n == '10'` matches
//!   10) and the restrictions Step Functions documents (no functions such as `length()`, no regular
//!   expressions, no lexical operators such as `subsetof`, no `$` inside a filter, `@` matching
//!   objects only) would all need patching on top of an RFC 9535 crate.
//!
//! # Definite and indefinite paths
//!
//! A path is *definite* when every step selects at most one node: a single name (`.a`, `['a']`), a
//! single index (`[0]`, `[-1]`), or a list of names at the very end (`['a','b']`, which merges into
//! one object). A definite path gives that one value, and a missing value is an error (Step
//! Functions: `States.Runtime`, "The JSONPath '…' specified for the field '…' could not be found in
//! the input '…'").
//!
//! Any other path (a wildcard `*`, a slice, an index list `[0,1]`, a name list that is not last,
//! recursive descent `..`, a filter `[?(…)]`) is *indefinite* and always gives a JSON array of every
//! match, in document order: `[]` when nothing matches, a one-element array when one does. An
//! indefinite path still fails when its definite beginning does: `$.missing[*]` is an error (the
//! name `missing` comes before anything indefinite), while `$.items[*].missing` and
//! `$.items[?(@.x)]` over an empty list give `[]`.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

use crate::error::Refusal;
use crate::path::{Root, check_context_fields};

/// One step of a JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// `.name` or `['name']`.
    Name(String),
    /// `['a','b']`: merged into one object when last, each name in turn otherwise.
    Names(Vec<String>),
    /// `[3]` or `[-1]` (from the end).
    Index(i64),
    /// `[0,2]`.
    Indexes(Vec<i64>),
    /// `[from:to]`, either bound optional (not both).
    Slice { from: Option<i64>, to: Option<i64> },
    /// `.*` or `[*]`.
    Wildcard,
    /// `..`, followed by the step it looks for at every depth.
    Scan,
    /// `[?(…)]`.
    Filter(Box<Expr>),
}

impl Token {
    /// What reference paths call this feature when refusing it.
    pub(crate) fn feature(&self) -> &'static str {
        match self {
            Token::Name(_) => "names",
            Token::Index(i) if *i < 0 => "negative indexes",
            Token::Index(_) => "indexes",
            Token::Names(_) | Token::Indexes(_) => "unions (\"[a,b]\")",
            Token::Slice { .. } => "slices (\"[a:b]\")",
            Token::Wildcard => "wildcards (\"*\")",
            Token::Scan => "recursive descent (\"..\")",
            Token::Filter(_) => "filters (\"[?(…)]\")",
        }
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `@.a.b`: the element has that field (a `null` value counts).
    Exists(Vec<Token>),
    Compare(Operand, Cmp, Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// `@`, `@.a`, `@['a'][0]`: names and indexes from the current element.
    Current(Vec<Token>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath (data `$…` or context object `$$…`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonPath {
    root: Root,
    tokens: Vec<Token>,
    text: String,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    pub(crate) fn parse(text: &str) -> Result<JsonPath, Refusal> {
        let (root, tokens) = parse_tokens(text)?;
        Ok(JsonPath { root, tokens, text: text.to_owned() })
    }

    pub(crate) fn root(&self) -> Root {
        self.root
    }

    /// Whether the path selects at most one node (see the module documentation).
    pub(crate) fn is_definite(&self) -> bool {
        (0..self.tokens.len()).all(|i| token_definite(&self.tokens, i))
    }

    /// What the path gives for `data` (or `context`, for `$$` paths): the value of a definite path,
    /// an array of every match of an indefinite one; `None` when Step Functions reports the path as
    /// not found.
    pub(crate) fn select(&self, data: &Value, context: &Value) -> Option<Value> {
        let start = crate::path::start_of(self.root, data, context);
        // Most paths in payload templates are plain names and indexes: walk them by reference and
        // copy only what they select.
        if let Some(plain) = self.select_plain(start) {
            return plain.cloned();
        }
        let upstream = (0..=self.tokens.len())
            .scan(true, |all, i| {
                let before = *all;
                *all = *all && i < self.tokens.len() && token_definite(&self.tokens, i);
                Some(before)
            })
            .collect();
        let eval = Eval { tokens: &self.tokens, upstream };
        let mut out = Vec::new();
        eval.eval(0, start, &mut out).ok()?;
        if self.is_definite() { out.pop() } else { Some(Value::Array(out)) }
    }

    /// For a path of names and non-negative indexes only, what it selects (`Some(None)`: nothing);
    /// `None` for any other path.
    fn select_plain<'v>(&self, start: &'v Value) -> Option<Option<&'v Value>> {
        let mut current = Some(start);
        for token in &self.tokens {
            current = match token {
                Token::Name(name) => current.and_then(|node| node.as_object()?.get(name)),
                Token::Index(index) if *index >= 0 => {
                    current.and_then(|node| node.as_array()?.get(usize::try_from(*index).ok()?))
                }
                _ => return None,
            };
        }
        Some(current)
    }

    /// Checks a `$$` path's leading field names against the context object the executor provides.
    pub(crate) fn check_context(&self, task_token_available: bool) -> Result<(), Refusal> {
        if self.root != Root::Context {
            return Ok(());
        }
        let fields: Vec<Option<&str>> = self
            .tokens
            .iter()
            .map_while(|t| match t {
                Token::Name(name) => Some(Some(name.as_str())),
                _ => None,
            })
            .collect();
        check_context_fields(&self.text, &fields, task_token_available)
    }
}

/// Whether step `i` selects at most one node (Jayway's `isTokenDefinite`).
fn token_definite(tokens: &[Token], i: usize) -> bool {
    match &tokens[i] {
        Token::Name(_) | Token::Index(_) => true,
        Token::Names(_) => i + 1 == tokens.len(),
        _ => false,
    }
}

/// Parses `$…` or `$$…` into its root and steps.
pub(crate) fn parse_tokens(text: &str) -> Result<(Root, Vec<Token>), Refusal> {
    let (root, skip) = if text.starts_with("$$") {
        (Root::Context, 2)
    } else if text.starts_with('$') && text[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        (Root::Variables, 1)
    } else if text.starts_with('$') {
        (Root::Data, 1)
    } else {
        return Err(Refusal::invalid(format!("path {text:?} must begin with \"$\"")));
    };
    let mut chars: Vec<char> = text.chars().collect();
    if root == Root::Variables {
        // `$order.id` reads as `.order.id` within the variables: the name is the first step.
        chars.insert(1, '.');
    }
    let mut parser = Parser { text, chars, pos: skip };
    let tokens = parser.tokens(false)?;
    Ok((root, tokens))
}

struct Parser<'t> {
    text: &'t str,
    chars: Vec<char>,
    pos: usize,
}

impl Parser<'_> {
    fn invalid(&self, what: impl fmt::Display) -> Refusal {
        Refusal::invalid(format!("path {:?}: {what}", self.text))
    }

    fn unsupported(&self, what: impl fmt::Display) -> Refusal {
        Refusal::unsupported(format!("path {:?}: {what}", self.text))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n && s.chars().zip(&self.chars[self.pos..]).all(|(a, b)| a == *b) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), Refusal> {
        self.skip_blanks();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.invalid(format!("expected {c:?} at position {}", self.pos)))
        }
    }

    /// Steps until the end of the path (or, inside a filter, until something that is not a step).
    fn tokens(&mut self, in_filter: bool) -> Result<Vec<Token>, Refusal> {
        let mut tokens = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some('.') if self.peek_at(1) == Some('.') => {
                    if in_filter {
                        return Err(self.unsupported("recursive descent (\"..\") inside a filter is not supported"));
                    }
                    self.pos += 2;
                    tokens.push(Token::Scan);
                    match self.peek() {
                        None | Some('.') => {
                            return Err(self.invalid("\"..\" must be followed by a name, \"*\" or \"[…]\""));
                        }
                        _ => tokens.push(self.after_dot(in_filter)?),
                    }
                }
                Some('.') => {
                    self.pos += 1;
                    if self.peek().is_none() {
                        return Err(self.invalid("a path must not end with \".\""));
                    }
                    tokens.push(self.after_dot(in_filter)?);
                }
                Some('[') => tokens.push(self.bracket(in_filter)?),
                Some(_) if in_filter => break,
                Some(c) => {
                    return Err(self.invalid(format!("unexpected {c:?} (expected \".field\" or \"[…]\")")));
                }
            }
        }
        Ok(tokens)
    }

    /// What follows `.` or `..`: `*`, `[…]` (`$.abc.['def ghi']`, as in the Step Functions
    /// documentation) or a name.
    fn after_dot(&mut self, in_filter: bool) -> Result<Token, Refusal> {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                Ok(Token::Wildcard)
            }
            Some('[') => self.bracket(in_filter),
            _ => self.dot_name(in_filter).map(Token::Name),
        }
    }

    /// A name after `.`: up to the next `.` or `[`, with the ASL spec's backslash escapes
    /// (`$.a\.b`).
    fn dot_name(&mut self, in_filter: bool) -> Result<String, Refusal> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if in_filter && matches!(c, ' ' | '\t' | '\r' | '\n' | ')' | '<' | '>' | '=' | '!' | '&' | '|') {
                break;
            }
            if c == '\\' {
                let Some(escaped) = self.peek_at(1) else {
                    return Err(self.invalid("ends with an open escape \"\\\""));
                };
                name.push(escaped);
                self.pos += 2;
                continue;
            }
            if let Some(refusal) = self.operator_refusal(c) {
                return Err(refusal);
            }
            name.push(c);
            self.pos += 1;
        }
        if name.is_empty() {
            return Err(self.invalid("empty field name"));
        }
        Ok(name)
    }

    fn operator_refusal(&self, c: char) -> Option<Refusal> {
        let feature = match c {
            '(' | ')' => {
                return Some(self.unsupported(
                    "path functions such as length() are not supported: Step Functions does not evaluate them \
                     (the state fails with States.Runtime); use an intrinsic such as States.ArrayLength",
                ));
            }
            '*' => "wildcards (\"*\")",
            '@' => "the current-node operator (\"@\")",
            '?' => "filters (\"?\")",
            ',' => "unions (\",\")",
            ':' => "slices (\":\")",
            ']' => return Some(self.invalid("unmatched \"]\"")),
            _ => return None,
        };
        Some(self.unsupported(format!(
            "{feature} cannot appear inside a field name (escape the character with \"\\\" if it is part of the name)"
        )))
    }

    /// `[…]`: quoted names, `*`, a filter, indexes or a slice.
    fn bracket(&mut self, in_filter: bool) -> Result<Token, Refusal> {
        self.pos += 1; // '['
        self.skip_blanks();
        match self.peek() {
            Some(quote @ ('\'' | '"')) => {
                let mut names = Vec::new();
                loop {
                    self.skip_blanks();
                    if self.peek() != Some(quote) {
                        return Err(self.invalid(format!("expected a name in {quote}quotes{quote}")));
                    }
                    names.push(self.quoted(quote)?);
                    self.skip_blanks();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(']') => break,
                        _ => return Err(self.invalid("expected \",\" or \"]\" after a quoted name")),
                    }
                }
                self.pos += 1;
                Ok(if names.len() == 1 { Token::Name(names.remove(0)) } else { Token::Names(names) })
            }
            Some('*') => {
                self.pos += 1;
                self.expect(']')?;
                Ok(Token::Wildcard)
            }
            Some('?') => {
                if in_filter {
                    return Err(self.unsupported("a filter inside a filter is not supported"));
                }
                self.pos += 1;
                self.skip_blanks();
                if self.peek() != Some('(') {
                    return Err(self.invalid("a filter must be written \"[?(…)]\""));
                }
                self.pos += 1;
                let expr = self.or()?;
                self.expect(')')?;
                self.expect(']')?;
                Ok(Token::Filter(Box::new(expr)))
            }
            Some('(') => Err(self.unsupported("script expressions (\"[(…)]\") are not supported")),
            Some(c) if c.is_ascii_digit() || c == '-' || c == ':' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != ']') {
                    self.pos += 1;
                }
                if self.peek().is_none() {
                    return Err(self.invalid("unclosed \"[\""));
                }
                let inside: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                self.indexes_or_slice(inside.trim())
            }
            None => Err(self.invalid("unclosed \"[\"")),
            Some(_) => Err(self.invalid("\"[…]\" must hold a quoted name, \"*\", indexes, a slice or a filter")),
        }
    }

    fn integer(&self, text: &str) -> Result<i64, Refusal> {
        text.trim().parse().map_err(|_| self.invalid(format!("{:?} is not an index", text.trim())))
    }

    fn indexes_or_slice(&self, inside: &str) -> Result<Token, Refusal> {
        if !inside.chars().all(|c| c.is_ascii_digit() || matches!(c, ',' | '-' | ':' | ' ')) {
            return Err(self.invalid(format!("\"[{inside}]\" is not an index, an index list or a slice")));
        }
        if inside.contains(':') {
            let parts: Vec<&str> = inside.split(':').collect();
            if parts.len() > 2 {
                return Err(self.unsupported("slice steps (\"[a:b:c]\") are not supported"));
            }
            let bound = |s: &str| if s.trim().is_empty() { Ok(None) } else { self.integer(s).map(Some) };
            let (from, to) = (bound(parts[0])?, bound(parts[1])?);
            if from.is_none() && to.is_none() {
                return Err(self.invalid("a slice needs a start or an end"));
            }
            return Ok(Token::Slice { from, to });
        }
        let mut indexes: Vec<i64> = inside.split(',').map(|s| self.integer(s)).collect::<Result<_, _>>()?;
        Ok(if indexes.len() == 1 { Token::Index(indexes.remove(0)) } else { Token::Indexes(indexes) })
    }

    /// A quoted name or string literal, Jayway style: a backslash protects the next character from
    /// ending the string, then the text is unescaped.
    fn quoted(&mut self, quote: char) -> Result<String, Refusal> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(self.invalid(format!("unterminated {quote}quoted{quote} text"))),
                Some(_) if escaped => escaped = false,
                Some('\\') => escaped = true,
                Some(c) if c == quote => break,
                Some(_) => {}
            }
            self.pos += 1;
        }
        let raw: String = self.chars[start..self.pos].iter().collect();
        self.pos += 1;
        unescape(&raw).map_err(|e| self.invalid(e))
    }

    // Filters: Or = And {"||" And}; And = Unary {"&&" Unary};
    // Unary = "!" Unary | "(" Or ")" | Operand [Cmp Operand].

    fn or(&mut self) -> Result<Expr, Refusal> {
        let mut all = vec![self.and()?];
        loop {
            self.skip_blanks();
            if !self.eat("||") {
                break;
            }
            all.push(self.and()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Expr::Or(all) })
    }

    fn and(&mut self) -> Result<Expr, Refusal> {
        let mut all = vec![self.unary()?];
        loop {
            self.skip_blanks();
            if !self.eat("&&") {
                break;
            }
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Expr::And(all) })
    }

    fn unary(&mut self) -> Result<Expr, Refusal> {
        self.skip_blanks();
        match self.peek() {
            Some('!') => {
                self.pos += 1;
                self.skip_blanks();
                let bare_path = self.peek() == Some('@');
                let negated = self.unary()?;
                if bare_path && matches!(negated, Expr::Compare(..)) {
                    // Jayway reads `!@.a == 1` as `@.a == 1` (the "!" only negates an existence test).
                    return Err(
                        self.unsupported("\"!@… == …\" is ambiguous (Jayway drops the \"!\"): write \"!(@… == …)\"")
                    );
                }
                Ok(Expr::Not(Box::new(negated)))
            }
            Some('(') => {
                self.pos += 1;
                let inner = self.or()?;
                self.expect(')')?;
                Ok(inner)
            }
            _ => self.relation(),
        }
    }

    fn relation(&mut self) -> Result<Expr, Refusal> {
        let left = self.operand()?;
        self.skip_blanks();
        let Some(cmp) = self.comparison()? else {
            return match left {
                Operand::Current(path) => Ok(Expr::Exists(path)),
                Operand::Literal(_) => Err(self.invalid("a filter condition must test \"@…\"")),
            };
        };
        self.skip_blanks();
        let right = self.operand()?;
        Ok(Expr::Compare(left, cmp, right))
    }

    fn comparison(&mut self) -> Result<Option<Cmp>, Refusal> {
        for symbol in ["===", "!=="] {
            if self.eat(symbol) {
                return Err(self.unsupported(format!("the type-safe operator {symbol} is not supported")));
            }
        }
        if self.eat("=~") {
            return Err(self.unsupported(
                "regular expressions (\"=~\") are not supported: Step Functions does not filter by regular expression",
            ));
        }
        for (symbol, cmp) in
            [("==", Cmp::Eq), ("!=", Cmp::Ne), ("<=", Cmp::Le), (">=", Cmp::Ge), ("<", Cmp::Lt), (">", Cmp::Gt)]
        {
            if self.eat(symbol) {
                return Ok(Some(cmp));
            }
        }
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.pos += 1;
            }
            let word: String = self.chars[start..self.pos].iter().collect();
            return Err(self.unsupported(format!(
                "the lexical operator {word:?} is not supported: Step Functions supports only ==, !=, <, <=, >, >="
            )));
        }
        Ok(None)
    }

    fn operand(&mut self) -> Result<Operand, Refusal> {
        self.skip_blanks();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                let path = self.tokens(true)?;
                if let Some(other) = path.iter().find(|t| !matches!(t, Token::Name(_) | Token::Index(_))) {
                    return Err(self.unsupported(format!(
                        "{} after \"@\" in a filter are not supported: only names and indexes are",
                        other.feature()
                    )));
                }
                Ok(Operand::Current(path))
            }
            Some('$') => Err(self.unsupported(
                "a filter may not refer to another value of the input (\"$…\"): Step Functions does not support it",
            )),
            Some(quote @ ('\'' | '"')) => self.quoted(quote).map(|s| Operand::Literal(Value::String(s))),
            Some('/') => Err(self.unsupported(
                "regular expressions are not supported: Step Functions does not filter by regular expression",
            )),
            Some('[' | '{') => Err(self.unsupported("comparisons with JSON arrays or objects are not supported")),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse::<Number>()
                    .map(|n| Operand::Literal(Value::Number(n)))
                    .map_err(|_| self.invalid(format!("{text:?} is not a number")))
            }
            _ => {
                for (word, value) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)]
                {
                    if self.eat(word) {
                        if self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            break;
                        }
                        return Ok(Operand::Literal(value));
                    }
                }
                Err(self.invalid("a filter operand must be \"@…\", a string, a number, true, false or null"))
            }
        }
    }
}

/// Jayway's `Utils.unescape`: `\\ \' \" \r \f \t \n \b \uXXXX`; any other `\c` is `c`.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('b') => out.push('\u{8}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let unit = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("\"\\u{hex}\" is not a unicode escape (\\u and four hex digits)"))?;
                out.push(char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

/// Jayway's "no results" (PathNotFoundException) on the definite beginning of a path.
struct NotFound;

struct Eval<'p> {
    tokens: &'p [Token],
    /// `upstream[i]`: every step before `i` is definite (Jayway's `isUpstreamDefinite`).
    upstream: Vec<bool>,
}

impl Eval<'_> {
    fn is_leaf(&self, i: usize) -> bool {
        i + 1 == self.tokens.len()
    }

    /// A step found nothing where it needed something: an error only if everything before it is
    /// definite; otherwise that branch just yields nothing.
    fn missing(&self, i: usize) -> Result<(), NotFound> {
        if self.upstream[i] { Err(NotFound) } else { Ok(()) }
    }

    /// Step `i` selected `value`: collect it, or go on with the next step.
    fn hit(&self, i: usize, value: &Value, out: &mut Vec<Value>) -> Result<(), NotFound> {
        if self.is_leaf(i) {
            out.push(value.clone());
            Ok(())
        } else {
            self.eval(i + 1, value, out)
        }
    }

    fn eval(&self, i: usize, node: &Value, out: &mut Vec<Value>) -> Result<(), NotFound> {
        let Some(token) = self.tokens.get(i) else {
            out.push(node.clone());
            return Ok(());
        };
        match token {
            Token::Name(name) => {
                let Some(object) = node.as_object() else { return self.missing(i) };
                match object.get(name) {
                    Some(value) => self.hit(i, value, out),
                    None if self.is_leaf(i) => Ok(()),
                    None => self.missing(i),
                }
            }
            Token::Names(names) => {
                let Some(object) = node.as_object() else { return self.missing(i) };
                if self.is_leaf(i) {
                    let merged: Map<String, Value> =
                        names.iter().filter_map(|n| object.get(n).map(|v| (n.clone(), v.clone()))).collect();
                    out.push(Value::Object(merged));
                    return Ok(());
                }
                for value in names.iter().filter_map(|n| object.get(n)) {
                    self.eval(i + 1, value, out)?;
                }
                Ok(())
            }
            Token::Index(index) => {
                let Some(array) = node.as_array() else { return self.missing(i) };
                match element(array, *index) {
                    Some(value) => self.hit(i, value, out),
                    None => Ok(()),
                }
            }
            Token::Indexes(indexes) => {
                let Some(array) = node.as_array() else { return self.missing(i) };
                for value in indexes.iter().filter_map(|k| element(array, *k)) {
                    self.hit(i, value, out)?;
                }
                Ok(())
            }
            Token::Slice { from, to } => {
                let Some(array) = node.as_array() else { return self.missing(i) };
                for value in slice_indexes(array.len(), *from, *to).filter_map(|k| element(array, k)) {
                    self.hit(i, value, out)?;
                }
                Ok(())
            }
            Token::Wildcard => match node {
                Value::Object(object) => object.values().try_for_each(|v| self.hit(i, v, out)),
                Value::Array(array) => array.iter().try_for_each(|v| self.hit(i, v, out)),
                _ => Ok(()),
            },
            Token::Scan => self.walk(i + 1, node, out),
            Token::Filter(expr) => match node {
                Value::Object(_) if accepts(expr, node) => self.hit(i, node, out),
                Value::Object(_) => Ok(()),
                Value::Array(array) => array.iter().filter(|e| accepts(expr, e)).try_for_each(|v| self.hit(i, v, out)),
                _ => self.missing(i),
            },
        }
    }

    /// Recursive descent (Jayway's `ScanPathToken.walk`): at every object and array, depth first,
    /// applies step `j` where it can match, then descends into the children.
    fn walk(&self, j: usize, node: &Value, out: &mut Vec<Value>) -> Result<(), NotFound> {
        match node {
            Value::Object(object) => {
                if self.scan_matches(j, node) {
                    self.eval(j, node, out)?;
                }
                object.values().try_for_each(|v| self.walk(j, v, out))
            }
            Value::Array(array) => {
                if self.scan_matches(j, node) {
                    if self.is_leaf(j) {
                        self.eval(j, node, out)?;
                    } else {
                        // Jayway's quirk, kept: on an array, a scanned step that is not the last one
                        // is skipped and the step after it is applied to every element.
                        array.iter().try_for_each(|e| self.eval(j + 1, e, out))?;
                    }
                }
                array.iter().try_for_each(|v| self.walk(j, v, out))
            }
            _ => Ok(()),
        }
    }

    fn scan_matches(&self, j: usize, node: &Value) -> bool {
        match &self.tokens[j] {
            Token::Name(name) => node.as_object().is_some_and(|o| o.contains_key(name)),
            Token::Names(names) => {
                node.as_object().is_some_and(|o| !self.is_leaf(j) || names.iter().all(|n| o.contains_key(n)))
            }
            Token::Index(_) | Token::Indexes(_) | Token::Slice { .. } => node.is_array(),
            Token::Wildcard => true,
            Token::Filter(expr) => accepts(expr, node),
            Token::Scan => false,
        }
    }
}

/// `array[index]`, a negative index counting from the end.
fn element(array: &[Value], index: i64) -> Option<&Value> {
    let len = i64::try_from(array.len()).ok()?;
    let effective = if index < 0 { len + index } else { index };
    usize::try_from(effective).ok().and_then(|k| array.get(k))
}

/// The indexes Jayway's `ArraySliceToken` visits (negative ones are then counted from the end).
fn slice_indexes(len: usize, from: Option<i64>, to: Option<i64>) -> std::ops::Range<i64> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let empty = 0..0;
    if len == 0 {
        return empty;
    }
    match (from, to) {
        (Some(from), None) => {
            let from = if from < 0 { len + from } else { from }.max(0);
            if from >= len { empty } else { from..len }
        }
        (Some(from), Some(to)) => {
            let to = to.min(len);
            // Indexes below -len select nothing: start there at the earliest.
            let from = from.max(-len);
            if from >= to { empty } else { from..to }
        }
        (None, Some(to)) => {
            let to = if to < 0 { len + to } else { to }.min(len);
            0..to.max(0)
        }
        (None, None) => empty,
    }
}

/// Whether a filter keeps `item`. Step Functions documents that `@` matches objects only: scalars
/// and arrays never pass a filter.
fn accepts(expr: &Expr, item: &Value) -> bool {
    item.is_object() && holds(expr, item)
}

fn holds(expr: &Expr, item: &Value) -> bool {
    match expr {
        Expr::Or(all) => all.iter().any(|e| holds(e, item)),
        Expr::And(all) => all.iter().all(|e| holds(e, item)),
        Expr::Not(inner) => !holds(inner, item),
        Expr::Exists(path) => relative(path, item).is_some(),
        Expr::Compare(left, cmp, right) => {
            let value = |operand: &'_ Operand| match operand {
                Operand::Current(path) => relative(path, item).cloned(),
                Operand::Literal(v) => Some(v.clone()),
            };
            compare(value(left).as_ref(), *cmp, value(right).as_ref())
        }
    }
}

/// `@…` inside a filter (names and indexes only).
fn relative<'v>(path: &[Token], item: &'v Value) -> Option<&'v Value> {
    path.iter().try_fold(item, |node, token| match token {
        Token::Name(name) => node.as_object()?.get(name),
        Token::Index(index) => element(node.as_array()?, *index),
        _ => None,
    })
}

/// Jayway's relational operators; a missing operand (`None`) equals nothing, so `!=` holds for it.
fn compare(left: Option<&Value>, cmp: Cmp, right: Option<&Value>) -> bool {
    match cmp {
        Cmp::Eq => equal(left, right),
        Cmp::Ne => !equal(left, right),
        Cmp::Lt | Cmp::Le | Cmp::Gt | Cmp::Ge => {
            let order = match (left, right) {
                (Some(Value::Number(a)), Some(Value::Number(b))) => number_order(a, b),
                (Some(Value::String(a)), Some(Value::String(b))) => Some(a.cmp(b)),
                _ => None,
            };
            order.is_some_and(|o| match cmp {
                Cmp::Lt => o.is_lt(),
                Cmp::Le => o.is_le(),
                Cmp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
    }
}

fn equal(left: Option<&Value>, right: Option<&Value>) -> bool {
    let (Some(left), Some(right)) = (left, right) else { return false };
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => number_order(a, b) == Some(Ordering::Equal),
        // Jayway converts: a string on the left compares with the number's text, a number on the
        // left with the string read as a number.
        (Value::String(s), Value::Number(n)) => *s == n.to_string(),
        (Value::Number(n), Value::String(s)) => {
            s.parse::<Number>().ok().is_some_and(|m| number_order(n, &m) == Some(Ordering::Equal))
        }
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => left == right,
        _ => false,
    }
}

fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    let integer = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn select(path: &str, input: &Value) -> Option<Value> {
        JsonPath::parse(path).unwrap().select(input, &json!({}))
    }

    /// The store of Stefan Goessner's JSONPath article, which Jayway's README uses too.
    fn store() -> Value {
        json!({"store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
                {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
                {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
            ],
            "bicycle": {"color": "red", "price": 19.95}
        }, "expensive": 10})
    }

    #[test]
    fn given_the_step_functions_paths_page_example_when_selected_then_the_filter_gives_an_array() {
        // AWS Step Functions Developer Guide, "Paths" (amazon-states-language-paths.html).
        let input = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true},
                           "jar": [{"a": 1}, {"a": 5}, {"a": 2}, {"a": 7}, {"a": 3}]});
        for (path, expected) in [
            ("$.foo", json!(123)),
            ("$.bar", json!(["a", "b", "c"])),
            ("$.car.cdr", json!(true)),
            ("$.jar[?(@.a >= 5)]", json!([{"a": 5}, {"a": 7}])),
        ] {
            assert_eq!(select(path, &input), Some(expected), "{path}");
        }
    }

    #[test]
    fn given_the_states_language_slice_example_when_selected_then_it_is_an_array() {
        // The States Language spec, "Payload Template" ("last3.$": "$.vals[-3:]") and the
        // "$.a[0:2]" / "$.a[0,1]" of awslabs/states-language#10 (checked on Step Functions).
        let input = json!({"vals": [0, 10, 20, 30, 40, 50], "a": [1, 2, 3, 4]});
        for (path, expected) in [
            ("$.vals[-3:]", json!([30, 40, 50])),
            ("$.a[0:2]", json!([1, 2])),
            ("$.a[0,1]", json!([1, 2])),
            ("$.a[0,2]", json!([1, 3])),
        ] {
            assert_eq!(select(path, &input), Some(expected), "{path}");
        }
    }

    #[test]
    fn given_the_jayway_readme_examples_when_selected_then_results_match_jayway() {
        let input = store();
        let titles = json!(["Sayings of the Century", "Sword of Honour", "Moby Dick", "The Lord of the Rings"]);
        for (path, expected) in [
            ("$.store.book[*].author", json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"])),
            ("$..author", json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"])),
            ("$.store.book[*]['title']", titles),
            ("$..book[2].title", json!(["Moby Dick"])),
            ("$..book[-2].title", json!(["Moby Dick"])),
            ("$..book[0,1].title", json!(["Sayings of the Century", "Sword of Honour"])),
            ("$..book[:2].title", json!(["Sayings of the Century", "Sword of Honour"])),
            ("$..book[1:2].title", json!(["Sword of Honour"])),
            ("$..book[-2:].title", json!(["Moby Dick", "The Lord of the Rings"])),
            ("$..book[2:].title", json!(["Moby Dick", "The Lord of the Rings"])),
            ("$..book[?(@.isbn)].title", json!(["Moby Dick", "The Lord of the Rings"])),
            ("$.store.book[?(@.price < 10)].title", json!(["Sayings of the Century", "Moby Dick"])),
            ("$..book[?(@.author == 'Herman Melville')].price", json!([8.99])),
            ("$..book[?(@.price <= 9 && @.category == \"fiction\")].title", json!(["Moby Dick"])),
            (
                "$..book[?(@.price > 20 || @.price < 9)].title",
                json!(["Sayings of the Century", "Moby Dick", "The Lord of the Rings"]),
            ),
            ("$..book[?(!@.isbn)].title", json!(["Sayings of the Century", "Sword of Honour"])),
            ("$..book[?(@.category != 'fiction')].title", json!(["Sayings of the Century"])),
            ("$.store.*.color", json!(["red"])),
            ("$.store.bicycle['color','price']", json!({"color": "red", "price": 19.95})),
            ("$['expensive']", json!(10)),
        ] {
            assert_eq!(select(path, &input), Some(expected), "{path}");
        }
        // `$..price`: every price, depth first, objects' keys in this executor's (sorted) order.
        assert_eq!(select("$..price", &input), Some(json!([19.95, 8.95, 12.99, 8.99, 22.99])));
        assert_eq!(select("$.store..price", &input).unwrap().as_array().unwrap().len(), 5);
    }

    #[test]
    fn given_definite_and_indefinite_paths_when_nothing_matches_then_definite_fail_and_indefinite_give_empty() {
        let input = json!({"items": [{"id": 1}, {"id": 2, "tag": "x"}], "empty": [], "one": [7], "s": "text"});
        // Indefinite: always an array, even for one match or none.
        for (path, expected) in [
            ("$.one[*]", json!([7])),
            ("$.items[*].tag", json!(["x"])),
            ("$.items[*].missing", json!([])),
            ("$.empty[*]", json!([])),
            ("$.empty[?(@.x)]", json!([])),
            ("$.items[5:]", json!([])),
            ("$..nothing", json!([])),
            ("$.s[*]", json!([])),
            ("$.items[?(@.id == 2)]", json!([{"id": 2, "tag": "x"}])),
        ] {
            assert_eq!(select(path, &input), Some(expected), "{path}");
        }
        // Definite paths, and indefinite paths whose definite beginning fails: not found.
        for path in ["$.missing", "$.items[5]", "$.items[0].tag", "$.missing[*]", "$.s.a[*]", "$.s[0:1]", "$.s[?(@.a)]"]
        {
            assert_eq!(select(path, &input), None, "{path}");
        }
        // Negative indexes are definite (Jayway), unions of names at the end merge into an object.
        assert_eq!(select("$.items[-1].id", &input), Some(json!(2)));
        assert_eq!(select("$.items[0]['id','tag']", &input), Some(json!({"id": 1})));
    }

    #[test]
    fn given_jayway_slices_when_selected_then_negative_bounds_behave_as_in_jayway() {
        let input = json!({"a": [0, 1, 2, 3, 4]});
        for (path, expected) in [
            ("$.a[1:3]", json!([1, 2])),
            ("$.a[:2]", json!([0, 1])),
            ("$.a[-1:]", json!([4])),
            ("$.a[:-1]", json!([0, 1, 2, 3])),
            ("$.a[-3:-1]", json!([2, 3])),
            ("$.a[-2:2]", json!([3, 4, 0, 1])),
            ("$.a[3:1]", json!([])),
            ("$.a[2:100]", json!([2, 3, 4])),
            // Jayway walks -100..1 and reads each negative index from the end: -5..-1, then 0.
            ("$.a[-100:1]", json!([0, 1, 2, 3, 4, 0])),
        ] {
            assert_eq!(select(path, &input), Some(expected), "{path}");
        }
    }

    #[test]
    fn given_filters_when_selected_then_literals_and_operators_compare_as_jayway_does() {
        let input = json!({"a": [
            {"n": 10, "s": "10", "b": true, "z": null},
            {"n": 2.5, "s": "b", "b": false},
            "scalar", 5, [1]
        ]});
        let ids = |path: &str| select(path, &input).unwrap().as_array().unwrap().len();
        assert_eq!(ids("$.a[?(@.n == 10)]"), 1);
        assert_eq!(ids("$.a[?(@.n == 10.0)]"), 1);
        assert_eq!(ids("$.a[?(@.n == '10')]"), 1, "a number equals a string holding it");
        assert_eq!(ids("$.a[?(@.s == 10)]"), 1);
        assert_eq!(ids("$.a[?(@.s > 'a')]"), 1, "strings compare as strings: \"b\" > \"a\" > \"10\"");
        assert_eq!(ids("$.a[?(@.s > 1)]"), 0, "a string is not ordered against a number");
        assert_eq!(ids("$.a[?(@.b == true)]"), 1);
        assert_eq!(ids("$.a[?(@.b != true)]"), 1);
        assert_eq!(ids("$.a[?(@.z == null)]"), 1);
        assert_eq!(ids("$.a[?(@.z)]"), 1, "a null field exists");
        assert_eq!(ids("$.a[?(@.z != 1)]"), 2, "a missing field is unequal to everything");
        assert_eq!(ids("$.a[?(@.n > 1 && !(@.n >= 10))]"), 1);
        assert_eq!(ids("$.a[?(@)]"), 2, "@ matches objects only");
        assert_eq!(ids("$.a[?(@ == 5)]"), 0, "@ does not match scalars");
        assert_eq!(select("$.a[0][?(@.n)]", &input), Some(json!([input["a"][0]])), "a filter on an object");
    }

    #[test]
    fn given_escapes_in_bracketed_names_when_parsed_then_they_follow_jayway() {
        let name = |path: &str| match parse_tokens(path).unwrap().1.as_slice() {
            [Token::Name(n)] => n.clone(),
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(name(r"$['it\'s']"), "it's");
        assert_eq!(name(r#"$["say \"hi\""]"#), "say \"hi\"");
        assert_eq!(name(r"$['back\\slash']"), "back\\slash");
        assert_eq!(name(r"$['tab\there']"), "tab\there");
        assert_eq!(name(r"$['line\nbreak']"), "line\nbreak");
        assert_eq!(name(r"$['\u0041BC']"), "ABC");
        assert_eq!(name(r"$['a\.b']"), "a.b");
        assert_eq!(name(r"$['a]b']"), "a]b");
        assert_eq!(
            parse_tokens("$.abc.['def ghi']").unwrap().1,
            [Token::Name("abc".into()), Token::Name("def ghi".into())],
            "the Step Functions \"Paths\" page's own example"
        );
        assert!(parse_tokens(r"$['\u00G1']").is_err());
        assert!(parse_tokens(r"$['open\']").is_err());
    }

    #[test]
    fn given_what_step_functions_does_not_support_when_parsed_then_refused_as_unsupported() {
        for (path, words) in [
            ("$.a.length()", "functions"),
            ("$.Jobs.sum()", "functions"),
            ("$.a[?(@.s =~ /x.*/)]", "regular expressions"),
            ("$.a[?(@.s in ['a'])]", "lexical operator"),
            ("$.a[?(@.s subsetof ['a'])]", "lexical operator"),
            ("$.a[?(@.n > $.min)]", "another value"),
            ("$.a[?(@.n === 1)]", "type-safe"),
            ("$.a[?(@.tags == ['a'])]", "JSON arrays"),
            ("$.a[?(@.b[*])]", "wildcards"),
            ("$.a[(@.length-1)]", "script"),
            ("$.a[1:5:2]", "slice steps"),
        ] {
            let refusal = JsonPath::parse(path).unwrap_err();
            assert!(refusal.unsupported, "{path}: {}", refusal.message);
            assert!(refusal.message.contains(words), "{path}: {}", refusal.message);
        }
        for invalid in ["$..", "$...a", "$.a[?@.x]", "$.a[?(@.x]", "$.a[:]", "$.a[x]", "$.a[?(1)]", "$[*", "$['a',]"] {
            let refusal = JsonPath::parse(invalid).unwrap_err();
            assert!(!refusal.unsupported, "{invalid}: {}", refusal.message);
        }
    }

    #[test]
    fn given_paths_when_classified_then_only_single_steps_are_definite() {
        for (path, definite) in [
            ("$", true),
            ("$.a[0].b", true),
            ("$.a[-1]", true),
            ("$.a['x','y']", true),
            ("$.a['x','y'].z", false),
            ("$.a[*]", false),
            ("$.*", false),
            ("$.a[0,1]", false),
            ("$.a[1:]", false),
            ("$..a", false),
            ("$.a[?(@.x)]", false),
        ] {
            assert_eq!(JsonPath::parse(path).unwrap().is_definite(), definite, "{path}");
        }
    }

    #[test]
    fn given_context_paths_when_checked_then_the_leading_names_must_be_provided() {
        assert!(JsonPath::parse("$$.Execution.Input.items[*].id").unwrap().check_context(false).is_ok());
        assert!(JsonPath::parse("$$.DayOfWeek[*]").unwrap().check_context(false).is_err());
        let context = json!({"context": {"Execution": {"Input": {"items": [{"id": 1}, {"id": 2}]}}}});
        let path = JsonPath::parse("$$.Execution.Input.items[*].id").unwrap();
        assert_eq!(path.select(&json!({}), &context), Some(json!([1, 2])));
    }
}
