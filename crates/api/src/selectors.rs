//! Label and field selectors as clients send them (`?labelSelector=app=web,tier in (a,b)`,
//! `?fieldSelector=spec.nodeName=n1`), and `metav1.LabelSelector` as objects carry them,
//! with upstream's parsing, validation and matching rules.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use crate::names;

/// A label requirement operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement: `key op values` (values kept sorted and unique).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// upstream `labels.NewRequirement`, with its checks of key, values and arity.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        let mut values = values;
        values.sort();
        values.dedup();
        let mut errs = Vec::new();
        let key_errs = names::is_qualified_name(key);
        if !key_errs.is_empty() {
            errs.push(format!(
                "key: Invalid value: {:?}: {}",
                key,
                key_errs.join("; ")
            ));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
                    .into(),
            ),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                errs.push(
                    "values: Invalid value: exact-match compatibility requires one single value"
                        .into(),
                )
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(
                "values: Invalid value: values set must be empty for exists and does not exist"
                    .into(),
            ),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push("values: Invalid value: for 'Gt', 'Lt' operators, exactly one value is required".into());
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let m = names::is_valid_label_value(v);
            if !m.is_empty() {
                errs.push(format!(
                    "values[{i}][{key}]: Invalid value: {v:?}: {}",
                    m.join("; ")
                ));
            }
        }
        if !errs.is_empty() {
            return Err(if errs.len() == 1 {
                errs.remove(0)
            } else {
                format!("[{}]", errs.join(", "))
            });
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether a label set satisfies the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let got = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                got.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotIn | Operator::NotEquals => got.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(Ok(have)), Some(Ok(want))) = (
                    got.map(|v| v.parse::<i64>()),
                    self.values.first().map(|v| v.parse::<i64>()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: every requirement must hold. `nothing()` matches no object (a nil
/// `metav1.LabelSelector`); an empty selector matches every object.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    Comma,
    OpenPar,
    ClosePar,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
    End,
}

impl Token {
    fn literal(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Comma => ",".into(),
            Token::OpenPar => "(".into(),
            Token::ClosePar => ")".into(),
            Token::Bang => "!".into(),
            Token::Eq => "=".into(),
            Token::DoubleEq => "==".into(),
            Token::NotEq => "!=".into(),
            Token::Gt => ">".into(),
            Token::Lt => "<".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::End => String::new(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_special(c) {
            let next = chars.get(i + 1).copied();
            let (tok, len) = match (c, next) {
                ('=', Some('=')) => (Token::DoubleEq, 2),
                ('!', Some('=')) => (Token::NotEq, 2),
                ('=', _) => (Token::Eq, 1),
                ('!', _) => (Token::Bang, 1),
                ('(', _) => (Token::OpenPar, 1),
                (')', _) => (Token::ClosePar, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::Gt, 1),
                _ => (Token::Lt, 1),
            };
            out.push(tok);
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !is_special(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        out.push(match word.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Ident(word),
        });
    }
    out.push(Token::End);
    out
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    /// In value context the keywords `in`/`notin` are plain identifiers.
    fn as_value(t: Token) -> Token {
        match t {
            Token::In | Token::NotIn => Token::Ident(t.literal()),
            t => t,
        }
    }
    fn peek_value(&self) -> Token {
        Self::as_value(self.tokens[self.pos].clone())
    }
    fn next_value(&mut self) -> Token {
        let t = self.peek_value();
        self.advance();
        t
    }
    fn next_operator(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        self.advance();
        t
    }
    fn advance(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            match self.peek_value() {
                Token::Ident(_) | Token::Bang => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    match self.next_value() {
                        Token::End => return Ok(reqs),
                        Token::Comma => {
                            let t = self.peek_value();
                            if !matches!(t, Token::Ident(_) | Token::Bang) {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                ));
                            }
                        }
                        t => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            ))
                        }
                    }
                }
                Token::End => return Ok(reqs),
                t => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    ))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut not_exists = false;
        let mut tok = self.next_value();
        if tok == Token::Bang {
            not_exists = true;
            tok = self.next_value();
        }
        let Token::Ident(key) = tok else {
            return Err(format!("found '{}', expected: identifier", tok.literal()));
        };
        let key_errs = names::is_qualified_name(&key);
        if !key_errs.is_empty() {
            return Err(format!(
                "key: Invalid value: {:?}: {}",
                key,
                key_errs.join("; ")
            ));
        }
        if matches!(self.peek_value(), Token::End | Token::Comma) {
            let op = if not_exists {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return Requirement::new(&key, op, vec![]);
        }
        if not_exists {
            // `!key` takes no operator.
            let t = self.next_operator();
            return Err(format!(
                "found '{}', expected: ',' or 'end of string'",
                t.literal()
            ));
        }
        let op = match self.next_operator() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Eq => Operator::Equals,
            Token::DoubleEq => Operator::DoubleEquals,
            Token::NotEq => Operator::NotEquals,
            Token::Gt => Operator::GreaterThan,
            Token::Lt => Operator::LessThan,
            t => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.literal()
                ));
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.set_values()?,
            _ => self.exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn set_values(&mut self) -> Result<Vec<String>, String> {
        let t = self.next_value();
        if t != Token::OpenPar {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        match self.peek_value() {
            Token::ClosePar => {
                self.advance();
                Ok(vec![String::new()])
            }
            Token::Ident(_) | Token::Comma => {
                let vals = self.identifier_list()?;
                let t = self.next_value();
                if t != Token::ClosePar {
                    return Err(format!("found '{}', expected: ')'", t.literal()));
                }
                Ok(vals)
            }
            t => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.literal()
            )),
        }
    }

    fn identifier_list(&mut self) -> Result<Vec<String>, String> {
        let mut vals: Vec<String> = Vec::new();
        loop {
            match self.next_value() {
                Token::Ident(v) => {
                    vals.push(v);
                    match self.peek_value() {
                        Token::Comma => continue,
                        Token::ClosePar => return Ok(vals),
                        t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                    }
                }
                Token::Comma => {
                    if vals.is_empty() {
                        vals.push(String::new());
                    }
                    match self.peek_value() {
                        Token::ClosePar => {
                            vals.push(String::new());
                            return Ok(vals);
                        }
                        Token::Comma => {
                            self.advance();
                            vals.push(String::new());
                        }
                        _ => {}
                    }
                }
                t => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        t.literal()
                    ))
                }
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        match self.peek_value() {
            Token::End | Token::Comma => Ok(vec![String::new()]),
            _ => match self.next_value() {
                Token::Ident(v) => Ok(vec![v]),
                t => Err(format!("found '{}', expected: identifier", t.literal())),
            },
        }
    }
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// The selector that matches no object.
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: vec![],
            nothing: true,
        }
    }

    /// Parse the string form (`a=b,a==b,a!=b,a in (x,y),a notin (x),a,!a,a>1,a<1`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            tokens: lex(s),
            pos: 0,
        };
        let mut requirements = p.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// upstream `metav1.LabelSelectorAsSelector`: empty matches everything.
    pub fn from_metav1(sel: &metav1::LabelSelector) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement::new(k, Operator::Equals, vec![v.clone()])?);
        }
        for expr in sel.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            requirements.push(Requirement::new(
                &expr.key,
                op,
                expr.values.clone().unwrap_or_default(),
            )?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// As [`from_metav1`](Self::from_metav1), with a missing selector matching nothing.
    pub fn from_metav1_opt(sel: Option<&metav1::LabelSelector>) -> Result<Self, String> {
        sel.map_or(Ok(LabelSelector::nothing()), LabelSelector::from_metav1)
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// As [`matches`](Self::matches) for an optional label map.
    pub fn matches_opt(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match labels {
            Some(l) => self.matches(l),
            None => self.matches(&BTreeMap::new()),
        }
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// A field selector operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    DoubleEquals,
    NotEquals,
}

/// One `field op value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A field selector (`metadata.name=x,spec.nodeName!=y`); which fields a kind supports is
/// the server's decision, see [`FieldSelector::fields`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return vec![];
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    ))
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {c}"
                ))
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

