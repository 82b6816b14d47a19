//! The generator of the differential test: owns turning a seed into state machine definitions and
//! their inputs, each a [`Case`] tagged with the features it uses (so a known difference can name
//! the construct it is about).
//!
//! Deterministic: the same seed gives the same cases on every machine and every Rust version (its
//! random numbers come from [`SplitMix64`], written out here, not from a crate whose algorithm may
//! change). A case's name is its index, so a failure names a case that `DIFFERENTIAL_CASE` reruns.
//!
//! A definition is a chain of states, each picked by one of the arms in [`Generator::body_state`],
//! ending in a terminal state. Choice states branch to marker Pass states that record which rule
//! matched (`$.branch`) and rejoin the chain, so the output shows the branch taken. Inputs share one
//! shape ([`Generator::input`]: fields named after their usual type, sometimes missing or of another
//! type), and paths, rules and intrinsic arguments are drawn against that shape.
//!
//! Parallel, Map, `Assign` and every intrinsic function have arms; a definition the engine refuses
//! at load is counted by reason, not compared. A new feature is a new arm.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// One generated definition with the input to run it on.
#[derive(Debug, Clone)]
pub struct Case {
    /// `case-0042`: the execution's name on both engines, and what `DIFFERENTIAL_CASE` selects.
    pub name: String,
    /// The state machine's name on both engines (so the ARNs are the same and need no normalising).
    pub machine_name: String,
    pub definition: Value,
    pub input: Value,
    /// The constructs it uses, e.g. `choice.NumericLessThanPath`, `intrinsic.States.MathAdd`,
    /// `resultpath.null`.
    pub features: BTreeSet<String>,
}

/// `count` cases from `seed`.
pub fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = SplitMix64(seed);
    (0..count)
        .map(|index| {
            // Each case gets a seed of its own, so a change to one arm does not reshuffle the others'
            // cases more than it must.
            let mut generator = Generator::new(SplitMix64(rng.next_u64()));
            generator.case(index)
        })
        .collect()
}

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast and fixed forever.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Strings the inputs and literals draw from: equal ones meet often enough for equality and
/// ordering rules to go both ways; some are non-ASCII (ordering beyond ASCII), some look like
/// other types or hold the characters intrinsic literals and patterns escape.
const STRINGS: &[&str] = &[
    "",
    "a",
    "abc",
    "Abc",
    "b",
    "hello world",
    "hello",
    "é",
    "😀",
    "ｚ",
    "x*y",
    "back\\slash",
    "{}",
    "it's",
    "1",
    "true",
    "null",
    "a b c",
];

/// Numbers: integers, negatives, fractions, an integral float (`2.0`), and one past 2^53.
const NUMBERS: &[&str] =
    &["0", "1", "-1", "2", "42", "1.5", "-0.25", "2.0", "1000", "3.14159", "100", "9007199254740993"];

/// Timestamps, all before 2021 so that none is mistaken for an execution's own dates (which are
/// normalised), some with offsets or fractions, some malformed.
const TIMESTAMPS: &[&str] = &[
    "2016-03-14T01:59:00Z",
    "2016-03-14T01:59:00.123Z",
    "2016-03-14T02:59:00+01:00",
    "2020-12-31T23:59:59Z",
    "2001-01-01T00:00:00Z",
    "2016-03-14t01:59:00z",
    "2016-03-14",
];

/// `StringMatches` patterns: wildcards, escapes, the empty pattern.
const PATTERNS: &[&str] = &["*", "a*", "*c", "a*c", "h*o w*", "x\\*y", "back\\\\slash", "", "*é*", "hello*world", "**"];

/// Paths into the shared input shape that usually select something.
const DATA_PATHS: &[&str] = &[
    "$",
    "$.str",
    "$.num",
    "$.int",
    "$.flag",
    "$.nothing",
    "$.when",
    "$.list",
    "$.list[0]",
    "$.obj",
    "$.obj.inner",
    "$.obj['key with space']",
    "$.text_json",
];

/// Paths that select nothing: drawn one time in twelve, as runtime failures end the execution.
const MISSING_PATHS: &[&str] = &["$.missing", "$.obj.missing", "$.list[5]"];

