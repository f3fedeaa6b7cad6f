//! PostgreSQL's array text (`{1,"a b",NULL,{2,3}}`) read into its elements: the server reads
//! array parameters and COPY fields with it, and the pgwire conformance runner reads results.

/// One element of an array's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// An unquoted `NULL`.
    Null,
    /// A value's text, unquoted and unescaped (a quoted `"NULL"` is this, not [`Element::Null`]).
    Value(String),
    /// A nested array (one more dimension).
    Array(Vec<Element>),
}

/// The elements of an array's text, or `None` when the text is not an array.
pub fn parse(text: &str) -> Option<Vec<Element>> {
    let mut reader = Reader {
        chars: text.trim().chars().collect(),
        at: 0,
    };
    let elements = reader.array()?;
    reader.skip_whitespace();
    (reader.at == reader.chars.len()).then_some(elements)
}

struct Reader {
    chars: Vec<char>,
    at: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// `{` elements separated by `,` `}`.
    fn array(&mut self) -> Option<Vec<Element>> {
        self.skip_whitespace();
        if self.peek()? != '{' {
            return None;
        }
        self.at += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek()? == '}' {
            self.at += 1;
            return Some(elements);
        }
        loop {
            elements.push(self.element()?);
            self.skip_whitespace();
            match self.peek()? {
                ',' => self.at += 1,
                '}' => {
                    self.at += 1;
                    return Some(elements);
                }
                _ => return None,
            }
        }
    }

    fn element(&mut self) -> Option<Element> {
        self.skip_whitespace();
        match self.peek()? {
            '{' => self.array().map(Element::Array),
            '"' => {
                self.at += 1;
                let mut value = String::new();
                loop {
                    match self.peek()? {
                        '\\' => {
                            value.push(*self.chars.get(self.at + 1)?);
                            self.at += 2;
                        }
                        '"' => {
                            self.at += 1;
                            return Some(Element::Value(value));
                        }
                        c => {
                            value.push(c);
                            self.at += 1;
                        }
                    }
                }
            }
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | '{' | '"') && !c.is_whitespace())
                {
                    self.at += 1;
                }
                let token: String = self.chars[start..self.at].iter().collect();
                if token.is_empty() {
                    None
                } else if token.eq_ignore_ascii_case("null") {
                    Some(Element::Null)
                } else {
                    Some(Element::Value(token))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Element {
        Element::Value(text.to_string())
    }

    #[test]
    fn elements_are_unquoted_and_nested_arrays_kept() {
        assert_eq!(
            parse(r#"{1,"a b",NULL,"NULL","q\"'",{2,3}}"#).unwrap(),
            [
                value("1"),
                value("a b"),
                Element::Null,
                value("NULL"),
                value("q\"'"),
                Element::Array(vec![value("2"), value("3")]),
            ]
        );
        assert_eq!(parse(" { } ").unwrap(), []);
        assert_eq!(
            parse("{ {1}, {2} }").unwrap(),
            [
                Element::Array(vec![value("1")]),
                Element::Array(vec![value("2")])
            ]
        );
    }

    #[test]
    fn malformed_text_is_not_an_array() {
        for bad in ["{1,", "1,2", "{1}}", "{,1}", "{1,}", "{1 2}", "{\"a}", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
