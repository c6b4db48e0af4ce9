//! The field selector clients send (`spec.nodeName=n1,metadata.name!=x`).

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