/// Context object paths: those whose values both engines should agree on once dates are normalised.
const CONTEXT_PATHS: &[&str] = &[
    "$$.Execution.Id",
    "$$.Execution.Name",
    "$$.Execution.Input",
    "$$.Execution.Input.str",
    "$$.Execution.StartTime",
    "$$.State.Name",
    "$$.State.EnteredTime",
    "$$.StateMachine.Id",
    "$$.StateMachine.Name",
];

/// `ResultPath` values; writing into a scalar (`$.str.result`) fails with
/// States.ResultPathMatchFailure, so it is drawn less often.
const RESULT_PATHS: &[Option<&str>] = &[
    Some("$"),
    Some("$.result"),
    Some("$.obj.result"),
    Some("$.fresh.deeper"),
    None,
    Some("$.result"),
    Some("$.obj.result"),
    Some("$.fresh.deeper"),
    None,
    Some("$.str.result"),
];

/// Draws a field's value of its usual type.
type UsualValue = fn(&mut Generator) -> Value;

struct Generator {
    rng: SplitMix64,
    states: Map<String, Value>,
    features: BTreeSet<String>,
    /// Whether a state before this one assigns the variable `saved`.
    assigned: bool,
}

impl Generator {
    fn new(rng: SplitMix64) -> Self {
        Generator { rng, states: Map::new(), features: BTreeSet::new(), assigned: false }
    }

    fn case(&mut self, index: usize) -> Case {
        let body_states = 1 + self.rng.below(4);
        let names: Vec<String> = (0..body_states).map(|i| format!("S{i}")).collect();
        for (position, name) in names.iter().enumerate() {
            let next = names.get(position + 1).cloned().unwrap_or_else(|| "End".to_owned());
            let state = self.body_state(name, &next);
            self.states.insert(name.clone(), state);
        }
        let terminal = self.terminal_state();
        self.states.insert("End".to_owned(), terminal);
        let definition = json!({
            "Comment": format!("differential case {index}"),
            "StartAt": "S0",
            "States": Value::Object(std::mem::take(&mut self.states)),
        });
        Case {
            name: format!("case-{index:04}"),
            machine_name: format!("differential-{index:04}"),
            definition,
            input: self.input(),
            features: std::mem::take(&mut self.features),
        }
    }

    fn feature(&mut self, feature: impl Into<String>) {
        self.features.insert(feature.into());
    }

    /// A state in the middle of the chain, going on to `next`. The arms, by weight out of 100.
    fn body_state(&mut self, name: &str, next: &str) -> Value {
        let roll = self.rng.below(100);
        let mut state = match roll {
            0..25 => self.pass_with_result(),
            25..55 => self.pass_with_parameters(),
            55..80 => return self.choice(name, next),
            80..88 => self.wait(),
            88..92 => self.parallel(name),
            92..96 => self.map(name),
            _ => self.assign(),
        };
        self.maybe_input_and_output_paths(&mut state);
        state["Next"] = json!(next);
        state
    }

    fn pass_with_result(&mut self) -> Value {
        self.feature("pass.result");
        let mut state = json!({"Type": "Pass", "Result": self.value(2)});
        self.maybe_result_path(&mut state);
        state
    }

    fn pass_with_parameters(&mut self) -> Value {
        self.feature("pass.parameters");
        let parameters = self.parameters(0);
        let mut state = json!({"Type": "Pass", "Parameters": parameters});
        self.maybe_result_path(&mut state);
        state
    }

    /// A payload template: literals, `.$` paths (data and context), intrinsic functions, nesting.
    fn parameters(&mut self, depth: usize) -> Value {
        let mut template = Map::new();
        for key_index in 0..1 + self.rng.below(4) {
            let key = format!("k{key_index}");
            match self.rng.below(100) {
                0..20 => {
                    self.feature("parameters.literal");
                    template.insert(key, self.value(1));
                }
                20..45 => {
                    self.feature("parameters.path");
                    template.insert(format!("{key}.$"), json!(self.data_path()));
                }
                45..60 => {
                    let path = self.context_path();
                    self.feature(format!("parameters.context {path}"));
                    template.insert(format!("{key}.$"), json!(path));
                }
                60..90 => {
                    let call = self.intrinsic(0);
                    template.insert(format!("{key}.$"), json!(call));
                }
                _ if depth == 0 => {
                    self.feature("parameters.nested");
                    let nested = if self.rng.percent(50) {
                        self.parameters(depth + 1)
                    } else {
                        Value::Array(vec![self.parameters(depth + 1), self.value(0)])
                    };
                    template.insert(key, nested);
                }
                _ => {
                    template.insert(key, self.value(0));
                }
            }
        }
        Value::Object(template)
    }