impl FieldSelector {
    /// Parse the string form; `=`, `==` and `!=`, values may escape `\`, `,` and `=`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let split = (0..part.len())
                .filter(|i| part.is_char_boundary(*i))
                .find_map(|i| {
                    let rest = &part[i..];
                    [
                        ("!=", FieldOperator::NotEquals),
                        ("==", FieldOperator::DoubleEquals),
                        ("=", FieldOperator::Equals),
                    ]
                    .into_iter()
                    .find(|(op, _)| rest.starts_with(op))
                    .map(|(op, kind)| (&part[..i], kind, &rest[op.len()..]))
                });
            let Some((lhs, operator, rhs)) = split else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            requirements.push(FieldRequirement {
                field: lhs.to_string(),
                operator,
                value: unescape_value(rhs)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether an object passes; `get` returns a field's value (missing reads as `""`).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let have = get(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals | FieldOperator::DoubleEquals => have == r.value,
                FieldOperator::NotEquals => have != r.value,
            }
        })
    }

    /// The field names the selector uses, in order, without repeats.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.requirements {
            if !out.contains(&r.field.as_str()) {
                out.push(&r.field);
            }
        }
        out
    }

    /// The value a field must equal, when the selector pins it (`spec.nodeName=n1`).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator() {
        let s = LabelSelector::parse("a=b,c==d,e!=f,g in (x,y),h notin (z),i,!j,k>1,l<5").unwrap();
        assert_eq!(s.requirements().len(), 9);
        assert_eq!(
            s.to_string(),
            "a=b,c==d,e!=f,g in (x,y),h notin (z),i,!j,k>1,l<5"
        );
        let ops: Vec<Operator> = s.requirements().iter().map(|r| r.operator).collect();
        assert_eq!(
            ops,
            vec![
                Operator::Equals,
                Operator::DoubleEquals,
                Operator::NotEquals,
                Operator::In,
                Operator::NotIn,
                Operator::Exists,
                Operator::DoesNotExist,
                Operator::GreaterThan,
                Operator::LessThan
            ]
        );
    }

    #[test]
    fn requirements_sort_by_key_and_values_sort() {
        let s = LabelSelector::parse("z=1, a in (c, b)").unwrap();
        assert_eq!(s.to_string(), "a in (b,c),z=1");
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = LabelSelector::parse("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("a", "b")])));
        assert!(!LabelSelector::nothing().matches(&labels(&[])));
    }

    #[test]
    fn matching_follows_upstream() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "7")]);
        let yes = [
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "tier in (front,back)",
            "tier notin (db)",
            "missing notin (x)",
            "app",
            "!missing",
            "n>5",
            "n<10",
            "app=web,tier=front",
        ];
        for s in yes {
            assert!(
                LabelSelector::parse(s).unwrap().matches(&l),
                "{s} should match"
            );
        }
        let no = [
            "app=db",
            "missing=x",
            "app!=web",
            "tier in (db)",
            "tier notin (front)",
            "missing",
            "!app",
            "n>7",
            "app<5",
            "missing in (x)",
            "app=web,tier=back",
        ];
        for s in no {
            assert!(
                !LabelSelector::parse(s).unwrap().matches(&l),
                "{s} should not match"
            );
        }
    }

    #[test]
    fn empty_values_are_allowed() {
        let s = LabelSelector::parse("a=").unwrap();
        assert!(s.matches(&labels(&[("a", "")])));
        assert!(!s.matches(&labels(&[])));
        let s = LabelSelector::parse("a in ()").unwrap();
        assert_eq!(s.requirements()[0].values, vec![""]);
        let s = LabelSelector::parse("a in (,x)").unwrap();
        assert_eq!(s.requirements()[0].values, vec!["", "x"]);
    }

    #[test]
    fn keywords_are_values_in_value_position() {
        let s = LabelSelector::parse("a=in,b in (notin)").unwrap();
        assert!(s.matches(&labels(&[("a", "in"), ("b", "notin")])));
    }

    #[test]
    fn rejects_bad_syntax_and_bad_names() {
        for bad in [
            "a=b,",
            ",a",
            "a in x",
            "a in (x",
            "a=(",
            "!a=b",
            "a b",
            "=a",
            "a in (x y)",
            "Bad Key=1",
            "a=-bad",
            "a>x",
            "a/b/c=1",
            "a!b",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?} should fail");
        }
        let e = LabelSelector::parse("a=b,").unwrap_err();
        assert_eq!(e, "found '', expected: identifier after ','");
        assert!(LabelSelector::parse("a in x")
            .unwrap_err()
            .starts_with("unable to parse requirement: found 'x' expected: '('"));
    }

    #[test]
    fn converts_metav1_selectors() {
        let sel = metav1::LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["front".into(), "back".into()]),
            }]),
        };
        let s = LabelSelector::from_metav1(&sel).unwrap();
        assert_eq!(s.to_string(), "app=web,tier in (back,front)");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "back")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(
            LabelSelector::from_metav1(&metav1::LabelSelector::default())
                .unwrap()
                .is_empty()
        );
        assert!(!LabelSelector::from_metav1_opt(None)
            .unwrap()
            .matches(&labels(&[])));
        let bad = metav1::LabelSelector {
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "a".into(),
                operator: "Near".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(
            LabelSelector::from_metav1(&bad).unwrap_err(),
            "\"Near\" is not a valid label selector operator"
        );
        let empty_in = metav1::LabelSelector {
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "a".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(LabelSelector::from_metav1(&empty_in).is_err());
    }

    #[test]
    fn field_selectors_parse_and_match() {
        let s = FieldSelector::parse("metadata.name=x,spec.nodeName!=y").unwrap();
        assert_eq!(s.fields(), vec!["metadata.name", "spec.nodeName"]);
        let get = |f: &str| match f {
            "metadata.name" => Some("x".to_string()),
            "spec.nodeName" => Some("z".to_string()),
            _ => None,
        };
        assert!(s.matches(get));
        assert!(!FieldSelector::parse("metadata.name==other")
            .unwrap()
            .matches(get));
        assert!(FieldSelector::parse("status.phase!=Running")
            .unwrap()
            .matches(get));
        assert!(FieldSelector::parse("spec.nodeName=")
            .unwrap()
            .matches(|_| None));
        assert_eq!(
            FieldSelector::parse("spec.nodeName=n1")
                .unwrap()
                .required_value("spec.nodeName"),
            Some("n1")
        );
        assert_eq!(
            FieldSelector::parse("spec.nodeName!=n1")
                .unwrap()
                .required_value("spec.nodeName"),
            None
        );
        assert!(FieldSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn field_selector_escapes() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert_eq!(s.requirements()[0].value, r"a,b=c\d");
        assert!(FieldSelector::parse(r"a=b\x")
            .unwrap_err()
            .contains("invalid escape sequence"));
        assert!(FieldSelector::parse("a=b=c")
            .unwrap_err()
            .contains("unescaped character"));
        assert!(FieldSelector::parse(r"a=b\").is_err());
        assert_eq!(
            FieldSelector::parse("nooperator").unwrap_err(),
            "invalid selector: 'nooperator'; can't understand 'nooperator'"
        );
    }
}