    /// An intrinsic function call, as the text of a `.$` field.
    fn intrinsic(&mut self, depth: usize) -> String {
        let roll = self.rng.below(100);
        let (name, args): (&str, Vec<String>) = match roll {
            0..20 => {
                let (template, holes) = *self.rng.pick(&[
                    ("'{}'", 1),
                    ("'Hello, {}!'", 1),
                    ("'{} and {}'", 2),
                    ("'no placeholders'", 0),
                    (r"'escaped \'quote\' \{\} and {}'", 1),
                    (r"'back\\slash {}'", 1),
                ]);
                if template.contains('\\') {
                    self.feature("intrinsic.escaped literal");
                }
                let mut args = vec![template.to_owned()];
                args.extend((0..holes).map(|_| self.argument(depth)));
                ("States.Format", args)
            }
            20..30 => {
                // A string: a path to one, or a literal (braces escaped, as intrinsic literals need).
                let argument = match self.rng.below(3) {
                    0 => "$.text_json".to_owned(),
                    1 => (*self.rng.pick(&[r#"'\{"a": 1\}'"#, "'[1, 2]'", "'\"s\"'", "'not json'", "'12'"])).to_owned(),
                    _ => self.path_argument(),
                };
                ("States.StringToJson", vec![argument])
            }
            30..40 => ("States.JsonToString", vec![self.path_argument()]),
            40..52 => {
                let count = self.rng.below(4);
                ("States.Array", (0..count).map(|_| self.argument(depth)).collect())
            }
            52..64 => {
                let mut operand = || match self.rng.below(4) {
                    0 => "$.int".to_owned(),
                    1 => "$.num".to_owned(),
                    2 if depth < 1 => "States.ArrayLength($.list)".to_owned(),
                    _ => (*self.rng.pick(&["1", "-1", "0", "41", "2147483647"])).to_owned(),
                };
                ("States.MathAdd", vec![operand(), operand()])
            }
            64..74 => {
                let array =
                    if depth < 1 && self.rng.percent(30) { self.intrinsic_array(depth) } else { self.path_argument() };
                ("States.ArrayLength", vec![array])
            }
            74..86 => {
                let array =
                    if depth < 1 && self.rng.percent(30) { self.intrinsic_array(depth) } else { self.path_argument() };
                let index = (*self.rng.pick(&["0", "1", "3", "$.int", "$.num"])).to_owned();
                ("States.ArrayGetItem", vec![array, index])
            }
            86..90 => ("States.UUID", vec![]),
            // The other intrinsic functions.
            _ => {
                let (name, args) = *self.rng.pick(&[
                    ("States.Hash", &["$.str", "'SHA-256'"][..]),
                    ("States.Base64Encode", &["$.str"][..]),
                    ("States.Base64Decode", &["'aGVsbG8='"][..]),
                    ("States.StringSplit", &["$.str", "' '"][..]),
                    ("States.ArrayContains", &["$.list", "$.int"][..]),
                    ("States.ArrayRange", &["1", "9", "2"][..]),
                    ("States.ArrayPartition", &["$.list", "2"][..]),
                    ("States.ArrayUnique", &["$.list"][..]),
                    ("States.MathRandom", &["1", "10"][..]),
                ]);
                (name, args.iter().map(|arg| (*arg).to_owned()).collect())
            }
        };
        self.feature(format!("intrinsic.{name}"));
        format!("{name}({})", args.join(", "))
    }

    fn intrinsic_array(&mut self, depth: usize) -> String {
        self.feature("intrinsic.States.Array");
        let count = self.rng.below(4);
        let args: Vec<String> = (0..count).map(|_| self.argument(depth + 1)).collect();
        format!("States.Array({})", args.join(", "))
    }

    /// An intrinsic argument: a literal, a path, or (not too deep) a nested call.
    fn argument(&mut self, depth: usize) -> String {
        match self.rng.below(10) {
            0..3 => {
                let literal = *self.rng.pick(&["'text'", "'a b'", r"'it\'s'", "''", "42", "-1.5", "true", "null"]);
                match literal {
                    r"'it\'s'" => self.feature("intrinsic.escaped literal"),
                    "-1.5" => self.feature("intrinsic.negative fraction literal"),
                    "null" => self.feature("intrinsic.null literal"),
                    _ => {}
                }
                literal.to_owned()
            }
            3..8 => self.path_argument(),
            _ if depth < 1 => self.intrinsic(depth + 1),
            _ => "'leaf'".to_owned(),
        }
    }

    fn path_argument(&mut self) -> String {
        if self.rng.percent(15) {
            let path = self.context_path();
            self.feature(format!("intrinsic.context {path}"));
            path
        } else {
            self.data_path()
        }
    }

    /// A context object path; the execution's dates get a feature of their own, as their format is
    /// compared (their values are normalised).
    fn context_path(&mut self) -> String {
        let path = *self.rng.pick(CONTEXT_PATHS);
        if path.ends_with("Time") {
            self.feature("context.date");
        }
        path.to_owned()
    }

    fn data_path(&mut self) -> String {
        let path = if self.rng.percent(8) {
            self.feature("path.missing");
            *self.rng.pick(MISSING_PATHS)
        } else {
            *self.rng.pick(DATA_PATHS)
        };
        if path.contains('[') {
            self.feature("path.index or bracket");
        }
        path.to_owned()
    }

    fn maybe_result_path(&mut self, state: &mut Value) {
        if self.rng.percent(85) {
            let path = *self.rng.pick(RESULT_PATHS);
            self.feature(match path {
                Some(_) => "resultpath",
                None => "resultpath.null",
            });
            state["ResultPath"] = json!(path);
        }
    }

    fn maybe_input_and_output_paths(&mut self, state: &mut Value) {
        if self.rng.percent(12) {
            self.feature("inputpath");
            state["InputPath"] = self.io_path();
        }
        if self.rng.percent(12) {
            self.feature("outputpath");
            state["OutputPath"] = self.io_path();
        }
    }

    /// An `InputPath`/`OutputPath`: mostly a path, sometimes `null` (the state sees or passes `{}`).
    fn io_path(&mut self) -> Value {
        if self.rng.percent(15) {
            self.feature("inputoutputpath.null");
            Value::Null
        } else {
            json!(self.data_path())
        }
    }

    /// A Choice state; each rule goes to a marker state recording the branch, then on to `next`.
    fn choice(&mut self, name: &str, next: &str) -> Value {
        self.feature("choice");
        let rule_count = 1 + self.rng.below(3);
        let mut choices = Vec::new();
        for rule_index in 0..rule_count {
            let mut rule = self.rule(0);
            let marker = format!("{name}_rule{rule_index}");
            rule["Next"] = json!(marker);
            self.states.insert(marker, branch_marker(&format!("{name} rule {rule_index}"), next));
            choices.push(rule);
        }
        let mut state = json!({"Type": "Choice", "Choices": choices});
        if self.rng.percent(75) {
            let marker = format!("{name}_default");
            self.states.insert(marker.clone(), branch_marker(&format!("{name} default"), next));
            state["Default"] = json!(marker);
        } else {
            self.feature("choice.no default");
        }
        self.maybe_input_and_output_paths(&mut state);
        state
    }

    /// A Choice rule: a comparison, or And/Or/Not of rules (two levels at most).
    fn rule(&mut self, depth: usize) -> Value {
        if depth < 2 && self.rng.percent(25) {
            return match self.rng.below(3) {
                0 | 1 => {
                    let combinator = if self.rng.percent(50) { "And" } else { "Or" };
                    self.feature(format!("choice.{combinator}"));
                    let rules: Vec<Value> = (0..2 + self.rng.below(2)).map(|_| self.rule(depth + 1)).collect();
                    json!({ combinator: rules })
                }
                _ => {
                    self.feature("choice.Not");
                    json!({"Not": self.rule(depth + 1)})
                }
            };
        }
        let family = self.rng.below(6);
        // The field a family usually tests; now and then any path, so types mismatch and fields go
        // missing.
        let usual = ["$.str", "$.str", "$.num", "$.flag", "$.when", "$"][family];
        let variable = if self.rng.percent(15) { self.data_path() } else { usual.to_owned() };
        let comparisons = ["Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"];
        let by_path = self.rng.percent(25);
        let (operator, operand) = match family {
            0 => {
                let comparison = *self.rng.pick(&comparisons);
                if by_path {
                    (format!("String{comparison}Path"), json!(*self.rng.pick(&["$.str", "$.obj.inner", "$.missing"])))
                } else {
                    (format!("String{comparison}"), json!(*self.rng.pick(STRINGS)))
                }
            }
            1 => ("StringMatches".to_owned(), json!(*self.rng.pick(PATTERNS))),
            2 => {
                let comparison = *self.rng.pick(&comparisons);
                if by_path {
                    (
                        format!("Numeric{comparison}Path"),
                        json!(*self.rng.pick(&["$.int", "$.num", "$.str", "$.missing"])),
                    )
                } else {
                    (format!("Numeric{comparison}"), number(self.rng.pick::<&str>(NUMBERS)))
                }
            }
            3 => {
                if by_path {
                    ("BooleanEqualsPath".to_owned(), json!(*self.rng.pick(&["$.flag", "$.obj.inner", "$.missing"])))
                } else {
                    ("BooleanEquals".to_owned(), json!(self.rng.percent(50)))
                }
            }
            4 => {
                let comparison = *self.rng.pick(&comparisons);
                if by_path {
                    (format!("Timestamp{comparison}Path"), json!(*self.rng.pick(&["$.when", "$.str", "$.missing"])))
                } else {
                    // Only well-formed literals: a malformed one is refused at load by both.
                    (format!("Timestamp{comparison}"), json!(*self.rng.pick(&TIMESTAMPS[..5])))
                }
            }
            _ => {
                let test =
                    *self.rng.pick(&["IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"]);
                let variable = self.data_path();
                self.feature(format!("choice.{test}"));
                return json!({"Variable": variable, test: self.rng.percent(70)});
            }
        };
        self.feature(format!("choice.{operator}"));
        json!({"Variable": variable, operator: operand})
    }

    /// A Wait that is over at once: zero seconds or a timestamp in the past (as literals or paths).
    fn wait(&mut self) -> Value {
        let (feature, wait) = match self.rng.below(4) {
            0 => ("wait.Seconds", json!({"Type": "Wait", "Seconds": 0})),
            1 => ("wait.Timestamp", json!({"Type": "Wait", "Timestamp": *self.rng.pick(&TIMESTAMPS[..5])})),
            2 => ("wait.SecondsPath", json!({"Type": "Wait", "SecondsPath": "$.zero"})),
            _ => ("wait.TimestampPath", json!({"Type": "Wait", "TimestampPath": "$.when"})),
        };
        self.feature(feature);
        wait
    }

    /// A Parallel state of two one-state branches. State names are unique across the whole state
    /// machine, branches included (the States Language), so the branches' states are named after the
    /// Parallel state.
    fn parallel(&mut self, name: &str) -> Value {
        self.feature("parallel");
        let branch = |state: String, result: Value| json!({"StartAt": state, "States": {state: {"Type": "Pass", "Result": result, "End": true}}});
        let branches = vec![branch(format!("{name}_B0"), self.value(1)), branch(format!("{name}_B1"), self.value(1))];
        json!({"Type": "Parallel", "Branches": branches, "ResultPath": "$.parallel"})
    }

    /// An inline Map over `$.list`; its item state is named after the Map state (names are unique
    /// across the whole state machine).
    fn map(&mut self, name: &str) -> Value {
        self.feature("map");
        let item = format!("{name}_Item");
        json!({
            "Type": "Map",
            "ItemsPath": "$.list",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": item,
                "States": {item: {"Type": "Pass", "Parameters": {"item.$": "$"}, "End": true}},
            },
            "ResultPath": "$.mapped",
        })
    }

    /// Workflow variables: `$.str` assigned to `saved`. A state's fields see the variables as they
    /// were when it was entered, so only a state after the first assigning one reads `$saved` back
    /// (into `$.restored`); reading it in the first would fail on both sides every time.
    fn assign(&mut self) -> Value {
        self.feature("assign");
        if std::mem::replace(&mut self.assigned, true) {
            self.feature("assign.read");
            json!({"Type": "Pass", "Assign": {"saved.$": "$.str"}, "Parameters": {"restored.$": "$saved"}, "ResultPath": "$.restored"})
        } else {
            json!({"Type": "Pass", "Assign": {"saved.$": "$.str"}})
        }
    }

    /// The chain's last state.
    fn terminal_state(&mut self) -> Value {
        let mut state = match self.rng.below(100) {
            0..45 => {
                self.feature("succeed");
                json!({"Type": "Succeed"})
            }
            45..70 => {
                self.feature("pass.end");
                let mut state = self.pass_with_result();
                state["End"] = json!(true);
                state
            }
            _ => return self.fail(),
        };
        self.maybe_input_and_output_paths(&mut state);
        state
    }

    fn fail(&mut self) -> Value {
        let (feature, state) = match self.rng.below(5) {
            0 => ("fail.literal", json!({"Type": "Fail", "Error": "Custom.Error", "Cause": "a literal cause"})),
            1 => ("fail.empty", json!({"Type": "Fail"})),
            2 => ("fail.path", json!({"Type": "Fail", "ErrorPath": self.data_path(), "CausePath": self.data_path()})),
            3 => (
                "fail.intrinsic cause",
                json!({"Type": "Fail", "Error": "Formatted", "CausePath": "States.Format('cause: {}', $.str)"}),
            ),
            _ => ("fail.error only", json!({"Type": "Fail", "Error": "OnlyAnError"})),
        };
        self.feature(feature);
        state
    }

    /// The input: every field named after its usual type; a field is missing one time in twenty
    /// and of another type one time in seven.
    fn input(&mut self) -> Value {
        let mut input = Map::new();
        let fields: [(&str, UsualValue); 10] = [
            ("str", |g| json!(*g.rng.pick(STRINGS))),
            ("num", |g| number(g.rng.pick::<&str>(NUMBERS))),
            ("int", |g| json!(g.rng.below(5))),
            ("flag", |g| json!(g.rng.percent(50))),
            ("nothing", |_| Value::Null),
            ("when", |g| json!(*g.rng.pick(TIMESTAMPS))),
            ("list", |g| Value::Array((0..g.rng.below(5)).map(|_| g.value(0)).collect())),
            ("obj", |g| json!({"inner": g.value(0), "key with space": g.value(0)})),
            ("text_json", |g| json!(g.value(1).to_string())),
            ("zero", |g| if g.rng.percent(90) { json!(0) } else { json!(*g.rng.pick(&["0", "-1", "soon"])) }),
        ];
        for (name, usual) in fields {
            if self.rng.percent(5) {
                continue;
            }
            let value = if self.rng.percent(15) { self.value(1) } else { usual(self) };
            input.insert(name.to_owned(), value);
        }
        Value::Object(input)
    }

    /// A random JSON value, nested at most `depth` levels.
    fn value(&mut self, depth: usize) -> Value {
        let kinds = if depth == 0 { 4 } else { 6 };
        match self.rng.below(kinds) {
            0 => json!(*self.rng.pick(STRINGS)),
            1 => number(self.rng.pick::<&str>(NUMBERS)),
            2 => json!(self.rng.percent(50)),
            3 => Value::Null,
            4 => Value::Array((0..self.rng.below(3)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let fields = (0..self.rng.below(3)).map(|i| (format!("f{i}"), self.value(depth - 1))).collect();
                Value::Object(fields)
            }
        }
    }
}

/// The Pass state a Choice rule leads to: records which branch ran, then goes on.
fn branch_marker(branch: &str, next: &str) -> Value {
    json!({"Type": "Pass", "Result": branch, "ResultPath": "$.branch", "Next": next})
}

/// A JSON number exactly as written (`2.0` stays a float, as it would in a definition's text).
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{text} is not a JSON number: {error}"))
}
